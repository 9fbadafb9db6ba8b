"""provision.yml on a fresh lab droplet: what an attacker, an operator and an auditor would each check."""

from __future__ import annotations

import re
import time

import pytest
from lab_droplets import CONTAINER, DROPLET, on_droplet, refresh_address, sh, wait_for_boot
from labtools import recap, run_playbook

pytestmark = pytest.mark.usefixtures("provisioned")

APP_IMAGE = "registry.berth.test/berth/public-app:1.0.0"


def edge_ports() -> set[int]:
    """80/443 where Traefik publishes them (once deploy.yml has started it); any other port it
    publishes stays out of the expected set, so a leak fails the scan."""
    published = on_droplet("docker ps --filter label=com.docker.compose.project=traefik --format '{{.Ports}}'").stdout
    return {int(port) for port in re.findall(r"0\.0\.0\.0:(\d+)->", published)} & {80, 443}


def test_fresh_provision_changes_the_host_and_the_rerun_changes_nothing(provisioned):
    first, second = recap(provisioned.first.stdout), recap(provisioned.second.stdout)
    assert first[DROPLET]["changed"] > 10 and first[DROPLET]["failed"] == 0
    assert second[DROPLET]["changed"] == 0, provisioned.second.stdout[-3000:]
    print(f"\nprovision fresh droplet: {provisioned.first_seconds:.1f} s; rerun: {provisioned.second_seconds:.1f} s")


def test_only_ssh_is_reachable_and_a_published_database_port_is_not(provisioned, observers):
    # A container that publishes a "database" port on all interfaces, as `-p 5432:...` does.
    on_droplet("docker rm -f exposed-db >/dev/null 2>&1; "
               f"docker run -d --name exposed-db --restart unless-stopped -p 5432:8000 {APP_IMAGE}")
    on_droplet("for i in $(seq 50); do curl -fsS http://127.0.0.1:5432/health && exit 0; sleep 0.2; done; exit 1")
    assert observers["scanner"].open_ports(provisioned.address) == {22} | edge_ports()
    assert observers["scanner"].open_ports(provisioned.address, "5432") == set()


def test_ssh_from_outside_the_allow_list_is_refused(provisioned, observers):
    inside = observers["inside"].ssh("deploy", provisioned.address)
    assert inside.returncode == 0 and inside.stdout.strip() == "deploy", inside.stderr
    outside = observers["outside"].ssh("deploy", provisioned.address)
    assert outside.returncode == 255 and "timed out" in outside.stderr, outside.stderr
    assert observers["outside"].open_ports(provisioned.address, "22") == set()


def test_root_and_passwords_are_refused_and_the_deploy_key_works(provisioned, observers):
    inside = observers["inside"]
    root = inside.ssh("root", provisioned.address)
    assert root.returncode == 255 and "Permission denied" in root.stderr
    # Give the deploy account a real password for a moment: the server must still not take it.
    on_droplet("echo 'deploy:Correct-Horse-9' | chpasswd")
    try:
        password = inside.run("sshpass", "-p", "Correct-Horse-9", "ssh", "-o", "StrictHostKeyChecking=no",
                              "-o", "UserKnownHostsFile=/dev/null", "-o", "PubkeyAuthentication=no",
                              "-o", "PreferredAuthentications=password,keyboard-interactive",
                              f"deploy@{provisioned.address}", "true", timeout=60)
    finally:
        on_droplet("usermod -p '!' deploy")
    assert password.returncode != 0
    assert "Permission denied (publickey)" in password.stderr, password.stderr
    whoami = inside.ssh("deploy", provisioned.address, "sudo -n id -un")
    assert whoami.stdout.strip() == "root", whoami.stderr


def test_deploy_users_sudo_is_what_the_variables_say(provisioned, observers):
    # The lab inventory opts in to full sudo (Ansible's become needs it): the drop-in says exactly that.
    rules = on_droplet("sudo -l -U deploy").stdout
    granted = [line.strip() for line in rules.splitlines() if line.startswith("    (")]
    assert granted == ["(root) NOPASSWD: ALL"], rules
    assert on_droplet("stat -c '%a %U' /etc/sudoers.d/berth-deploy-user").stdout.split() == ["440", "root"]


def test_secrets_are_root_only_and_never_printed(provisioned, lab_credentials):
    deployed = run_playbook("playbooks/deploy.yml", "-vvv", "-e", f"@{provisioned.vars_file}", check=True)
    for output in (provisioned.first.stdout + provisioned.first.stderr, provisioned.second.stdout,
                   deployed.stdout + deployed.stderr):
        assert provisioned.canary not in output
        assert lab_credentials["pull_password"] not in output
    assert "ESTABLISH SSH CONNECTION" in provisioned.first.stdout  # it really ran at -vvv
    env_file = on_droplet("ls -t /opt/sample/releases/*/env/web.env | head -1").stdout.strip()
    for path in (env_file, "/root/.docker/config.json"):
        assert on_droplet(f"stat -c '%a %U %G' {path}").stdout.split() == ["600", "root", "root"], path
    assert on_droplet(f"stat -c '%a' {env_file.rsplit('/', 1)[0]}").stdout.strip() == "700"
    assert provisioned.canary in on_droplet(f"cat {env_file}").stdout
    holders = on_droplet(f"grep -rlsF '{provisioned.canary}' / --exclude-dir=proc --exclude-dir=sys "
                         "--exclude-dir=dev", check=False).stdout.split()
    assert holders, "the canary should be somewhere on the droplet"
    # Containers get the env file as their environment, so the engine's own state holds it too
    # (containerd's meta.db is 0644 inside a 0700 directory): what matters is who can read it.
    for path in holders:
        readable = on_droplet(f"runuser -u nobody -- test -r '{path}'", check=False).returncode == 0
        assert not readable, f"{path} holds the canary and an unprivileged user can read it"


@pytest.mark.parametrize(("extra", "named"), [
    ('{"firewall_ssh_allow": ["10.0.0.300/8"]}', "firewall_ssh_allow"),
    ('{"docker_source": "snap"}', "docker_source"),
    ('{"deploy_user_authorized_keys": []}', "deploy_user_authorized_keys"),
])
def test_a_malformed_variable_fails_validation_before_any_change(provisioned, extra, named):
    before = on_droplet("md5sum /etc/ssh/sshd_config /etc/ufw/user.rules /etc/passwd; ufw status").stdout
    result = run_playbook("playbooks/provision.yml", "-e", extra)
    assert result.returncode != 0
    assert named in result.stdout, result.stdout[-2000:]
    assert recap(result.stdout)[DROPLET]["changed"] == 0
    assert on_droplet("md5sum /etc/ssh/sshd_config /etc/ufw/user.rules /etc/passwd; ufw status").stdout == before


def test_compose_is_new_enough_and_forwarding_stays_on(provisioned):
    version = on_droplet("docker compose version --short").stdout.strip()
    assert tuple(int(p) for p in re.findall(r"\d+", version)[:2]) >= (2, 18), version
    assert on_droplet("sysctl -n net.ipv4.ip_forward").stdout.strip() == "1"


def test_containers_and_the_firewall_come_back_after_the_droplet_restarts(provisioned, observers):
    on_droplet("docker inspect exposed-db >/dev/null 2>&1 || "
               f"docker run -d --name exposed-db --restart unless-stopped -p 5432:8000 {APP_IMAGE}")
    sh("docker", "restart", CONTAINER)
    wait_for_boot(CONTAINER)
    address = refresh_address()
    on_droplet("for i in $(seq 100); do curl -fsS http://127.0.0.1:5432/health && exit 0; sleep 0.3; done; exit 1")
    assert on_droplet("systemctl is-enabled docker ufw").stdout.split() == ["enabled", "enabled"]
    assert observers["scanner"].open_ports(address, "5432") == set()
    # sshd may come up a little after the rest of a busy droplet: a few tries, within ufw's SSH rate limit.
    for _attempt in range(5):
        if observers["inside"].ssh("deploy", address).stdout.strip() == "deploy":
            break
        time.sleep(6)
    else:
        pytest.fail("SSH as deploy does not work after the droplet restarted")
    on_droplet("docker rm -f exposed-db")

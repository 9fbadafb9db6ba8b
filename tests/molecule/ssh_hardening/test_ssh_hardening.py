"""What a user checks after berth.ops.ssh_hardening: keys only, no root, the deploy user still gets in."""

import subprocess
from pathlib import Path

import pytest

LAB_KEY = Path(__file__).resolve().parents[3] / ".lab" / "ssh" / "id_ed25519"


def ssh(host, user: str, *options: str) -> subprocess.CompletedProcess:
    address = host.backend.get_variables()["ansible_host"]
    return subprocess.run(["ssh", "-i", str(LAB_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", *options,
                           f"{user}@{address}", "id -un"], capture_output=True, text=True, timeout=30, check=False)


def test_root_is_refused_even_with_the_right_key(host):
    result = ssh(host, "root")
    assert result.returncode == 255 and "Permission denied (publickey)" in result.stderr


def test_the_server_offers_publickey_only(host):
    result = ssh(host, "deploy", "-o", "PubkeyAuthentication=no")
    assert result.returncode == 255 and "Permission denied (publickey)." in result.stderr, result.stderr


def test_the_deploy_user_logs_in_with_its_key(host):
    result = ssh(host, "deploy")
    assert result.returncode == 0 and result.stdout.strip() == "deploy", result.stderr


@pytest.mark.parametrize(("option", "value"), [
    ("permitrootlogin", "no"), ("passwordauthentication", "no"), ("kbdinteractiveauthentication", "no"),
    ("allowgroups", "berth-ssh"), ("maxauthtries", "3"), ("allowtcpforwarding", "no"),
    ("allowagentforwarding", "no"), ("x11forwarding", "no"),
])
def test_the_running_sshd_has_the_hardened_setting(host, option, value):
    effective = dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)
    assert effective[option] == value


def test_only_modern_algorithms_are_offered(host):
    effective = dict(line.split(" ", 1) for line in host.check_output("sshd -T").splitlines() if " " in line)
    assert effective["kexalgorithms"].startswith("mlkem768x25519-sha256,")  # OpenSSH >= 9.9 on trixie
    assert "cbc" not in effective["ciphers"] and "sha1" not in effective["macs"]


def test_sshd_is_a_plain_enabled_service_not_socket_activated(host):
    assert host.service("ssh").is_running and host.service("ssh").is_enabled
    assert host.run("systemctl is-enabled ssh.socket").stdout.strip() == "disabled"
    assert host.run("systemctl is-active ssh.socket").stdout.strip() == "inactive"

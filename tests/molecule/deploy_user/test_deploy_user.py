"""What a user checks after berth.ops.deploy_user: the account logs in with its key and sudo is exactly scoped."""

import subprocess
from pathlib import Path

LAB_KEY = Path(__file__).resolve().parents[3] / ".lab" / "ssh" / "id_ed25519"


def test_authorized_keys_are_exactly_the_configured_ones(host):
    keys = host.file("/home/deploy/.ssh/authorized_keys").content_string.splitlines()
    assert keys == [LAB_KEY.with_suffix(".pub").read_text().strip()]


def test_password_is_locked_and_account_is_in_the_ssh_group(host):
    assert host.check_output("passwd -S deploy").split()[1] == "L"
    assert "berth-ssh" in host.user("deploy").groups


def test_deploy_logs_in_over_ssh_with_its_key(host):
    address = host.backend.get_variables()["ansible_host"]
    login = subprocess.run(["ssh", "-i", str(LAB_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                            "-o", "UserKnownHostsFile=/dev/null", f"deploy@{address}", "id -un"],
                           capture_output=True, text=True, timeout=30, check=False)
    assert login.returncode == 0 and login.stdout.strip() == "deploy", login.stderr


def test_sudo_allows_the_listed_commands_and_nothing_else(host):
    listed = host.check_output("sudo -l -U deploy")
    assert "(root) NOPASSWD: /usr/bin/systemctl restart ssh, /usr/bin/id" in listed, listed
    assert host.run("runuser -u deploy -- sudo -n /usr/bin/id -un").stdout.strip() == "root"
    for command in ("/usr/bin/cat /etc/shadow", "/bin/sh -c id", "/usr/bin/systemctl stop ssh"):
        refused = host.run(f"runuser -u deploy -- sudo -n {command}")
        assert refused.rc != 0 and "password is required" in refused.stderr, (command, refused.stderr)


def test_sudoers_drop_in_is_root_owned_and_valid(host):
    drop_in = host.file("/etc/sudoers.d/berth-deploy-user")
    assert (drop_in.user, drop_in.mode) == ("root", 0o440)
    assert host.run("visudo -cf /etc/sudoers.d/berth-deploy-user").rc == 0

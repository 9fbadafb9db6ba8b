"""What a user checks after berth.ops.ssh_hardening: keys only, no root, the deploy user still gets in,
and port 22 is served by the sshd that ssh.service runs now, not one socket activation left behind."""

import os
import re
import subprocess
from pathlib import Path

import pytest

LAB_KEY = Path(__file__).resolve().parents[3] / ".lab" / "ssh" / "id_ed25519"
HARDENED = [
    ("permitrootlogin", "no"), ("passwordauthentication", "no"), ("kbdinteractiveauthentication", "no"),
    ("authenticationmethods", "publickey"), ("allowgroups", "berth-ssh"), ("maxauthtries", "3"),
    ("allowtcpforwarding", "no"), ("allowagentforwarding", "no"), ("x11forwarding", "no"),
]


def ssh(host, user: str, *options: str, command: str = "id -un") -> subprocess.CompletedProcess:
    address = host.backend.get_variables()["ansible_host"]
    return subprocess.run(["ssh", "-i", str(LAB_KEY), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
                           "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
                           *options, f"{user}@{address}", command],
                          capture_output=True, text=True, timeout=30, check=False)


def effective(host, config: str = "/etc/ssh/sshd_config") -> dict[str, str]:
    return dict(line.split(" ", 1) for line in host.check_output(f"sshd -T -f {config}").splitlines() if " " in line)


def listening_pids(host, port: int = 22) -> set[int]:
    return {int(pid) for pid in re.findall(r"pid=(\d+)", host.check_output(f"ss -Hltnp 'sport = :{port}'"))}


def test_root_is_refused_even_with_the_right_key(host):
    result = ssh(host, "root")
    assert result.returncode == 255 and "Permission denied (publickey)" in result.stderr


def test_the_server_offers_publickey_only(host):
    result = ssh(host, "deploy", "-o", "PubkeyAuthentication=no")
    assert result.returncode == 255 and "Permission denied (publickey)." in result.stderr, result.stderr


def test_the_deploy_user_logs_in_with_its_key(host):
    result = ssh(host, "deploy")
    assert result.returncode == 0 and result.stdout.strip() == "deploy", result.stderr


def test_port_22_is_served_by_the_sshd_ssh_service_started_with_the_hardened_config(host):
    main = int(host.check_output("systemctl show -P MainPID ssh.service"))
    assert main > 0
    assert listening_pids(host) == {main}, host.check_output("ss -Hltnp 'sport = :22'")
    assert host.file(f"/proc/{main}/cgroup").content_string.rstrip().endswith("/ssh.service")
    # The listener rewrites its title but keeps its arguments: its config is -f FILE or the default.
    title = host.file(f"/proc/{main}/cmdline").content_string.replace("\0", " ")
    config = (re.search(r"-f\s+(\S+)", title) or [None, "/etc/ssh/sshd_config"])[1]
    settings = effective(host, config)
    for option, value in HARDENED:
        assert settings[option] == value, option
    # ...and it read that config: it started after the file and every drop-in last changed.
    started = float(host.check_output("systemctl show -P ExecMainStartTimestamp --timestamp=unix ssh.service")
                    .lstrip("@"))
    changed = max(float(m) for m in host.check_output(
        f"stat -c %Y {config} /etc/ssh/sshd_config.d/*.conf").split())
    assert started >= changed


@pytest.mark.parametrize(("option", "value"), HARDENED)
def test_the_running_sshd_has_the_hardened_setting(host, option, value):
    assert effective(host)[option] == value


def test_only_modern_algorithms_are_offered(host):
    settings = effective(host)
    assert settings["kexalgorithms"].startswith("mlkem768x25519-sha256,")  # OpenSSH >= 9.9 on trixie
    assert "cbc" not in settings["ciphers"] and "sha1" not in settings["macs"]


def test_sshd_is_a_plain_enabled_service_not_socket_activated(host):
    assert host.service("ssh").is_running and host.service("ssh").is_enabled
    assert host.run("systemctl is-enabled ssh.socket").stdout.strip() == "disabled"
    assert host.run("systemctl is-active ssh.socket").stdout.strip() == "inactive"
    assert "ssh.socket" not in host.check_output("systemctl show -P Requires ssh.service")
    assert not host.file("/etc/systemd/system/ssh.service.d/00-socket.conf").exists


def test_a_session_opened_before_the_change_still_works(host):
    ephemeral = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    control, before = ephemeral / "pre-change.sock", (ephemeral / "pre-change.txt").read_text().split("\n")
    try:
        # Through the master opened in prepare, over its TCP connection: no new connection is made.
        result = ssh(host, "deploy", "-S", str(control), "-o", "ControlMaster=no",
                     command='echo "$SSH_CONNECTION"; echo "$PPID"')
        assert result.returncode == 0, result.stderr
        assert result.stdout.split("\n")[:2] == before[:2]  # same client port, same sshd-session
        session, listener = int(before[1]), int(host.check_output("systemctl show -P MainPID ssh.service"))
        ticks = [int(host.file(f"/proc/{pid}/stat").content_string.rsplit(")", 1)[1].split()[19])
                 for pid in (session, listener)]
        assert ticks[0] < ticks[1], "the session should predate the sshd that listens now"
    finally:
        subprocess.run(["ssh", "-S", str(control), "-O", "exit", "x"], capture_output=True, check=False, timeout=30)

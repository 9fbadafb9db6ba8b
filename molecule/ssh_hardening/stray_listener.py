"""Leave the droplet in the state issue #8 found, on purpose: an sshd that serves ssh.socket's
listening socket from inside ssh.service's cgroup without being the unit's main process. Stopping
or restarting ssh.service leaves it running (KillMode=process) with the old config on port 22.

It takes systemd's copy of the socket (pidfd_getfd), joins ssh.service's cgroup and becomes
`sshd -D` with that socket passed the way systemd passes it (LISTEN_FDS)."""

import ctypes
import os
import re
import subprocess
import sys

PIDFD_GETFD = 438  # x86_64 syscall number


def main() -> None:
    held = subprocess.run(["ss", "-Hltnp", "sport = :22"], capture_output=True, text=True, check=True).stdout
    fd = int(re.search(r'"systemd",pid=1,fd=(\d+)', held).group(1))
    libc = ctypes.CDLL(None, use_errno=True)
    sock = libc.syscall(PIDFD_GETFD, os.pidfd_open(1), fd, 0)
    if sock < 0:
        sys.exit(f"pidfd_getfd: {os.strerror(ctypes.get_errno())}")
    group = subprocess.run(["systemctl", "show", "-P", "ControlGroup", "ssh.service"], capture_output=True,
                           text=True, check=True).stdout.strip()
    if not group:
        sys.exit("ssh.service runs no process: start it through the socket first")
    if os.fork():
        return
    os.setsid()
    for hierarchy in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        try:
            with open(f"{hierarchy}{group}/cgroup.procs", "w", encoding="ascii") as procs:
                procs.write(str(os.getpid()))
        except OSError:
            pass  # not this host's layout (cgroup v1 hybrid in the lab, v2 elsewhere)
    os.dup2(sock, 3)
    os.environ.update(LISTEN_FDS="1", LISTEN_PID=str(os.getpid()))
    null = os.open("/dev/null", os.O_RDWR)
    for stream in (0, 1, 2):
        os.dup2(null, stream)
    os.execv("/usr/sbin/sshd", ["/usr/sbin/sshd", "-D"])  # noqa: S606 - becoming sshd is the point


if __name__ == "__main__":
    main()

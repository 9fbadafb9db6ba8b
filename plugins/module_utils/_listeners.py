# Copyright: berth developers
# Apache License 2.0
"""Which processes hold a listening TCP socket on a port, read from /proc (no ss, no psutil).

The kernel lists sockets in /proc/net/tcp{,6} by inode; a process holds one when a link in
/proc/PID/fd reads ``socket:[INODE]``. Pure functions take the text so tests feed captured files.
"""

from __future__ import annotations

import os
import re

LISTEN = "0A"  # TCP_LISTEN in include/net/tcp_states.h, as /proc/net/tcp prints it


def listening_inodes(table: str, ports: set[int]) -> dict[int, int]:
    """Inode -> port of every LISTEN socket on one of ``ports`` in a /proc/net/tcp(6) table."""
    found: dict[int, int] = {}
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10 or fields[3] != LISTEN:
            continue
        port = int(fields[1].rsplit(":", 1)[1], 16)
        inode = int(fields[9])
        if port in ports and inode:
            found[inode] = port
    return found


def socket_inode(link: str) -> int | None:
    match = re.fullmatch(r"socket:\[(\d+)\]", link)
    return int(match.group(1)) if match else None


def stat_fields(stat: str) -> tuple[str, int]:
    """(comm, ppid) from /proc/PID/stat; comm may hold spaces and parentheses."""
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    ppid = int(stat[stat.rindex(")") + 2:].split()[1])
    return comm, ppid


def in_unit(cgroup: str, unit: str) -> bool:
    """Whether a /proc/PID/cgroup text puts the process in ``unit``'s cgroup (v1 name=systemd or v2)."""
    for line in cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in ("", "name=systemd") and path.rstrip("/").endswith("/" + unit):
            return True
    return False


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def listeners(ports: set[int], proc: str = "/proc") -> list[dict]:
    """Every process holding a LISTEN socket on one of ``ports``: pid, ppid, comm, exe, cgroup, port."""
    inodes: dict[int, int] = {}
    for table in ("tcp", "tcp6"):
        inodes.update(listening_inodes(_read(f"{proc}/net/{table}"), ports))
    found = []
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            links = [os.readlink(f"{proc}/{entry}/fd/{fd}") for fd in os.listdir(f"{proc}/{entry}/fd")]
        except OSError:  # gone, or not ours to read
            continue
        held = sorted({inodes[i] for i in map(socket_inode, links) if i in inodes})
        if not held:
            continue
        stat = _read(f"{proc}/{entry}/stat")
        if not stat:
            continue
        comm, ppid = stat_fields(stat)
        try:
            exe = os.readlink(f"{proc}/{entry}/exe")
        except OSError:
            exe = ""
        found.append({"pid": int(entry), "ppid": ppid, "comm": comm, "exe": exe, "ports": held,
                      "cmdline": _read(f"{proc}/{entry}/cmdline").replace("\0", " ").strip(),
                      "cgroup": _read(f"{proc}/{entry}/cgroup")})
    return sorted(found, key=lambda item: item["pid"])


def classify(found: list[dict], main_pid: int, unit: str) -> tuple[list[dict], list[dict]]:
    """Split listeners other than systemd (pid 1, a socket unit) and the unit's main process into
    strays (an sshd left behind in ``unit``'s cgroup, safe to stop) and foreign ones (anything else)."""
    strays, foreign = [], []
    for item in found:
        if item["pid"] in (1, main_pid):
            continue
        sshd = os.path.basename(item["exe"].removesuffix(" (deleted)")) == "sshd" or item["comm"] == "sshd"
        (strays if sshd and in_unit(item["cgroup"], unit) else foreign).append(item)
    return strays, foreign

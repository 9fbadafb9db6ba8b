"""Which process serves sshd's port, read from /proc text captured on a trixie droplet."""

from __future__ import annotations

from ansible_collections.berth.ops.plugins.module_utils import _listeners

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0B00007F:A4D1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 66194
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 353161
   2: 040012AC:0016 010012AC:A2B4 01 00000000:00000000 02:000A7D0B 00000000     0        0 353999
"""
TCP6 = """\
  sl  local_address   remote_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:0016 00000000000000000000000000000000:0000\
 0A 00000000:00000000 00:00000000 00000000     0        0 353163
"""
V1 = ("9:name=systemd:/docker/df20/system.slice/ssh.service\n4:memory:/docker/df20/system.slice/ssh.service\n"
      "0::/docker/df20/system.slice/ssh.service\n")
V2 = "0::/system.slice/ssh.service\n"
SESSION = "0::/user.slice/user-1000.slice/session-3.scope\n"


def test_only_listening_sockets_on_the_port_count():
    assert _listeners.listening_inodes(TCP, {22}) == {353161: 22}  # the established one (st 01) is not
    assert _listeners.listening_inodes(TCP6, {22}) == {353163: 22}
    assert _listeners.listening_inodes(TCP, {2222}) == {}


def test_socket_links_and_stat_fields():
    assert _listeners.socket_inode("socket:[353161]") == 353161
    assert _listeners.socket_inode("/dev/null") is None
    assert _listeners.stat_fields("2188 (sshd) S 1 2188 2188 0 -1") == ("sshd", 1)
    assert _listeners.stat_fields("77 (odd) name)) S 5 77") == ("odd) name)", 5)


def test_the_unit_is_found_in_cgroup_v1_and_v2():
    assert _listeners.in_unit(V1, "ssh.service") and _listeners.in_unit(V2, "ssh.service")
    assert not _listeners.in_unit(SESSION, "ssh.service")
    assert not _listeners.in_unit("0::/system.slice/notssh.service\n", "ssh.service")


def listener(pid: int, exe: str = "/usr/sbin/sshd", cgroup: str = V1, comm: str = "sshd") -> dict:
    return {"pid": pid, "ppid": 1, "comm": comm, "exe": exe, "ports": [22], "cmdline": "", "cgroup": cgroup}


def test_the_socket_started_sshd_left_in_the_unit_is_a_stray_and_nothing_else_is():
    found = [listener(1, "/usr/lib/systemd/systemd", comm="systemd"), listener(1480), listener(2356),
             listener(3000, "/usr/sbin/sshd", SESSION), listener(4000, "/usr/bin/python3", V2, "python3")]
    strays, foreign = _listeners.classify(found, main_pid=2356, unit="ssh.service")
    assert [s["pid"] for s in strays] == [1480]
    assert [f["pid"] for f in foreign] == [3000, 4000]  # an sshd outside the unit is never touched


def test_with_the_unit_stopped_every_sshd_listener_in_it_is_a_stray():
    strays, foreign = _listeners.classify([listener(1480), listener(1481, "/usr/sbin/sshd (deleted)")], 0,
                                          "ssh.service")
    assert [s["pid"] for s in strays] == [1480, 1481] and foreign == []

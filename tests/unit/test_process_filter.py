"""A lock holder is alive only when its pid runs, is not a zombie, and started when recorded."""

import os
import subprocess

from ansible_collections.berth.ops.plugins.filter.process import process_alive, process_start


def test_this_process_is_alive_with_its_start_and_not_with_another():
    start = process_start(os.getpid())
    assert start and process_alive(os.getpid(), start)
    assert not process_alive(os.getpid(), str(int(start) + 1)), "a reused pid has another start time"


def test_a_zombie_and_a_gone_process_are_not_alive():
    child = subprocess.Popen(["true"])
    start = process_start(child.pid)
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
    assert not process_alive(child.pid, start)
    child.wait()
    assert not process_alive(child.pid) and process_start(0) == "" and process_start("x") == ""

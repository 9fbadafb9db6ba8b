"""A lock holder is alive only when its pid runs, is not a zombie, and started when recorded."""

import os
import subprocess

from ansible_collections.berth.ops.plugins.filter.process import holder_gone, process_alive, process_start


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


def test_a_lock_holder_is_gone_only_when_it_ran_on_this_controller_and_its_process_is_not_the_one_recorded():
    me = f"ana@ctl-1.lab pid {os.getpid()} start {process_start(os.getpid())}"
    assert not holder_gone(me, "ctl-1.lab")
    child = subprocess.Popen(["sleep", "30"])
    start = process_start(child.pid)
    assert start, "the child runs while its start is read"
    child.kill()
    child.wait()
    dead = f"ana@ctl-1.lab pid {child.pid} start {start}"
    assert holder_gone(dead, "ctl-1.lab")
    assert holder_gone(f"ana@ctl-1.lab pid {os.getpid()} start {int(process_start(os.getpid())) + 1}", "ctl-1.lab"), \
        "a reused pid"
    assert not holder_gone(dead, "ctl-2.lab"), "another controller's holder waits for the TTL"
    assert not holder_gone(dead, "ctl-1"), "the controller's whole name"
    assert not holder_gone(dead.replace("ctl-1.lab", "ctl-1xlab"), "ctl-1.lab"), "its name is not a pattern"
    for other in ("", None, "unknown (unreadable lock file)", f"ana@ctl-1.lab pid {child.pid}"):
        assert not holder_gone(other, "ctl-1.lab")

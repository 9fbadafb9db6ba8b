"""A flip's waits end as soon as the load balancer can have acted (lb_member's look at the access log):
never later than the minimum wait's end, and at a quarter second after it, when only the last check is missing."""

from ansible_collections.berth.ops.plugins.module_utils import _lb

CONTRACT = {**_lb.DEFAULTS, "interval": 1, "timeout": 1, "unhealthy": 2, "healthy": 2}


def test_the_first_look_after_the_minimum_wait_is_at_its_end():
    # Drained: 2 x 1 + 1 = 3 s; in: 2 x 1 = 2 s. Written at 100.
    assert _lb.next_look(CONTRACT, "drained", 100.0, 101.0) == 0.5
    assert abs(_lb.next_look(CONTRACT, "drained", 100.0, 102.8) - 0.2) < 1e-9
    assert abs(_lb.next_look(CONTRACT, "in", 100.0, 101.9) - 0.1) < 1e-9


def test_after_the_minimum_wait_the_log_is_read_every_quarter_second():
    assert _lb.next_look(CONTRACT, "drained", 100.0, 103.0) == 0.25
    assert _lb.next_look(CONTRACT, "in", 100.0, 104.5) == 0.25

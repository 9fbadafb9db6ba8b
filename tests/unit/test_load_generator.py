"""How the e2e load generator counts version switches (a test of the test's yardstick)."""

from __future__ import annotations

from edge import Answer, LoadGenerator


def answered(*answers: tuple[float, float, str]) -> LoadGenerator:
    load = LoadGenerator("192.0.2.1")
    load.answers = [Answer(started, 200, version, ended=ended) for started, ended, version in answers]
    return load


def test_requests_in_flight_at_the_switch_are_not_a_flip_back():
    load = answered((0, 0.01, "1.0.0"), (1.00, 1.05, "1.1.0"), (1.01, 1.03, "1.0.0"), (1.02, 1.04, "1.1.0"),
                    (2, 2.01, "1.1.0"))
    assert load.versions() == ["1.0.0", "1.1.0"]


def test_the_old_version_after_the_new_one_arrived_is_a_flip_back():
    load = answered((0, 0.01, "1.0.0"), (1.00, 1.01, "1.1.0"), (1.5, 1.51, "1.0.0"), (2, 2.01, "1.1.0"))
    assert load.versions() == ["1.0.0", "1.1.0", "1.0.0", "1.1.0"]


def test_failures_count_errors_and_non_2xx():
    load = answered((0, 0.01, "1.0.0"))
    load.answers += [Answer(1, 502, None, ended=1.1), Answer(2, None, None, "ConnectionResetError", 2.1)]
    assert len(load.failures) == 2


def test_long_requests_started_before_the_switch_are_not_a_flip_back():
    load = answered((0, 0.01, "1.0.0"), (1.0, 1.01, "1.1.0"), (2, 2.01, "1.1.0"))
    load.answers.append(Answer(0.5, 200, "1.0.0", ended=3.0, path="/slow?ms=2500"))
    assert load.versions() == ["1.0.0", "1.1.0"]
    assert [a.path for a in load.slow_answers] == ["/slow?ms=2500"]


def test_a_long_request_that_fails_is_a_failure():
    load = answered((0, 0.01, "1.0.0"))
    load.answers.append(Answer(0.5, None, None, "RemoteDisconnected", 1.0, "/slow?ms=2500"))
    assert [a.path for a in load.failures] == ["/slow?ms=2500"]


def timed(window: tuple[float, float], *answers: tuple[float, float, str]) -> LoadGenerator:
    load = answered(*answers)
    load.window, load.began, load.ended, load.rate = window, 0.0, 1.0, 1
    return load


def test_a_freeze_at_the_switch_fails():
    """Traffic held for a second (every request sent in it 1.5 s late, baseline 0.1 s) fails; 0.9 s late passes."""
    before = [(0.0, 0.1, "1.0.0"), (0.2, 0.25, "1.0.0")]
    assert timed((1, 5), *before, *[(2.0 + i / 100, 3.0 + i / 100, "1.1.0") for i in range(100)]).problems() == []
    late = timed((1, 5), *before, *[(2.0 + i / 100, 3.6 + i / 100, "1.1.0") for i in range(100)]).problems()
    assert len(late) == 1 and late[0].startswith("100 requests sent during the run were slow"), late
    assert "took 1600 ms (limit 1100 ms)" in late[0], late


def test_a_lone_late_request_is_tolerated_up_to_the_ceiling():
    """One request in a thousand may be up to LATENCY_CEILING late (a SYN retried after 1 s); never more."""
    before = [(0.0, 0.1, "1.0.0")]
    steady = [(1.0 + i / 1000, 1.01 + i / 1000, "1.1.0") for i in range(999)]
    assert timed((1, 5), *before, *steady, (2.0, 3.6, "1.1.0")).problems() == []
    over = timed((1, 5), *before, *steady, (2.0, 4.2, "1.1.0")).problems()
    assert len(over) == 1 and "took 2200 ms (limit 1100 ms)" in over[0], over
    two = timed((1, 5), *before, *steady, (2.0, 3.6, "1.1.0"), (2.1, 3.7, "1.1.0")).problems()
    assert len(two) == 1 and two[0].startswith("2 requests"), two


def test_a_long_request_may_take_its_own_length_plus_the_baseline():
    load = timed((1, 5), (0.0, 0.1, "1.0.0"))
    load.answers.append(Answer(2.0, 200, "1.0.0", ended=5.5, path="/slow?ms=2500"))
    assert load.problems() == []
    load.answers.append(Answer(2.0, 200, "1.0.0", ended=6.0, path="/slow?ms=2500"))
    load.answers.append(Answer(2.1, 200, "1.0.0", ended=6.1, path="/slow?ms=2500"))
    assert "took 4000 ms (limit 3600 ms)" in load.problems()[0]


def test_a_dead_worker_a_low_rate_and_a_wrong_version_each_fail():
    load = timed((1, 5), (0.0, 0.1, "1.0.0"))
    load.crashed.append("Traceback: boom")
    load.rate = 100  # one answer a second is under 40 % of 100/s
    problems = load.problems(["1.1.0"])
    assert [p.split(" ")[0:3] for p in problems] == [["a", "load", "worker"], ["versions", "['1.0.0'],", "expected"],
                                                     ["the", "generator", "reached"]], problems


def test_a_worker_that_raises_is_recorded_not_lost():
    load = LoadGenerator("192.0.2.1", workers=1)
    load._guarded(lambda: 1 / 0)
    assert len(load.crashed) == 1 and "ZeroDivisionError" in load.crashed[0]

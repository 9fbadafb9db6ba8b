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

"""Announced maintenance answers (503 + Retry-After + X-Berth-Maintenance, restore.yml) count apart from
failures only when a test says it expects them."""

from __future__ import annotations

from edge import Answer, LoadGenerator


def load_with(maintenance_ok: bool) -> LoadGenerator:
    load = LoadGenerator("192.0.2.1", maintenance_ok=maintenance_ok)
    load.answers = [Answer(0, 200, "1.0.0", ended=0.1), Answer(1, 503, None, ended=1.1, maintenance=True),
                    Answer(2, 503, None, ended=2.1), Answer(3, 200, "1.0.0", ended=3.1)]
    return load


def test_maintenance_answers_are_failures_unless_expected():
    assert len(load_with(False).failures) == 2


def test_expected_maintenance_answers_count_apart_and_a_bare_503_still_fails():
    load = load_with(True)
    assert len(load.maintenance) == 1
    assert [a.started for a in load.failures] == [2]

"""What counts as a good answer, and how the gate counts, on a fake clock."""

import pytest
from ansible_collections.berth.ops.plugins.module_utils._gate import MISSING, Gate, Policy, json_lookup, judge
from ansible_collections.berth.ops.plugins.module_utils._http import Response, TransportError


@pytest.mark.parametrize(("path", "expected"), [
    ("status", "ok"), ("checks.db", "up"), ("items.1.id", 2), ("items.-1.id", 2), ("nope", MISSING),
    ("items.5", MISSING), ("status.x", MISSING),
])
def test_json_lookup(path, expected):
    doc = {"status": "ok", "checks": {"db": "up"}, "items": [{"id": 1}, {"id": 2}]}
    assert json_lookup(doc, path) == expected


@pytest.mark.parametrize(("response", "policy", "problem"), [
    (Response(200, {}, b"ok"), Policy(), None),
    (Response(204, {}, b""), Policy(expected_status=(200, 204)), None),
    (Response(500, {}, b""), Policy(), "status 500"),
    (Response(200, {}, b"starting"), Policy(body_regex="^ok$"), "body does not match"),
    (Response(200, {}, b'{"status":"ok","n":3}'), Policy(json_match={"status": "ok", "n": "3"}), None),
    (Response(200, {}, b'{"status":"degraded"}'), Policy(json_match={"status": "ok"}), "is 'degraded'"),
    (Response(200, {}, b"<html>"), Policy(json_match={"status": "ok"}), "not JSON"),
])
def test_judge(response, policy, problem):
    verdict = judge(response, policy)
    assert (verdict is None) if problem is None else (problem in verdict)


def run_gate(answers, **policy):
    clock = {"t": 0.0}
    script = list(answers)

    def probe(_timeout):
        clock["t"] += 0.01
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sleep(seconds):
        clock["t"] += seconds

    return Gate(Policy(**policy), probe, clock=lambda: clock["t"], sleep=sleep).run()


OK, BAD = Response(200, {}, b"ok"), Response(503, {}, b"")
REFUSED = TransportError("refused", "connection refused")


def test_streak_resets_on_a_bad_answer():
    result = run_gate([OK, OK, BAD, OK, OK, OK], successes=3)
    assert result["passed"] and result["attempts"] == 6 and result["bad_answers"] == 1


def test_separate_budgets():
    errors = run_gate([REFUSED], max_connection_errors=3, max_bad_answers=0)
    assert not errors["passed"] and errors["reason"].startswith("connection errors: 4")
    bad = run_gate([BAD], max_bad_answers=2, max_connection_errors=100)
    assert not bad["passed"] and bad["reason"].startswith("bad answers: 3") and bad["attempts"] == 3


def test_deadline_is_absolute():
    result = run_gate([REFUSED], max_connection_errors=1000, interval=1, deadline=10)
    assert not result["passed"] and result["reason"].startswith("deadline")
    assert 10 <= result["elapsed"] < 11 and result["attempts"] == 10


def test_before_the_first_good_answer_only_the_start_timeout_counts():
    # A slow starter: refused for 10 probes, then 503 for 20 (warming up), then healthy.
    answers = [REFUSED] * 10 + [BAD] * 20 + [OK]
    result = run_gate(answers, successes=3, max_bad_answers=3, max_connection_errors=3, interval=1,
                      start_timeout=120, deadline=200)
    assert result["passed"] and result["bad_answers"] == 0 and result["connection_errors"] == 0
    assert 29 < result["ready_after"] < 31


def test_a_service_never_ready_fails_at_its_start_timeout_naming_the_last_answer():
    result = run_gate([BAD], interval=1, start_timeout=15, deadline=100, max_bad_answers=0)
    assert not result["passed"] and result["reason"].startswith("not ready after 15 s (start_timeout)")
    assert "status 503" in result["reason"] and 15 <= result["elapsed"] < 16


def test_after_the_first_good_answer_the_budgets_apply():
    result = run_gate([BAD, BAD, OK, BAD, BAD, BAD], interval=1, start_timeout=60, max_bad_answers=2, deadline=100)
    assert not result["passed"] and result["reason"].startswith("bad answers: 3 (budget 2)")


def test_a_started_app_answering_the_wrong_body_spends_the_bad_answer_budget_before_its_start_timeout():
    # 200 with the wrong body: the app is up and says something else; waiting for start_timeout would
    # only delay the failure (measured: 160 s instead of a few).
    wrong = Response(200, {}, b"UP")
    result = run_gate([REFUSED, BAD, wrong], interval=1, start_timeout=120, deadline=200, max_bad_answers=2,
                      body_regex="READY")
    assert not result["passed"] and result["reason"].startswith("bad answers: 3 (budget 2)"), result["reason"]
    assert "body does not match /READY/" in result["reason"]
    assert result["attempts"] == 5 and result["elapsed"] < 6 and result["connection_errors"] == 0


def test_wrong_json_before_the_first_good_answer_spends_the_budget_too():
    starting = Response(200, {}, b'{"status": "starting"}')
    result = run_gate([starting], interval=1, start_timeout=120, deadline=200, max_bad_answers=1,
                      json_match={"status": "ok"})
    assert not result["passed"] and result["reason"].startswith("bad answers: 2 (budget 1)"), result["reason"]

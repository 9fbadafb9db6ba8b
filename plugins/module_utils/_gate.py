# Copyright: berth developers
# Apache License 2.0
"""Health gate: N consecutive good answers before a deadline, with separate failure budgets.

Private to berth.ops. The HTTP exchange and the container check are passed in, so the gate's
logic is plain Python that unit tests drive with a fake clock.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._http import Response, TransportError

MISSING = object()

# A check's settings where it names none: health_gate's option defaults (its DOCUMENTATION repeats them, a
# unit test holds them equal) and the confirm path's check. A service's own health settings default in
# _spec.HEALTH_DEFAULTS (berth_services.<name>.health), which every gate and confirm check of a release
# passes in full; these apply only to a bare health_gate call and to berth_confirm_path.
CHECK_DEFAULTS: dict[str, Any] = {"status_codes": [200], "successes": 3, "max_bad_answers": 10,
                                  "max_connection_errors": 30, "interval": 1.0, "timeout": 0.8}
# Seconds for the whole gate when a check names no deadline and no start_timeout.
DEFAULT_DEADLINE = 60.0


@dataclass
class Policy:
    successes: int = CHECK_DEFAULTS["successes"]
    max_bad_answers: int = CHECK_DEFAULTS["max_bad_answers"]
    max_connection_errors: int = CHECK_DEFAULTS["max_connection_errors"]
    interval: float = CHECK_DEFAULTS["interval"]
    timeout: float = CHECK_DEFAULTS["timeout"]
    deadline: float = DEFAULT_DEADLINE
    expected_status: tuple[int, ...] = tuple(CHECK_DEFAULTS["status_codes"])
    body_regex: str | None = None
    json_match: dict[str, Any] | None = None
    # Until the first good answer only this counts for refused connections and unexpected statuses (a 5xx,
    # a proxy's 404): "not ready yet", not failure. An expected status with the wrong body or JSON is a
    # started app answering wrongly and spends the bad-answer budget at once. None: the budgets apply
    # from the first probe (a confirm of a warm service).
    start_timeout: float | None = None


def json_lookup(document: Any, path: str) -> Any:
    """Follow a dotted path (``checks.db.status``, ``items.0.id``) into parsed JSON."""
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node


def judge(response: Response, policy: Policy) -> str | None:
    """None when the answer is good, else why it is not."""
    if response.status not in policy.expected_status:
        return f"status {response.status} not in {list(policy.expected_status)}"
    text = response.body.decode("utf-8", "replace")
    if policy.body_regex and not re.search(policy.body_regex, text):
        return f"body does not match /{policy.body_regex}/"
    if policy.json_match:
        try:
            document = json.loads(text)
        except ValueError:
            return "body is not JSON"
        for path, expected in policy.json_match.items():
            found = json_lookup(document, path)
            if found is MISSING:
                return f"JSON has no {path!r}"
            if found != expected and str(found) != str(expected):
                return f"JSON {path!r} is {found!r}, expected {expected!r}"
    return None


class Gate:
    def __init__(self, policy: Policy, probe: Callable[[float], Response],
                 container_state: Callable[[], str | None] | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.policy = policy
        self.probe = probe
        self.container_state = container_state
        self.clock = clock
        self.sleep = sleep

    def _probe_once(self, start: float, remaining: float) -> tuple[dict[str, Any], str | None, bool, bool]:
        """One probe: (log entry, problem or None, whether it was a connection error, whether it was a
        wrong answer of an app that is up: an expected status with the wrong body or JSON)."""
        sent = self.clock()
        entry: dict[str, Any] = {"t": round(sent - start, 3)}
        connection_error = wrong_answer = False
        try:
            response = self.probe(min(self.policy.timeout, max(0.05, remaining)))
            entry["status"] = response.status
            problem = judge(response, self.policy)
            wrong_answer = problem is not None and response.status in self.policy.expected_status
        except TransportError as exc:
            problem = entry["error"] = f"{exc.kind}: {exc}"
            connection_error = True
        entry["latency_ms"] = round((self.clock() - sent) * 1000, 1)
        entry["ok"] = problem is None
        if problem is not None:
            entry["problem"] = problem
        return entry, problem, connection_error, wrong_answer

    def _stop_reason(self, start: float, streak: int, ready: bool, last: str | None) -> str | None:
        policy = self.policy
        if not ready and policy.start_timeout is not None and self.clock() - start >= policy.start_timeout:
            return (f"not ready after {policy.start_timeout:g} s (start_timeout): no good answer yet"
                    + (f"; last: {last}" if last else ""))
        if self.clock() - start >= policy.deadline:
            return (f"deadline: {policy.deadline:g} s passed with {streak} of {policy.successes} "
                    "consecutive good answers")
        if self.container_state is not None:
            state = self.container_state()
            if state is not None:
                return f"container: {state}"
        return None

    def run(self) -> dict[str, Any]:
        policy = self.policy
        start = self.clock()
        log: list[dict[str, Any]] = []
        streak = bad = errors = 0
        reason = problem = None
        ready = policy.start_timeout is None
        while reason is None:
            reason = self._stop_reason(start, streak, ready, problem)
            if reason is not None:
                break
            sent = self.clock()
            entry, problem, connection_error, wrong_answer = self._probe_once(start, policy.deadline - (sent - start))
            log.append(entry)
            if problem is None:
                ready = True
                streak += 1
                if streak >= policy.successes:
                    break
            elif not ready and not wrong_answer:
                streak = 0
            elif connection_error:
                streak, errors = 0, errors + 1
                if errors > policy.max_connection_errors:
                    reason = f"connection errors: {errors} (budget {policy.max_connection_errors}); last: {problem}"
            else:
                streak, bad = 0, bad + 1
                if bad > policy.max_bad_answers:
                    reason = f"bad answers: {bad} (budget {policy.max_bad_answers}); last: {problem}"
            wait = policy.interval - (self.clock() - sent)
            if reason is None and wait > 0:
                self.sleep(min(wait, max(0.0, policy.deadline - (self.clock() - start))))
        return {"passed": reason is None, "elapsed": round(self.clock() - start, 3), "attempts": len(log),
                "ready_after": next((e["t"] for e in log if e["ok"]), None),
                "successes_in_a_row": streak, "bad_answers": bad, "connection_errors": errors,
                "probes": log, "reason": reason}

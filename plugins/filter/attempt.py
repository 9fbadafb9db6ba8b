"""A release attempt's record and failure, built in Python (module_utils/_attempt.py) for release_log."""

from __future__ import annotations

from typing import Any

from ansible_collections.berth.ops.plugins.module_utils import _attempt, _records


def release_record(plan: dict, release_id: str, kind: str, *, render: Any = None, git_sha: str = "", operator: str = "",
                   failed: Any = None, drain: Any = None, marks: Any = None, steps: Any = None) -> dict:
    """The record of a succeeded attempt (marks and steps give its timings) or, with `failed`, of a failed one."""
    timings = _attempt.timings(marks, steps or {}) if failed is None else None
    return _attempt.record(plan, release_id, kind=kind, render=render or {}, git_sha=git_sha, operator=operator,
                           failed=failed, drain=drain or {}, timings=timings)


def release_directory(plan: dict, release_id: str) -> str:
    """The release directory (under releases/) the attempt's colour runs from."""
    return _attempt.rendered(plan, release_id)


def record_directory(record: dict | None) -> str:
    """The release directory (under releases/) a record's containers run from."""
    return _records.rendered_of(record)


def release_failure(plan: dict, release_id: str, kind: str, *, task: str, result: Any, routes: Any,
                    taken_down: bool) -> dict:
    """{step, message, restored} of a failed attempt after its rescue."""
    return _attempt.failure(plan, release_id, kind=kind, task=task, result=result or {}, routes=list(routes or []),
                            taken_down=bool(taken_down))


class FilterModule:
    def filters(self) -> dict:
        return {"release_record": release_record, "release_failure": release_failure,
                "release_directory": release_directory, "record_directory": record_directory}

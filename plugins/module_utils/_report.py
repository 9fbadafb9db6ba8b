# Copyright: berth developers
# Apache License 2.0
"""The deploy report: one JSON document per deploy, rollback or switch, built on the controller from
what each target's release left behind (its plan, its record, its gate and confirm results, or why it
stopped). Pure functions over plain data; plugins/action/deploy_report.py reads the hosts' variables
and writes the file. The schema is docs/report.schema.json (SCHEMA_VERSION)."""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any

SCHEMA_VERSION = "1.0"
KINDS = ("deploy", "rollback", "switch")
STEPS = ("pull", "start", "gate", "switch", "confirm", "total")
# A failure in these steps stops before the deploy lock: nothing on the target changed.
REFUSING_STEPS = ("spec", "plan", "lock")
GATE_KEYS = ("passed", "elapsed", "attempts", "successes_in_a_row", "bad_answers", "connection_errors",
             "reason", "ready_after")


def step_of(task_name: str) -> str:
    """The step a task belongs to: the prefix of its name ("Gate | ..." -> gate; "Hook | Run migrate"
    -> "hook migrate"), as the release role's rescue names it."""
    prefix, sep, _ = task_name.partition(" | ")
    if not sep:
        return ""
    step = prefix.strip().lower()
    return f"{step} {task_name.rsplit(' ', maxsplit=1)[-1]}" if step == "hook" else step


def probe_summary(result: Mapping[str, Any] | None) -> dict | None:
    """A gate's or confirm's result without its probes: per check whether it passed, how long it took
    and the answers it saw. None when the step did not run."""
    if not isinstance(result, Mapping) or result.get("skipped") or "passed" not in result:
        return None
    checks = result.get("checks") or [result]
    return {"passed": bool(result.get("passed")), "seconds": _seconds(result.get("elapsed")),
            "checks": [{"name": str(c.get("name") or ""),
                        **{k: c.get(k) for k in GATE_KEYS if k not in ("passed", "elapsed")},
                        "passed": bool(c.get("passed")), "seconds": _seconds(c.get("elapsed"))}
                       for c in checks if isinstance(c, Mapping)]}


def target(name: str, app: str, kind: str, found: Mapping[str, Any], check_mode: bool = False) -> dict:
    """One target's entry. `found` holds what the target's run left (missing keys: it did not get there):
    plan (release_plan), record (release_log's result), gate and confirm (health_gate's results),
    failed ({task, msg}: the task that failed and its message)."""
    plan = _mapping(found.get("plan"))
    record = _mapping(_mapping(found.get("record")).get("recorded"))
    failed = _mapping(found.get("failed"))
    live = _mapping(plan.get("live"))
    step = str(record.get("step") or step_of(str(failed.get("task") or "")))
    entry: dict[str, Any] = {
        "name": name, "platform": "droplet", "app": app, "kind": kind,
        "result": "not_reached", "step": None, "message": None,
        "colour": plan.get("colour") or record.get("colour") or None,
        "previous": {"release": live.get("id"), "colour": plan.get("live_colour") or None} if plan else None,
        "digests": dict(record.get("digests") or plan.get("images") or {}),
        "differences": [str(d) for d in (record.get("differences") or plan.get("differences") or [])],
        "warm": bool(plan.get("warm")) if plan else None,
        "timings": _timings(record, found),
        "gate": probe_summary(found.get("gate")),
        "confirm": probe_summary(found.get("confirm")),
        "restored": _restored(record.get("restored")),
    }
    if record.get("status") == "failed":
        entry.update(result="failed", step=step or None, message=str(record.get("message") or failed.get("msg") or ""))
    elif failed:
        entry.update(result="refused" if step in REFUSING_STEPS else "failed", step=step or None,
                     message=str(failed.get("msg") or "failed"))
    elif record.get("status") == "succeeded":
        entry["result"] = "succeeded"
    elif plan.get("noop"):
        entry["result"] = "unchanged"
    elif plan and check_mode:
        entry["result"] = "planned"
    return entry


def app_platform_target(name: str, app: str, kind: str, found: Mapping[str, Any], check_mode: bool = False) -> dict:
    """One App Platform app's entry. `found` holds berth.ops.do_app's result (app: the module's return,
    also when it failed) and failed ({task, msg}). A failure that sent no write changed nothing: refused."""
    result = _mapping(found.get("app"))
    failed = _mapping(found.get("failed"))
    release = _mapping(result.get("release"))
    live = _mapping(result.get("live"))
    entry: dict[str, Any] = {
        "name": name, "platform": "app_platform", "app": app, "kind": kind,
        "result": "not_reached", "step": None, "message": None, "colour": None,
        "previous": None, "digests": dict(release.get("images") or live.get("images") or {}),
        "differences": [str(d) for d in result.get("differences") or []], "warm": None,
        "timings": ({"total": _seconds(release["seconds_to_active"])}
                    if _is_number(release.get("seconds_to_active")) else {}),
        "gate": None, "confirm": None, "restored": None,
    }
    if release.get("deployment_id"):
        entry["deployment_id"] = str(release["deployment_id"])
    if failed:
        wrote = result.get("api_writes")
        entry.update(result="refused" if not wrote else "failed",
                     step=step_of(str(failed.get("task") or "")) or None, message=str(failed.get("msg") or "failed"))
    elif not result:
        pass
    elif check_mode:
        entry["result"] = "planned" if result.get("changed") else "unchanged"
    else:
        entry["result"] = "succeeded" if result.get("changed") else "unchanged"
    return entry


def build(release_id: str, kind: str, targets: Sequence[dict], *, started: float | None, finished: float,
          path: str, operator: str = "", git_sha: str = "", check_mode: bool = False) -> dict:
    """The whole report: the targets and the one result that sums them up."""
    results = [t["result"] for t in targets]
    if "failed" in results:
        result = "failed"
    elif "refused" in results:
        result = "refused"
    elif results and all(r == "unchanged" for r in results):
        result = "unchanged"
    elif check_mode and "planned" in results:
        result = "planned"
    elif results and all(r in ("succeeded", "unchanged") for r in results):
        result = "succeeded"
    else:
        result = "incomplete"
    first = next((t for t in targets if t["result"] in ("failed", "refused")), None)
    return {
        "schema_version": SCHEMA_VERSION,
        "release_id": release_id,
        "kind": kind,
        "result": result,
        "check_mode": check_mode,
        "started": _iso(started) if started else None,
        "finished": _iso(finished),
        "seconds": round(finished - started, 2) if started else None,
        "operator": operator,
        "git_sha": git_sha,
        "message": f"{first['name']}: {first['message']}" if first else None,
        "path": path,
        "targets": list(targets),
    }


def summary(report: Mapping[str, Any]) -> list[str]:
    """A short table for a person: what went live where and how long each step took, or what failed
    and what was restored."""
    head = f"berth {report['kind']} {report['release_id']}: {report['result'].upper()}"
    if report.get("seconds") is not None:
        head += f" in {report['seconds']:.1f} s"
    rows = [["target", "app", "result", "colour", *STEPS]]
    for t in report["targets"]:
        timings = t["timings"]
        rows.append([t["name"], t["app"], t["result"] + (f" at {t['step']}" if t["step"] else ""),
                     t["colour"] or "-", *(f"{timings[s]:.1f}" if s in timings else "-" for s in STEPS)])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)]
    for t in report["targets"]:
        if t["message"]:
            lines.append(f"{t['name']}: {' '.join(t['message'].split())}")
        if t["gate"] and not t["gate"]["passed"]:
            lines.extend(f"{t['name']}: gate {c['name']}: {c['reason']}"
                         for c in t["gate"]["checks"] if not c["passed"])
    lines.append(f"report: {report['path']}")
    return lines


def write(path: str, report: Mapping[str, Any]) -> None:
    """Write the report atomically (a reader never sees half of it)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(report, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _timings(record: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, float]:
    """Seconds per step: the record's when it has them (a release that went live), else what the
    gate and confirm measured before the failure."""
    recorded = _mapping(record.get("timings"))
    if recorded:
        return {k: _seconds(v) for k, v in recorded.items() if k in STEPS and _is_number(v)}
    measured = {}
    for step in ("gate", "confirm"):
        result = _mapping(found.get(step))
        if _is_number(result.get("elapsed")) and not result.get("skipped"):
            measured[step] = _seconds(result["elapsed"])
    return measured


def _restored(restored: Any) -> dict | None:
    if not isinstance(restored, Mapping):
        return None
    return {"routes": [str(f) for f in restored.get("routes") or []],
            "colour_taken_down": restored.get("colour_taken_down") or None,
            "live_colour": restored.get("live_colour") or None,
            "live_release": restored.get("live_release") or None}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _seconds(value: Any) -> float:
    return round(float(value), 2) if _is_number(value) else 0.0


def _iso(timestamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))

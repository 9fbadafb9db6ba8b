# Copyright: berth developers
# Apache License 2.0
"""What one release attempt on a host leaves behind: its record (succeeded or failed), the step it failed
in, the release users are on after its rescue, and the message it fails with. Pure functions over the
plan (berth.ops.release_plan's result) and the steps' results: steps_finish.yml and rescue.yml only pass
them (through the release_record and release_failure filters) to berth.ops.release_log.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ansible_collections.berth.ops.plugins.module_utils._report import step_of

COLOURS = ("blue", "green")


def rendered(plan: Mapping[str, Any], release_id: str) -> str:
    """The release directory the attempt's colour runs from: the one reused (warm, switch, adopted) or its own."""
    return plan.get("rendered") or release_id


def failed_step(task_name: str) -> str:
    """The step of the task that failed: the prefix of its name (step_of); the whole name, lower-case,
    for a task without one."""
    return step_of(task_name) or task_name.split(" | ", maxsplit=1)[0].lower()


def users_on(plan: Mapping[str, Any]) -> dict:
    """The colour and release users are on once the rescue put back the routes: the release live before a
    killed run's switch when its routes came back (fallback), the adopted release when they could not, else
    the live one ('' when nothing was live)."""
    fallback = plan.get("fallback") or {}
    if fallback.get("routes_from"):
        return {"colour": fallback["colour"], "release": fallback["release"]}
    if plan.get("adopt"):
        return {"colour": plan["colour"], "release": plan["rendered"]}
    live_colour = plan["live_colour"]
    return {"colour": live_colour, "release": (plan.get("live") or {}).get("id", "?") if live_colour else ""}


def why(result: Mapping[str, Any]) -> str:
    """The reason a task failed: the first failed item's (a loop) or the task's msg, else its stderr."""
    items = [item for item in result.get("results", [result]) if item.get("failed")]
    first = items[0] if items else result
    return str(first["msg"]) if "msg" in first else str(first.get("stderr", "")).strip()


def _where_users_are(plan: Mapping[str, Any], now: Mapping[str, str]) -> str:
    fallback = plan.get("fallback") or {}
    colour, release = now["colour"], now["release"]
    if fallback.get("routes_from"):
        return (f"traffic is back on {colour} (release {release}), live before the killed run switched to "
                f"{plan['rendered']}, which stays in colour {plan['colour']}.")
    if plan.get("adopt"):
        before = (f" does not run release {fallback['release']} any more" if fallback.get("release")
                  else " ran nothing before it")
        return (f"traffic stays on {colour} (release {release}, which a killed run switched to unrecorded: "
                f"{fallback['colour']}{before}).")
    return f"traffic stays on {colour} (release {release})." if colour else "nothing was live."


def failure(plan: Mapping[str, Any], release_id: str, *, kind: str, task: str, result: Mapping[str, Any],
            routes: list[str], taken_down: bool) -> dict:
    """{step, message, restored} of a failed attempt, after its rescue put back `routes` (the files
    berth.ops.release_switch restored) and took its colour down (`taken_down`: this attempt started it).
    The message says what failed, where, and what users see now."""
    step = failed_step(task)
    now = users_on(plan)
    put_back = (f"Routes put back as they were ({', '.join(routes)}); " if routes
                else "Public routes were never changed; ")
    down = f"colour {plan['colour']} taken down; " if taken_down else ""
    # The line break stands where the folded YAML message this replaces had one (records stay byte-identical).
    message = (f"{kind} {release_id} failed at step '{step}' ({task}): {why(result)} {put_back}\n"
               f"{down}{_where_users_are(plan, now)}")
    return {"step": step, "message": message,
            "restored": {"routes": list(routes), "colour_taken_down": plan["colour"] if taken_down else "",
                         "live_colour": now["colour"], "live_release": now["release"]}}


def timings(marks: Mapping[str, float], steps: Mapping[str, Mapping[str, Any]], now: float | None = None) -> dict:
    """Seconds per step: pull and start from the marks the role noted, the others from each module's result."""
    now = time.time() if now is None else now
    return {"pull": round(marks["pulled"] - marks["started"], 2),
            "start": round(marks["running"] - marks["pulled"], 2),
            **{step: (steps.get(step) or {}).get("elapsed", 0) for step in ("gate", "switch", "confirm", "drain")},
            "total": round(now - marks["started"], 2)}


def record(plan: Mapping[str, Any], release_id: str, *, kind: str, render: Mapping[str, Any], git_sha: str,
           operator: str, failed: Mapping[str, Any] | None = None, drain: Mapping[str, Any] | None = None,
           timings: Mapping[str, Any] | None = None) -> dict:
    """The record berth.ops.release_log writes: succeeded (with `drain`, berth.ops.release_drain's result,
    and `timings`), or failed (with `failed`, failure()'s result). The checksum is the one this attempt
    rendered, else the plan's (a warm or reused release)."""
    checksums = render["checksums"] if "checksums" in render else plan["checksums"]
    common = {"id": release_id, "kind": kind, "colour": plan["colour"], "rendered": rendered(plan, release_id),
              "digests": plan["images"], "differences": plan["differences"], "git_sha": git_sha, "operator": operator}
    if failed is not None:
        return {**common, "status": "failed", "checksum": checksums.get("release", ""), "step": failed["step"],
                "message": failed["message"], "restored": failed["restored"]}
    drain = drain or {}
    adopted = bool(plan.get("adopt", False))
    target = plan.get("target")
    return {**common, "status": "succeeded", "checksum": checksums["release"],
            # Adopted: the colour live before the killed run's switch is the other one.
            "previous_colour": next(c for c in COLOURS if c != plan["colour"]) if adopted else plan["live_colour"],
            "adopted": adopted, "source": target.get("id", "") if target else "", "warm": plan["warm"],
            "drain": {k: drain[k] for k in ("open", "services", "closed")} if "open" in drain else {},
            "timings": dict(timings or {})}

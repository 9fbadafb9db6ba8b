# Copyright: berth developers
# Apache License 2.0
"""A host's release log: one JSON file per attempt in releases/, plus an append-only audit.log.

A record: id, time, status (succeeded | failed), kind (deploy | rollback | switch), colour,
digests (service -> pinned image), and optional git_sha, operator, step, message, source.
The live release is the newest succeeded record; the previous good one is the newest succeeded
record before it that is another release (previous_good: by release checksum, or for App Platform's
records by the spec the platform ran).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Callable

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def load(directory: str) -> list[dict]:
    """Every record, newest first (by time, then id)."""
    records = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(record)
    return sorted(records, key=lambda r: (r.get("time", ""), r["id"]), reverse=True)


def live(records: list[dict]) -> dict | None:
    return next((r for r in records if r.get("status") == "succeeded"), None)


def differs(record: dict, current: dict, current_sum: str | None = None) -> bool:
    """Whether `record` is another release than `current` (whose release checksum may come from elsewhere,
    ``current_sum``: its release directory on a droplet). Droplet records carry the release checksum (images,
    definitions, env, routing) and compare by it; records without one (App Platform's) compare by the spec the
    platform ran, which holds the env too; records with neither by their digests."""
    if current_sum is not None or "checksum" in record or "checksum" in current:
        return record.get("checksum") != (current.get("checksum") if current_sum is None else current_sum)
    key = "spec" if "spec" in record or "spec" in current else "digests"
    return record.get(key) != current.get(key)


def previous_good(records: list[dict], current: dict | None = None, current_sum: str | None = None) -> dict | None:
    """The release to go back to: the newest succeeded record older than `current` (default: the newest
    succeeded one) that is another release (differs). One rule for rollback.yml (return_target), release_log's
    `previous` and App Platform's rollback (do_app)."""
    current = live(records) if current is None else current
    if current is None:
        return None
    good = [r for r in records if r.get("status") == "succeeded"]
    older = good[good.index(current) + 1:] if current in good else good
    return next((r for r in older if differs(r, current, current_sum)), None)


def write(directory: str, record: dict, now: float | None = None) -> dict:
    """Write the record atomically and append it to audit.log. Returns the record as written."""
    if not ID_PATTERN.match(str(record.get("id", ""))):
        raise ValueError(f"record.id: {record.get('id')!r} must be 1-100 letters, digits, '.', '_' or '-'")
    if record.get("status") not in ("succeeded", "failed"):
        raise ValueError(f"record.status: {record.get('status')!r} must be succeeded or failed")
    record = dict(record)
    record.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now or time.time())))
    os.makedirs(directory, mode=0o750, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".record-", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o640)
    os.replace(tmp, os.path.join(directory, f"{record['id']}.json"))
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(os.path.join(directory, "audit.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return record


# The deploy decision, from what was read on the host (release_plan gathers it; tests/unit/test_release_plan.py).

def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def rendered_of(record: dict | None) -> str:
    """The release directory a record's containers run from (a warm reuse names the one it reused)."""
    return (record.get("rendered") or record.get("id") or "") if record else ""


def live_record(records: list[dict], live_colour: str) -> dict | None:
    """The newest succeeded record of the colour the public routes send traffic to."""
    if not live_colour:
        return None
    return next((r for r in records if r.get("status") == "succeeded" and r.get("colour") == live_colour), None)


def colour_release(containers: dict, spec: dict | None) -> str:
    """The release every app service of `spec` runs in this colour ('' when they do not all run one)."""
    if not spec:
        return ""
    # Singletons run outside the colours (their own project): a colour runs every other app service.
    in_colour = [name for name, svc in spec["services"].items() if not svc.get("singleton")]
    ids = {c.get("release") if c.get("running") else "" for name, c in containers.items() if name in in_colour}
    ids |= {"" for name in in_colour if name not in containers}
    return ids.pop() if len(ids) == 1 else ""


def went_live(records: list[dict], rendered: str) -> bool:
    """Whether the release rendered in `rendered` passed its gate and went live once (a succeeded record
    names it). Containers a killed run started never did: they get the full gate, not the warm one."""
    return any(r.get("status") == "succeeded" and rendered_of(r) == rendered for r in records)


def plan_deploy(live_state: dict, spec: dict, differences: list[str], same: Callable[[str], bool]) -> dict:
    """What a deploy of `spec` does on a host: {colour, noop, warm, adopt, rendered, differences}.

    ``live_state``: live_colour (where the public routes point, '' before the first release), records
    (newest first) and containers (colour -> service -> {running, release}). ``differences``: what differs
    from the live record's spec and env (empty: nothing). ``same(rendered)``: whether that release
    directory holds exactly this spec and these env values.

    - no-op: nothing differs and the live colour runs every service;
    - adopt: the live colour already serves exactly this release, rendered by a run that never recorded
      it (killed after its switch): gate it once, confirm, record it; no flip, no cold redeploy;
    - warm: the idle colour runs exactly this release and it went live before: gate once, switch;
    - else a new release in the idle colour."""
    live_colour, records, containers = live_state["live_colour"], live_state["records"], live_state["containers"]
    live = live_record(records, live_colour)
    differences = list(differences)
    stopped = sorted(n for n, svc in spec["services"].items()
                     if live and not svc.get("singleton") and not containers[live_colour].get(n, {}).get("running"))
    if stopped:
        differences.append(f"colour {live_colour}: {', '.join(stopped)} not running")
    serving = colour_release(containers.get(live_colour, {}), spec) if live_colour else ""
    if differences and serving and serving != rendered_of(live) and same(serving):
        return {"colour": live_colour, "noop": False, "warm": True, "adopt": True, "rendered": serving,
                "differences": [f"colour {live_colour} already serves this release, rendered as {serving} by a "
                                "run that did not record it (killed after its switch): adopted, not switched"]}
    colour = other(live_colour) if live_colour else "blue"
    warm = colour_release(containers.get(colour, {}), spec)
    warm = warm if warm and went_live(records, warm) and same(warm) else ""
    return {"colour": colour, "noop": not differences, "warm": bool(warm), "adopt": False, "rendered": warm,
            "differences": differences}


def adopted_fallback(records: list[dict], containers: dict, adopted_colour: str, adopted_rendered: str,
                     spec_of: Callable[[str], dict | None]) -> dict:
    """What a failed gate or confirm of an adopted release (plan_deploy's adopt) returns users to:
    {colour, release, warm, routes_from}. Users saw, before the killed run's switch, the newest succeeded
    release of the other colour. Only when that colour still runs every app service of it (``warm``) are
    the routes the killed run saved (in its release directory, ``adopted_rendered``) put back
    (``routes_from``); otherwise nothing else would answer, so the adopted release stays live.
    ``spec_of(rendered)``: the spec kept in that release directory (None when it is gone)."""
    colour = other(adopted_colour)
    record = live_record(records, colour)
    rendered = rendered_of(record)
    warm = bool(rendered) and colour_release(containers.get(colour, {}), spec_of(rendered)) == rendered
    return {"colour": colour, "release": record["id"] if record else "", "warm": warm,
            "routes_from": adopted_rendered if warm else ""}


# What a rollback or switch returns to (release_plan, kind rollback or switch; tests/unit/test_release_plan.py).

def return_target(kind: str, records: list[dict], live: dict | None, live_sum: str, *, wanted: str,
                  idle_containers: dict) -> tuple[dict | None, str]:
    """The record a rollback or switch returns to, or (None, why not). ``live``: the live colour's record,
    ``live_sum`` its release checksum; ``idle_containers``: the other colour's (service -> {release, running}).

    - switch: the succeeded record whose release directory the idle colour's containers run;
    - rollback to ``wanted``: that succeeded record;
    - rollback: the newest succeeded record older than the live one whose release differs from it."""
    good = [r for r in records if r.get("status") == "succeeded"]
    if kind == "switch":
        ids = {c.get("release") for c in idle_containers.values()}
        if len(ids) != 1 or not idle_containers:
            return None, "the other colour has no containers of one release"
        rendered = ids.pop()
        match = next((r for r in good if rendered_of(r) == rendered), None)
        return match, "" if match else f"no succeeded release rendered {rendered}"
    if wanted:
        match = next((r for r in good if r.get("id") == wanted), None)
        return match, "" if match else f"no succeeded release {wanted}"
    if live is None:
        return None, "nothing is live"
    match = previous_good(records, live, live_sum)
    return match, "" if match else "no previous good release to return to"


def plan_return(kind: str, live_state: dict, wanted: str, spec_of: Callable[[str], dict | None]) -> dict:
    """What a rollback or switch does on a host: {target, spec, warm, rendered, env_from}, or {refused: why}.

    ``live_state``: records (newest first), live (the live colour's record), live_sum (its release checksum)
    and idle (the idle colour's containers). ``spec_of(rendered)``: the spec kept in that release directory
    (None when it is gone).

    - warm: the idle colour runs every app service of the target: a flip, nothing rendered;
    - a switch flips to what the idle colour runs, warm or not (its containers are started again);
    - else a rollback renders the target's release anew in the idle colour, with the env values kept in
      the target's release directory (``env_from``)."""
    idle = live_state["idle"]
    target, why = return_target(kind, live_state["records"], live_state["live"], live_state["live_sum"],
                                wanted=wanted, idle_containers=idle)
    rendered = rendered_of(target)
    spec = spec_of(rendered) if target else None
    if target is None or spec is None:
        return {"refused": why or "its release directory is gone"}
    warm = colour_release(idle, spec) == rendered
    reuse = warm or kind == "switch"
    return {"target": target, "spec": spec, "warm": warm, "rendered": rendered if reuse else "",
            "env_from": "" if reuse else rendered}


# Where a new release starts and how the warm standby it replaces goes (release_plan; tests/unit/test_standby.py).

MEMORY_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
# Left free on the host while the standby stops beside the new release (page cache, Docker, sshd).
MEMORY_RESERVE = 64 * 1024 ** 2


def memory_bytes(value: str | int | None) -> int:
    """A compose memory size ('256m', '1g', '512') in bytes; 0 when unset."""
    text = str(value or "").strip().lower()
    if not text:
        return 0
    unit = text[-1] if text[-1] in MEMORY_UNITS else ""
    return int(float(text[:len(text) - len(unit)] if unit else text) * MEMORY_UNITS[unit])


def projects(app: str, colour: str) -> tuple[str, str]:
    """A colour's two compose projects: a new release starts in the one its standby does not run in."""
    return f"{app}-{colour}", f"{app}-{colour}-2"


def memory_needed(spec: dict, usage: dict[str, int]) -> int:
    """What the new release may take while the standby still runs: per app service its memory limit, else
    what the standby's container of that service uses now (``usage``, bytes), times its replicas."""
    total = 0
    for name, svc in spec["services"].items():
        if svc.get("singleton"):
            continue
        total += (memory_bytes(svc.get("memory")) or usage.get(name, 0)) * max(1, int(svc.get("replicas") or 1))
    return total


def standby_plan(app: str, colour: str, spec: dict, idle: dict, *, overlap: bool,
                 mem_available: int | None, usage: dict[str, int]) -> dict:
    """Where a newly rendered release starts in ``colour`` and how the standby there goes: {project, retire,
    overlap, why}. ``idle``: the colour's containers (service -> {project, ...}); ``retire``: the compose
    projects whose containers are moved aside (renamed, off every network) before the start; ``overlap``:
    they stop in the background, after the start, with their grace period (else before it, as compose
    would). ``why``: one line for the report when the standby stops first.

    - nothing in the colour: the first project, nothing to retire;
    - a replicated service keeps the first project (compose names its replicas <project>-<service>-N and
      the routes name them so); when the standby runs there too, compose replaces it in place, first;
    - else the project the standby does not run in; the standby stops beside the new release when
      berth_standby_overlap allows it and MemAvailable covers the new release plus a reserve."""
    first, second = projects(app, colour)
    running = sorted({c.get("project") or first for c in idle.values()})
    if not running:
        return {"project": first, "retire": [], "overlap": False, "why": ""}
    replicated = any(int(svc.get("replicas") or 1) > 1 for svc in spec["services"].values())
    project = first if replicated or first not in running else second
    retire = [p for p in running if p != project]
    if not retire:
        return {"project": project, "retire": [], "overlap": False,
                "why": "the standby stopped before the start: a replicated service keeps its compose project"}
    needed = memory_needed(spec, usage)
    if not overlap:
        why = "the standby stopped before the start: berth_standby_overlap is false"
    elif mem_available is None:
        why = "the standby stopped before the start: MemAvailable unknown"
    elif mem_available < needed + MEMORY_RESERVE:
        why = (f"the standby stopped before the start: MemAvailable {mem_available // 1024 ** 2} MiB < "
               f"{needed // 1024 ** 2} MiB for the new release + {MEMORY_RESERVE // 1024 ** 2} MiB reserve")
    else:
        return {"project": project, "retire": retire, "overlap": True, "why": ""}
    return {"project": project, "retire": retire, "overlap": False, "why": why}

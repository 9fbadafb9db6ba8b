# Copyright: berth developers
# Apache License 2.0
"""The fleet side by side (status.yml): one line per host and one verdict, from each host's row; and
where a host that went live in a fleet run goes back when another host fails (``revert``).

A row: host, release (the live record's id or 'none'), checksum (the live record's), colour, unrecorded
(release directories the live colour runs that its record does not name: a run killed after its
switch), lb (in, drained, 'no route', n/a) and lock ('free' or its holder). The hosts serve one release
when every row has the same checksum (or none has a release yet) and nothing unrecorded; otherwise the fleet is split.
"""

from __future__ import annotations

SPLIT = "FLEET SPLIT"


def line(row: dict) -> str:
    unrecorded = row.get("unrecorded") or []
    serving = f" (serves unrecorded {', '.join(unrecorded)})" if unrecorded else ""
    return (f"{row.get('host')}: release {row.get('release') or 'none'}{serving} on {row.get('colour') or 'none'}, "
            f"load balancer {row.get('lb') or 'n/a'}, lock {row.get('lock') or 'free'}")


def verdict(rows: list[dict]) -> str:
    """'FLEET SPLIT: ...' naming what each host serves, or 'fleet: ...' when they all serve one release;
    drained hosts and held locks are named either way."""
    groups: dict[str, dict[str, list[str]]] = {}  # what it serves -> {hosts, ids}
    for row in rows:
        unrecorded = row.get("unrecorded") or []
        key = f"unrecorded {', '.join(unrecorded)}" if unrecorded else (
            str(row.get("checksum"))[:12] if row.get("checksum") else "nothing live")
        group = groups.setdefault(key, {"hosts": [], "ids": []})
        group["hosts"].append(str(row.get("host")))
        if row.get("release") not in group["ids"]:
            group["ids"].append(row.get("release"))
    notes = [f"{', '.join(r['host'] for r in rows if r.get('lb') == 'drained')} drained from the load balancer"] \
        if any(r.get("lb") == "drained" for r in rows) else []
    notes += [f"{r['host']} locked by {r['lock']}" for r in rows if (r.get("lock") or "free") != "free"]
    tail = f"; {'; '.join(notes)}" if notes else ""
    parts = "; ".join(f"{', '.join(g['hosts'])} on " + (
        what if what.startswith(("unrecorded", "nothing")) else f"release {', '.join(g['ids'])} ({what})")
        for what, g in groups.items())
    one = len(groups) == 1 and not next(iter(groups)).startswith("unrecorded")
    if one or not rows:
        return f"fleet: {len(rows)} host(s) serve one release: {parts}{tail}"
    return f"{SPLIT}: the hosts do not serve one release: {parts}{tail}"


def revert(plan: dict, release_id: str, hosts: int = 2) -> dict:
    """Where a host that went live in this fleet run (switched, or adopted: a killed run had switched it)
    goes back when the run fails, from its release_plan: {back, routes_from, colour, release, drained, why}.

    Switched by this run: the routes this run saved (``release_id``'s directory) put back its previous
    colour, still warm (retired only at finalize). Adopted: only when the colour live before the killed
    run's switch still runs that release (release_plan's ``fallback.routes_from``, the killed run's saved
    routes); otherwise users sent there would meet a stopped or another release, so the host keeps the
    adopted release and stays drained from the load balancer (``drained``): it never serves a different
    release than the rest. One host alone has nobody else to answer: it keeps the adopted release in rotation."""
    if not plan.get("adopt"):
        live = plan.get("live") or {}
        return {"back": True, "routes_from": release_id, "colour": plan.get("live_colour") or "",
                "release": live.get("id") or "", "drained": False, "why": ""}
    fallback = plan.get("fallback") or {}
    if fallback.get("routes_from"):
        return {"back": True, "routes_from": fallback["routes_from"], "colour": fallback.get("colour") or "",
                "release": fallback.get("release") or "", "drained": False, "why": ""}
    colour = fallback.get("colour") or "?"
    why = (f"colour {colour} does not run release {fallback['release']} any more" if fallback.get("release")
           else f"colour {colour} ran nothing before it")
    return {"back": False, "routes_from": "", "colour": plan.get("colour") or "", "release": plan.get("rendered") or "",
            "drained": hosts > 1, "why": why}

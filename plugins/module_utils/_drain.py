# Copyright: berth developers
# Apache License 2.0
"""The bounded drain of the colour a switch left: which services to watch, for how long, and how many
connections are still open on them (read from each container's network namespace). Pure functions:
release_drain does the waiting and the closing; tests/unit/test_release_drain.py."""

from __future__ import annotations

# kamal-proxy's drain timeout: long-lived connections get this long after the switch to end on their own.
DEFAULT_DRAIN = 30
ESTABLISHED = "01"


def services(spec: dict | None, old_spec: dict | None) -> dict[str, dict]:
    """{service: {port, drain}} for each routed service of the colour being left (`old_spec`): the drain
    of the release going live (`spec`, so a rollback brings back the one it was deployed with; none given
    is DEFAULT_DRAIN), or for a service it no longer has, the old release's own."""
    new = (spec or {}).get("services") or {}
    out = {}
    for name, svc in ((old_spec or {}).get("services") or {}).items():
        if not svc.get("port") or svc.get("singleton"):
            continue
        drain = (new[name] if name in new else svc).get("drain", DEFAULT_DRAIN)
        out[name] = {"port": int(svc["port"]), "drain": float(drain)}
    return out


def open_connections(tables: list[str], port: int) -> int:
    """Established TCP connections to local `port` in /proc/<pid>/net/tcp and tcp6 texts: each one is a
    request or a stream the app still serves (an app that closes idle keep-alive connections late has
    those counted too, until it closes them)."""
    count = 0
    for table in tables:
        for line in table.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 4 or fields[3] != ESTABLISHED:
                continue
            local_port = fields[1].rsplit(":", 1)[-1]
            try:
                if int(local_port, 16) == port:
                    count += 1
            except ValueError:
                continue
    return count


def deadlines(watched: dict[str, dict], since_switch: float) -> dict[str, float]:
    """Seconds from now until each service's drain has passed (0: already)."""
    return {name: max(0.0, svc["drain"] - since_switch) for name, svc in watched.items()}


def summary(colour: str, result: dict[str, dict], restart: bool) -> str:
    """One line for the deploy report: how many connections were still open when the drain passed."""
    total = sum(r["open"] for r in result.values())
    if not result:
        return f"colour {colour}: no routed service to drain"
    if not total:
        return f"colour {colour} drained: no connection left open ({', '.join(sorted(result))})"
    parts = ", ".join(f"{name}: {r['open']} after {r['waited']:g} s" for name, r in sorted(result.items()) if r["open"])
    then = ("its containers got SIGTERM (the app's goodbye) and were started again warm" if restart
            else "they end with the colour's stop")
    return (f"colour {colour}: {total} connection{'s' if total != 1 else ''} still open when the drain passed "
            f"({parts}); {then}")

# Copyright: berth developers
# Apache License 2.0
"""A host in or out of a load balancer's rotation through its own health route (berth_lb).

A DigitalOcean load balancer has no per-droplet drain: a droplet leaves the rotation by failing the
health check (after ``unhealthy`` checks ``interval`` apart) and rejoins by passing ``healthy`` of
them (NOTES.md, load balancer contract). Each host's Traefik answers the health path on its public
entrypoints, whatever the Host: Traefik's own /ping (200) in rotation, a service without servers
(503) when drained. The app is never touched. ``check`` reads berth_lb on the controller; ``routes`` is the
file the host's Traefik loads; ``judge`` decides from the host's access log whether the load balancer
has acted on the change.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable
from typing import Any

DEFAULTS: dict[str, Any] = {"health_path": "/.well-known/berth/lb", "interval": 10, "timeout": 5,
                            "unhealthy": 3, "healthy": 5, "min_in_rotation": 1}
# (low, high) per numeric key. DigitalOcean's API takes interval and timeout from 3 s; HAProxy (the
# lab) from 1 s: berth checks the wider range, berth_infra's load balancer check the API's.
RANGES = {"interval": (1, 300), "timeout": (1, 300), "unhealthy": (2, 10), "healthy": (2, 10),
          "min_in_rotation": (0, 1000)}
PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
ROUTER = "berth-lb"
DRAINED_SERVICE = "berth-lb-drained"
IN_SERVICE = "berth-lb-in"
# Traefik's ping on its admin entrypoint, inside its container. Not ping@internal: Traefik leaves its
# internal services out of the access log, which is how the host sees the load balancer's checks.
PING = {"middleware": "berth-lb-ping", "url": "http://127.0.0.1:8082", "path": "/ping"}
STATES = ("in", "drained")


def check(value: Any, hosts: int | None = None, serial: Any = None) -> tuple[dict, list[str]]:
    """berth_lb with its defaults filled in, and one line per bad input (variable path and value).
    Given ``hosts`` deployed ``serial`` (berth_serial) at a time, at least ``min_in_rotation`` must stay
    in rotation."""
    if value is None or value == {}:
        return {}, []
    if not isinstance(value, dict):
        return {}, [f"berth_lb: {value!r} is not a mapping of {', '.join(DEFAULTS)}"]
    errors = [f"berth_lb.{key}: {value[key]!r} is not an option (known: {', '.join(DEFAULTS)})"
              for key in sorted(set(value) - set(DEFAULTS), key=str)]
    contract = {**DEFAULTS, **{k: v for k, v in value.items() if k in DEFAULTS}}
    path = contract["health_path"]
    if not isinstance(path, str) or not PATH.match(path) or "`" in path:
        errors.append(f"berth_lb.health_path: {path!r} is not a URL path (starts with '/', no query)")
    for key, (low, high) in RANGES.items():
        number = contract[key]
        if isinstance(number, bool) or not isinstance(number, int) or not low <= number <= high:
            errors.append(f"berth_lb.{key}: {number!r} is not a whole number from {low} to {high}")
    if hosts is None:
        pass
    elif not isinstance(serial, int) or isinstance(serial, bool) or serial < 1:
        errors.append(f"berth_serial: {serial!r} is not a whole number of hosts from 1")
    elif not errors and hosts - min(serial, hosts) < contract["min_in_rotation"]:
        errors.append(f"berth_serial: {serial!r} drains too many of {hosts} host(s) at once: berth_lb.min_in_rotation "
                      f"({contract['min_in_rotation']}) must stay in rotation")
    return (contract if not errors else {}), errors


def routes(contract: dict, state: str, entrypoints: list[str]) -> dict:
    """Traefik's dynamic config: the health path on the public entrypoints, above every app route."""
    router = {"rule": f"Path(`{contract['health_path']}`)", "priority": 2_000_000_000,
              "entryPoints": list(entrypoints),
              "service": IN_SERVICE if state == "in" else DRAINED_SERVICE}
    document: dict[str, Any] = {"http": {"routers": {ROUTER: router}}}
    if state == "in":
        router["middlewares"] = [PING["middleware"]]
        document["http"]["middlewares"] = {PING["middleware"]: {"replacePath": {"path": PING["path"]}}}
        document["http"]["services"] = {IN_SERVICE: {"loadBalancer": {"servers": [{"url": PING["url"]}]}}}
    else:
        # A service without servers: Traefik answers 503 "no available server".
        document["http"]["services"] = {DRAINED_SERVICE: {"loadBalancer": {"servers": []}}}
    return document


def state_of(text: bytes | None) -> str:
    """Which state a health-route file (as read, None when absent) puts its host in: in, drained, or ''."""
    if not text:
        return ""
    try:
        service = json.loads(text)["http"]["routers"][ROUTER]["service"]
    except (ValueError, KeyError, TypeError):
        return ""
    return {IN_SERVICE: "in", DRAINED_SERVICE: "drained"}.get(service, "")


def minimum_wait(contract: dict, state: str) -> float:
    """Seconds the load balancer needs at least: unhealthy x interval + timeout out, healthy x interval in."""
    if state == "drained":
        return float(contract["unhealthy"] * contract["interval"] + contract["timeout"])
    return float(contract["healthy"] * contract["interval"])


def next_look(contract: dict, state: str, since: float, now: float, step: float = 0.5) -> float:
    """Seconds to sleep before reading the access log again: ``step``, but no later than the moment the
    minimum wait ends (the earliest the load balancer can have acted), and a quarter of it after that, when
    only the last check is missing."""
    left = since + minimum_wait(contract, state) - now
    return min(step, left) if left > 0.01 else step / 2


def entries(log: str) -> list[dict]:
    """Traefik's JSON access-log lines (its own log lines, also JSON, carry no RequestPath)."""
    found = []
    for raw in log.splitlines():
        line = raw.strip()
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "RequestPath" in entry:
            found.append(entry)
    return found


def _started(entry: dict) -> float | None:
    stamp = str(entry.get("StartUTC") or "")
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z$", stamp)
    if not match:
        return None
    whole = datetime.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.UTC)
    return whole.timestamp() + float("0" + (match.group(2) or ".0")[:7])


def judge(log_entries: Iterable[dict], contract: dict, state: str, since: float, now: float) -> dict:
    """Has the load balancer acted on the change made at ``since``?

    Drained: at least the minimum wait passed, ``unhealthy`` health checks were answered 503 since,
    and no other request started in the last two intervals. In rotation: the minimum wait passed and
    ``healthy`` checks were answered 200 since. Returns {done, checks, last_request, waited, why}."""
    path, wanted = contract["health_path"], (503 if state == "drained" else 200)
    checks, last_request = 0, None
    for entry in log_entries:
        started = _started(entry)
        if started is None or started < since:
            continue
        if str(entry.get("RequestPath", "")).split("?")[0] == path:
            checks += entry.get("DownstreamStatus") == wanted
        else:
            last_request = started if last_request is None else max(last_request, started)
    waited = now - since
    needed = contract["unhealthy"] if state == "drained" else contract["healthy"]
    quiet = 2 * contract["interval"]
    why = []
    if waited < minimum_wait(contract, state):
        why.append(f"{minimum_wait(contract, state):g} s not passed yet ({waited:.1f} s)")
    if checks < needed:
        why.append(f"{checks} of {needed} health checks answered {wanted}")
    if state == "drained" and last_request is not None and now - last_request < quiet:
        why.append(f"a request started {now - last_request:.1f} s ago (less than {quiet:g} s)")
    return {"done": not why, "checks": checks, "last_request": last_request, "waited": round(waited, 2),
            "why": "; ".join(why)}

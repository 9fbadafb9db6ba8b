# Copyright: berth developers
# Apache License 2.0
"""DigitalOcean Monitoring in one comparable form: uptime checks, their alerts, droplet alert policies.

Private to berth.ops (do_uptime_check, do_monitor_alert, the infra spec). Pure functions: what the
user wrote and what the API returns both go through ``*_body`` and compare equal when nothing differs;
``*_problems`` say, one line each naming the option and the value, what the API would refuse.
Quirks settled here: a ``down`` alert has no threshold (the API keeps none), lists of regions, tags,
droplet ids and recipients come back in any order, a policy's ``value`` is a float (80 == 80.0).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

CHECK_TYPES = ("ping", "http", "https")
REGIONS = ("us_east", "us_west", "eu_west", "se_asia")
ALERT_TYPES = ("down", "down_global", "latency", "ssl_expiry")
THRESHOLD_TYPES = ("latency", "ssl_expiry")
COMPARISONS = ("greater_than", "less_than")
PERIODS = ("2m", "3m", "5m", "10m", "15m", "30m", "1h")
# The natural direction of each threshold: slower than, or a certificate expiring within.
DEFAULT_COMPARISON = {"latency": "greater_than", "ssl_expiry": "less_than"}

METRICS = {"cpu": "v1/insights/droplet/cpu",
           "memory": "v1/insights/droplet/memory_utilization_percent",
           "disk": "v1/insights/droplet/disk_utilization_percent",
           "load_1": "v1/insights/droplet/load_1", "load_5": "v1/insights/droplet/load_5",
           "load_15": "v1/insights/droplet/load_15"}
PERCENT_METRICS = ("cpu", "memory", "disk")
COMPARES = ("GreaterThan", "LessThan")
WINDOWS = ("5m", "10m", "30m", "1h")

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def notifications(email: list | None, slack: list | None) -> dict:
    """Recipients in one order: emails sorted, Slack channels sorted by channel then URL."""
    return {"email": sorted({str(e) for e in email or []}),
            "slack": sorted(({"channel": s["channel"], "url": s["url"]} for s in slack or []),
                            key=lambda s: (s["channel"], s["url"]))}


def masked(value: Any) -> Any:
    """`value` with every Slack webhook URL replaced by a short digest: a diff may show that it changed,
    never the URL (it is the webhook's credential)."""
    if isinstance(value, dict):
        return {k: (_digest(v) if k == "url" and isinstance(v, str) else masked(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def _digest(url: str) -> str:
    return "sha256:" + hashlib.sha256(url.encode()).hexdigest()[:12]


# -- uptime checks --------------------------------------------------------------------------------

def check_body(entry: dict) -> dict:
    """The fields of an uptime check berth manages."""
    return {"name": entry["name"], "type": entry.get("type") or "https", "target": entry["target"],
            "regions": sorted(set(entry.get("regions") or REGIONS)),
            "enabled": entry.get("enabled", True) is not False}


def check_problems(entry: dict) -> list[str]:
    found = []
    kind = entry.get("type") or "https"
    if kind not in CHECK_TYPES:
        found.append(f"type is {kind!r}: one of {', '.join(CHECK_TYPES)}")
    target = entry.get("target")
    if kind in ("http", "https") and (not isinstance(target, str) or not URL.match(target)
                                      or not target.startswith(f"{kind}://")):
        found.append(f"target is {target!r}: an {kind}:// URL for a check of type {kind}")
    if kind == "ping" and (not isinstance(target, str) or not HOST.match(target)):
        found.append(f"target is {target!r}: a host name or address for a check of type ping")
    regions = entry.get("regions")
    if regions is not None and not regions:
        found.append("regions is []: at least one of " + ", ".join(REGIONS))
    for index, region in enumerate(regions or []):
        if region not in REGIONS:
            found.append(f"regions[{index}] is {region!r}: one of {', '.join(REGIONS)}")
    return found


def alert_body(entry: dict, default_email: list | None = None, default_slack: list | None = None) -> dict:
    """An uptime alert as the API keeps it (``entry`` as written, or as the API answers with its
    ``notifications``); written recipients default to the check's."""
    kind = entry["type"]
    given = entry.get("notifications")
    if given is not None:
        recipients = notifications(given.get("email"), given.get("slack"))
    else:
        recipients = notifications(entry.get("email") if entry.get("email") is not None else default_email,
                                   entry.get("slack") if entry.get("slack") is not None else default_slack)
    out = {"name": entry.get("name") or kind, "type": kind, "period": entry.get("period") or "2m",
           "notifications": recipients}
    if kind in THRESHOLD_TYPES:
        out["threshold"] = int(entry["threshold"])
        out["comparison"] = entry.get("comparison") or DEFAULT_COMPARISON[kind]
    return out


def alert_problems(index: int, entry: dict, default_email: list | None, default_slack: list | None) -> list[str]:
    where = f"alerts[{index}]"
    kind = entry.get("type")
    if kind not in ALERT_TYPES:
        return [f"{where}.type is {kind!r}: one of {', '.join(ALERT_TYPES)}"]
    found = []
    threshold = entry.get("threshold")
    if kind in THRESHOLD_TYPES:
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1:
            unit = "milliseconds" if kind == "latency" else "days"
            found.append(f"{where}.threshold is {threshold!r}: a whole number of {unit} >= 1 for a {kind} alert")
    elif threshold is not None or entry.get("comparison") is not None:
        found.append(f"{where}: a {kind} alert has no threshold or comparison (the API keeps none)")
    if entry.get("comparison") is not None and entry["comparison"] not in COMPARISONS:
        found.append(f"{where}.comparison is {entry['comparison']!r}: one of {', '.join(COMPARISONS)}")
    if entry.get("period") is not None and entry["period"] not in PERIODS:
        found.append(f"{where}.period is {entry['period']!r}: one of {', '.join(PERIODS)}")
    body = alert_body({**entry, "threshold": 0}, default_email, default_slack)["notifications"]
    found += [f"{where}.{p}" for p in recipient_problems(body)]
    return found


def recipient_problems(recipients: dict) -> list[str]:
    """Why the API would refuse these recipients (relative option names: email[0], slack[1].url)."""
    if not recipients["email"] and not recipients["slack"]:
        return ["email/slack: none given; an alert needs at least one email address or Slack channel"]
    found = [f"email is {e!r}: not an email address" for e in recipients["email"] if not EMAIL.match(e)]
    found += [f"slack channel {s['channel']!r}: url is not an https:// webhook URL"
              for s in recipients["slack"] if not str(s["url"]).startswith("https://")]
    return found


# -- droplet alert policies -----------------------------------------------------------------------

def policy_body(entry: dict) -> dict:
    """A droplet alert policy as the API keeps it (``metric`` is berth's short name of ``type``)."""
    kind = entry.get("type") or METRICS[entry["metric"]]
    alerts = entry.get("alerts") or notifications(entry.get("email"), entry.get("slack"))
    return {"type": kind, "description": entry["description"], "compare": entry.get("compare") or "GreaterThan",
            "value": float(entry["value"]), "window": entry.get("window") or "5m",
            "entities": sorted({str(e) for e in entry.get("entities") or []}),
            "tags": sorted(set(entry.get("tags") or [])),
            "alerts": notifications(alerts.get("email"), alerts.get("slack")),
            "enabled": entry.get("enabled", True) is not False}


def policy_problems(entry: dict) -> list[str]:
    found = []
    metric, value = entry.get("metric"), entry.get("value")
    if metric not in METRICS:
        return [f"metric is {metric!r}: one of {', '.join(METRICS)}"]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        found.append(f"value is {value!r}: a number")
    elif metric in PERCENT_METRICS and not 0 < value <= 100:
        found.append(f"value is {value!r}: a percentage above 0 and at most 100 for metric {metric}")
    elif value < 0:
        found.append(f"value is {value!r}: a number >= 0")
    if entry.get("compare") not in (None, *COMPARES):
        found.append(f"compare is {entry['compare']!r}: one of {', '.join(COMPARES)}")
    if entry.get("window") not in (None, *WINDOWS):
        found.append(f"window is {entry['window']!r}: one of {', '.join(WINDOWS)}")
    if not entry.get("tags") and not entry.get("entities"):
        found.append("tags/droplet_ids: none given; the policy would watch every droplet of the account")
    for index, ident in enumerate(entry.get("entities") or []):
        if not re.match(r"^[0-9]+$", str(ident)):
            found.append(f"droplet_ids[{index}] is {ident!r}: a droplet id")
    found += recipient_problems(notifications(entry.get("email"), entry.get("slack")))
    return found

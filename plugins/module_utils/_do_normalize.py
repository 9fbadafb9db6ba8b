# Copyright: berth developers
# Apache License 2.0
"""Pure functions that put what the API returns and what the user wrote in one comparable form.

Private to berth.ops. Each quirk here is a reason community.digitalocean never settled:
the API stores "all ports" and ICMP rules as "0", a load balancer PUT resets every omitted field,
and lists come back in any order.
"""

from __future__ import annotations

import base64
import hashlib

ALL_PORTS = ("", "0", "all", "1-65535")
TARGET_KEYS = ("addresses", "droplet_ids", "load_balancer_uids", "kubernetes_ids", "tags")

# The real API's defaults for a load balancer; a PUT that omits a field resets it to these.
LB_HEALTH_CHECK_DEFAULTS = {"protocol": "http", "port": 80, "path": "/", "check_interval_seconds": 10,
                            "response_timeout_seconds": 5, "unhealthy_threshold": 3, "healthy_threshold": 5}
LB_DEFAULTS = {"algorithm": "round_robin", "redirect_http_to_https": False, "enable_proxy_protocol": False,
               "enable_backend_keepalive": False, "http_idle_timeout_seconds": 60,
               "disable_lets_encrypt_dns_records": False, "sticky_sessions": {"type": "none"}}
# Ranges the real API (and Terraform's provider) enforce; the spec does not state them.
HEALTH_RANGES = {"check_interval_seconds": (3, 300), "response_timeout_seconds": (3, 300),
                 "unhealthy_threshold": (2, 10), "healthy_threshold": (2, 10)}


def ports(protocol: str, value) -> str:
    """One spelling per port set: "0" for all ports (and for ICMP, which has none)."""
    text = "" if value is None else str(value).strip()
    if protocol == "icmp" or text in ALL_PORTS:
        return "0"
    return text


def rule(entry: dict, side: str) -> dict:
    """A firewall rule in the form the API sends back (``side``: sources or destinations)."""
    targets = entry.get(side) or {}
    clean = {}
    for key in TARGET_KEYS:
        values = targets.get(key) or []
        if values:
            clean[key] = sorted(values, key=str)
    return {"protocol": entry["protocol"], "ports": ports(entry["protocol"], entry.get("ports")), side: clean}


def rules(entries: list[dict] | None, side: str) -> list[dict]:
    """Rules sorted so that order never counts as a difference."""
    out = [rule(e, side) for e in entries or []]
    return sorted(out, key=lambda r: (r["protocol"], r["ports"], repr(sorted(r[side].items()))))


def forwarding_rules(entries: list[dict] | None) -> list[dict]:
    out = []
    for entry in entries or []:
        out.append({"entry_protocol": entry["entry_protocol"], "entry_port": int(entry["entry_port"]),
                    "target_protocol": entry["target_protocol"], "target_port": int(entry["target_port"]),
                    "certificate_id": entry.get("certificate_id") or "",
                    "tls_passthrough": bool(entry.get("tls_passthrough"))})
    return sorted(out, key=lambda r: (r["entry_port"], r["entry_protocol"]))


def health_check(value: dict | None) -> dict:
    merged = dict(LB_HEALTH_CHECK_DEFAULTS)
    merged.update({k: v for k, v in (value or {}).items() if v is not None})
    if merged["protocol"] == "tcp":
        merged["path"] = ""
    return merged


def health_check_problems(value: dict) -> list[str]:
    found = []
    for key, (low, high) in HEALTH_RANGES.items():
        if not low <= int(value[key]) <= high:
            found.append(f"health_check.{key}={value[key]!r} is outside {low}-{high}")
    if value["response_timeout_seconds"] > value["check_interval_seconds"]:
        found.append(f"health_check.response_timeout_seconds={value['response_timeout_seconds']} is longer "
                     f"than check_interval_seconds={value['check_interval_seconds']}")
    return found


def sticky_sessions(value: dict | None) -> dict:
    value = {k: v for k, v in (value or {}).items() if v is not None}
    if value.get("type", "none") == "none":
        return {"type": "none"}
    return {"type": "cookies", "cookie_name": value.get("cookie_name", "DO-LB"),
            "cookie_ttl_seconds": int(value.get("cookie_ttl_seconds", 300))}


def trusted_sources(entries: list[dict] | None) -> list[dict]:
    """Database firewall rules as sorted ``{type, value}`` pairs (the API adds uuids and times)."""
    return sorted(({"type": e["type"], "value": str(e["value"])} for e in entries or []),
                  key=lambda e: (e["type"], e["value"]))


def ssh_fingerprint(public_key: str) -> str:
    """The MD5 colon fingerprint DigitalOcean uses as a key's second identifier."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the fingerprint format, not a security use
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def record_key(record: dict) -> tuple[str, str]:
    return (record["type"].upper(), record.get("name") or "@")


# DigitalOcean's smallest TTL, and the one a record gets when it names none.
RECORD_MIN_TTL = 30
RECORD_DEFAULT_TTL = 1800


def record(entry: dict) -> dict:
    """The fields of a DNS record that berth manages, in the API's spelling (a TTL only when none is
    given becomes 1800; a TTL that is given is kept as it is, for record_problems to judge)."""
    ttl = entry.get("ttl")
    out = {"type": entry["type"].upper(), "name": entry.get("name") or "@", "data": str(entry["data"]),
           "ttl": RECORD_DEFAULT_TTL if ttl is None else int(ttl)}
    for key in ("priority", "port", "weight", "flags", "tag"):
        if entry.get(key) is not None:
            out[key] = entry[key]
    return out


def record_problems(wanted: dict) -> list[str]:
    """Why the API would refuse (or silently change) a record, as ``record``'s output."""
    if wanted["ttl"] < RECORD_MIN_TTL:
        return [f"ttl={wanted['ttl']} is below DigitalOcean's minimum of {RECORD_MIN_TTL} seconds"]
    return []


def record_differs(current: dict, wanted: dict) -> bool:
    data_now, data_want = str(current.get("data", "")), wanted["data"]
    if wanted["type"] in ("CNAME", "MX", "NS", "SRV"):  # the API answers these without the final dot
        data_now, data_want = data_now.rstrip("."), data_want.rstrip(".")
    if data_now != data_want or int(current.get("ttl") or 0) != wanted["ttl"]:
        return True
    return any(current.get(k) != v for k, v in wanted.items() if k not in ("type", "name", "data", "ttl"))

# Copyright: berth developers
# Apache License 2.0
"""The cloud layer's input, ``berth_infra``, checked whole on the controller before any API request.

``check(infra, api=None)`` returns a list of errors, one line each, naming the variable path and the
bad value (``berth_infra.load_balancer.health_check.check_interval_seconds: 2 must be a whole number
of seconds between 3 and 300``), gathered before playbooks/infra.yml fails once; an empty list means every input
is one the API will take. The ranges are the ones the real API enforces, which its OpenAPI spec
mostly does not state (health checks 3-300 s and 2-10, a DNS TTL of at least 30 s).

``KEYS`` is every setting ``berth_infra`` has, by container: a key that is not there is refused
("is not a setting here"), so nothing a user writes is silently dropped. docs/infra.md documents
exactly ``key_paths()`` (tests/unit/test_infra_spec.py holds the two together).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from ._do_monitoring import COMPARES, EMAIL, METRICS, PERCENT_METRICS, PERIODS, REGIONS, WINDOWS
from ._do_normalize import HEALTH_RANGES, LB_HEALTH_CHECK_DEFAULTS, ssh_fingerprint
from ._spec import Errors, hostname_problem

NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
GROUP = re.compile(r"^[a-z][a-z0-9-]{0,20}$")
REGION = re.compile(r"^[a-z]{3}[0-9]$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]*$")  # size and image slugs (s-1vcpu-1gb, so1_5-2vcpu-16gb)
TAG = re.compile(r"^[A-Za-z0-9_:-]{1,255}$")  # the API: letters, digits, ':', '-', '_', at most 255
PUBLIC_KEY = re.compile(r"^(ssh-|ecdsa-|sk-)\S+ \S+")
VERSION = re.compile(r"^[0-9]+(\.[0-9]+)?$")
DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
COOKIE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")  # an RFC 6265 cookie-name (a token)
RECORD_NAME = re.compile(r"^(@|\*|(\*\.)?[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?"
                         r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*)$")
TARGET = re.compile(r"^(@|[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?)*\.?)$")
URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")

ENGINES = ("pg", "mysql", "redis", "valkey")
NO_USERS = ("redis", "valkey")  # the API: user and database management is not supported there
ENTRY_PROTOCOLS = ("http", "https", "http2", "http3", "tcp", "udp")
TARGET_PROTOCOLS = ("http", "https", "http2", "tcp", "udp")
TLS_ENTRY = ("https", "http2", "http3")
HEALTH_PROTOCOLS = ("http", "https", "tcp")
STICKY_TYPES = ("none", "cookies")
SOURCE_TYPES = ("droplet", "tag", "ip_addr", "k8s", "app")
ENVIRONMENTS = ("Development", "Staging", "Production")
RECORD_TYPES = ("A", "AAAA", "CAA", "CNAME", "MX", "NS", "SRV", "TXT")
CAA_TAGS = ("issue", "issuewild", "iodef")
MIN_TTL = 30  # DigitalOcean's minimum TTL
MAX_TTL = 2147483647  # RFC 2181
USER_DATA_MAX = 64 * 1024  # the API: user data may not exceed 64 KiB
# Record fields beyond type/name/data/ttl, and the types they apply to (the API ignores them
# elsewhere and answers null, so a record that set one would differ on every run).
RECORD_FIELDS = {"priority": ("MX", "SRV"), "port": ("SRV",), "weight": ("SRV",), "flags": ("CAA",),
                 "tag": ("CAA",)}
RECORD_REQUIRED = {"MX": ("priority",), "SRV": ("priority", "port", "weight"), "CAA": ("flags", "tag")}

# Every setting, by container. GROUP and KEY stand for the names the user chooses; [] for list items.
KEYS: dict[str, tuple[str, ...]] = {
    "": ("name", "region", "vpc", "ssh_key", "droplets", "firewall", "load_balancer", "databases", "domain",
         "project", "monitoring", "output", "api"),
    "vpc": ("ip_range", "description"),
    "ssh_key": ("name", "public_key"),
    "droplets.GROUP": ("count", "size", "image", "user_data", "monitoring", "tags"),
    "firewall": ("public_ports", "ssh_sources"),
    "load_balancer": ("group", "forwarding_rules", "health_check", "sticky_sessions", "size_unit",
                      "redirect_http_to_https", "enable_proxy_protocol", "enable_backend_keepalive",
                      "http_idle_timeout_seconds", "disable_lets_encrypt_dns_records"),
    "load_balancer.forwarding_rules[]": ("entry_protocol", "entry_port", "target_protocol", "target_port",
                                         "certificate_id", "tls_passthrough"),
    "load_balancer.health_check": tuple(LB_HEALTH_CHECK_DEFAULTS),
    "load_balancer.sticky_sessions": ("type", "cookie_name", "cookie_ttl_seconds"),
    "databases.KEY": ("engine", "version", "size", "num_nodes", "users", "databases", "trusted_sources"),
    "databases.KEY.trusted_sources[]": ("type", "value"),
    "domain": ("name", "ttl", "records"),
    "domain.records[]": ("type", "name", "data", "ttl", "priority", "port", "weight", "flags", "tag"),
    "project": ("name", "environment", "purpose"),
    "monitoring": ("email", "slack", "uptime", "alerts"),
    "monitoring.slack[]": ("channel", "url"),
    "monitoring.uptime": ("hosts", "path", "type", "regions", "down_period", "latency_ms", "latency_period",
                          "ssl_expiry_days"),
    "monitoring.alerts.KEY": ("value", "window", "compare", "enabled"),
    "api": ("base_url", "ca_path", "validate_certs", "poll_interval"),
}

# DigitalOcean's own monitoring, the outside layer (docs/infra.md): an uptime check per public host with
# down, latency and certificate-expiry alerts, and droplet alert policies on the environment's tag.
# Memory and disk above 90 % are #24's thresholds; CPU over 10 minutes so a deploy's burst does not page.
UPTIME_DEFAULTS = {"path": "/", "type": "https", "regions": list(REGIONS), "down_period": "2m",
                   "latency_ms": 1000, "latency_period": "5m",
                   "ssl_expiry_days": 14}  # Let's Encrypt renews at 30 days left: under 14, renewal is failing
ALERT_DEFAULTS = {"cpu": {"value": 90, "window": "10m", "compare": "GreaterThan", "enabled": True},
                  "memory": {"value": 90, "window": "5m", "compare": "GreaterThan", "enabled": True},
                  "disk": {"value": 90, "window": "5m", "compare": "GreaterThan", "enabled": True}}


def key_paths() -> list[str]:
    """Every leaf setting as docs/infra.md names it (``load_balancer.health_check.port``)."""
    out = []
    for container, keys in KEYS.items():
        for key in keys:
            path = f"{container}.{key}" if container else key
            child = next((c for c in KEYS if c in (path, path + "[]", path + ".GROUP", path + ".KEY")), None)
            if child is None:
                out.append(path)
    return sorted(out)


# -- value checks -------------------------------------------------------------------------------

def _integer(value: Any) -> int | None:
    """A whole number written as one (10, "10"); None for anything else, booleans included."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.match(r"^[0-9]+$", value.strip()):
        return int(value)
    return None


def _whole(errors: Errors, path: str, value: Any, low: int, high: int | None = None, *,
           unit: str = "") -> int | None:
    number = _integer(value)
    unit = f" {unit}" if unit else ""
    if high is None:
        if number is None or number < low:
            errors.add(path, value, f"must be a whole number{unit} >= {low}")
            return None
    elif number is None or not low <= number <= high:
        errors.add(path, value, f"must be a whole number{unit} between {low} and {high}")
        return None
    return number


def _ttl(errors: Errors, path: str, value: Any) -> None:
    number = _integer(value)
    if number is None or not MIN_TTL <= number <= MAX_TTL:
        errors.add(path, value, f"is not a TTL: a whole number of seconds from {MIN_TTL} (DigitalOcean's minimum) "
                                f"to {MAX_TTL}")


def _port(errors: Errors, path: str, value: Any) -> int | None:
    number = _integer(value)
    if number is None or not 1 <= number <= 65535:
        errors.add(path, value, "is not a port (1-65535)")
        return None
    return number


def _bool(errors: Errors, path: str, value: Any) -> None:
    if not isinstance(value, bool):
        errors.add(path, value, "must be true or false")


def _text(errors: Errors, path: str, value: Any, limit: int = 255) -> None:
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        errors.add(path, value, f"must be a non-empty string of at most {limit} characters")


def _choice(errors: Errors, path: str, value: Any, choices: tuple[str, ...]) -> bool:
    if value not in choices:
        errors.add(path, value, f"is not one of {', '.join(choices)}")
        return False
    return True


def _slug(errors: Errors, path: str, value: Any, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (str, int)) or not SLUG.match(str(value)):
        errors.add(path, value, f"is not a slug (lower-case letters, digits, '-', '.', '_'; like {example})")


def _mapping(errors: Errors, path: str, value: Any, container: str) -> dict | None:
    """The dict at `path` with its unknown keys reported, or None (reported) when it is no dict."""
    if not isinstance(value, dict):
        errors.add(path, value, f"must be a mapping of {', '.join(KEYS[container])}")
        return None
    for key in value:
        if key not in KEYS[container]:
            errors.add(f"{path}.{key}", value[key], f"is not a setting here (known: {', '.join(KEYS[container])})")
    return value


def _items(errors: Errors, path: str, value: Any, what: str) -> list:
    if not isinstance(value, list):
        errors.add(path, value, f"must be a list of {what}")
        return []
    return value


def _missing(errors: Errors, path: str, what: str) -> None:
    errors.append(f"{path}: missing, needs {what}")


def _network(value: Any, *, host: bool = True) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """`value` as a network (a bare address when `host`); None unless it is one with no host bits set."""
    if not isinstance(value, str) or ("/" not in value and not host):
        return None
    try:
        return ipaddress.ip_network(value, strict=True)
    except ValueError:
        return None


# -- sections -----------------------------------------------------------------------------------

def _vpc(errors: Errors, path: str, vpc: Any) -> None:
    vpc = _mapping(errors, path, vpc, "vpc")
    if vpc is None:
        return
    if "ip_range" in vpc:
        network = _network(vpc["ip_range"], host=False)
        if network is None or network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 28:
            errors.add(path + ".ip_range", vpc["ip_range"],
                       "is not a private IPv4 CIDR (RFC 1918) between /16 and /28, like 10.10.0.0/20")
    if "description" in vpc and (not isinstance(vpc["description"], str) or len(vpc["description"]) > 255):
        errors.add(path + ".description", vpc["description"], "must be a string of at most 255 characters")


def _ssh_key(errors: Errors, path: str, key: Any) -> None:
    key = _mapping(errors, path, key, "ssh_key")
    if key is None:
        return
    if "name" in key:
        _text(errors, path + ".name", key["name"])
    if "public_key" not in key:
        _missing(errors, path + ".public_key", "an OpenSSH public key line (ssh-ed25519 AAAA... comment)")
        return
    public = key["public_key"]
    try:
        good = isinstance(public, str) and PUBLIC_KEY.match(public) is not None and bool(ssh_fingerprint(public))
    except (IndexError, ValueError):
        good = False
    if not good:
        errors.add(path + ".public_key", public, "is not an OpenSSH public key line (ssh-ed25519 AAAA... comment)")


def _named(errors: Errors, path: str, given: Any, *, shape: str, pattern: Any, what: str,
           check: Callable[[Errors, str, Any], None]) -> None:
    """A mapping of names to settings: the mapping, each name against `pattern`, each entry by `check`."""
    if not isinstance(given, dict):
        errors.add(path, given, f"must be a mapping of {shape}")
        return
    for name, entry in given.items():
        where = f"{path}.{name}"
        if not isinstance(name, str) or not pattern.match(name):
            errors.add(where, name, f"is not a {what}")
        check(errors, where, entry)


def _droplets(errors: Errors, path: str, groups: Any) -> None:
    _named(errors, path, groups, shape="group name to {count, size, image}", pattern=GROUP,
           what="group name (lower-case letter, then letters, digits or '-', at most 21)", check=_droplet_group)


def _droplet_group(errors: Errors, where: str, given: Any) -> None:
    group = _mapping(errors, where, given, "droplets.GROUP")
    if group is None:
        return
    for required, what in (("count", "a whole number >= 0"), ("size", "a size slug like s-1vcpu-1gb"),
                           ("image", "an image slug like debian-13-x64, or an image id")):
        if required not in group:
            _missing(errors, f"{where}.{required}", what)
    if "count" in group:
        _whole(errors, where + ".count", group["count"], 0)
    if "size" in group:
        _slug(errors, where + ".size", group["size"], "s-1vcpu-1gb")
    if "image" in group:
        _slug(errors, where + ".image", group["image"], "debian-13-x64")
    if "user_data" in group:
        data = group["user_data"]
        if not isinstance(data, str) or len(data.encode()) > USER_DATA_MAX:
            errors.add(where + ".user_data", data if not isinstance(data, str) else f"{len(data.encode())} bytes",
                       "must be plain text of at most 64 KiB")
    if "monitoring" in group:
        _bool(errors, where + ".monitoring", group["monitoring"])
    if "tags" in group:
        for index, tag in enumerate(_items(errors, where + ".tags", group["tags"], "tags")):
            if not isinstance(tag, str) or not TAG.match(tag):
                errors.add(f"{where}.tags[{index}]", tag, "is not a tag (letters, digits, ':', '-', '_', at most 255)")


def _firewall(errors: Errors, path: str, firewall: Any) -> None:
    firewall = _mapping(errors, path, firewall, "firewall")
    if firewall is None:
        return
    if "public_ports" in firewall:
        for index, port in enumerate(_items(errors, path + ".public_ports", firewall["public_ports"], "ports")):
            bounds = str(port).split("-") if isinstance(port, str) else [port]
            numbers = [_integer(b) for b in bounds]
            if (len(numbers) not in (1, 2) or any(n is None or not 1 <= n <= 65535 for n in numbers)
                    or numbers != sorted(numbers)):
                errors.add(f"{path}.public_ports[{index}]", port, "is not a port (1-65535) or a range like 8000-9000")
    if "ssh_sources" in firewall:
        for index, source in enumerate(_items(errors, path + ".ssh_sources", firewall["ssh_sources"], "CIDRs")):
            if _network(source) is None:
                errors.add(f"{path}.ssh_sources[{index}]", source,
                           "is not an address or CIDR without host bits (like 198.51.100.7/32)")


def _forwarding_rules(errors: Errors, path: str, rules: Any) -> None:
    if rules == []:
        errors.add(path, rules, "must hold at least one rule (leave it out for TCP 80 and 443 pass-through)")
    seen: dict[int, int] = {}
    for index, rule in enumerate(_items(errors, path, rules, "rules")):
        where = f"{path}[{index}]"
        port = _forwarding_rule(errors, where, rule)
        if port in seen:
            errors.add(where + ".entry_port", port, f"is also the entry port of {path}[{seen[port]}]")
        elif port is not None:
            seen[port] = index


def _forwarding_rule(errors: Errors, where: str, given: Any) -> int | None:
    """Check one rule; its entry port when that is good."""
    rule = _mapping(errors, where, given, "load_balancer.forwarding_rules[]")
    if rule is None:
        return None
    for key in ("entry_protocol", "entry_port", "target_protocol", "target_port"):
        if key not in rule:
            _missing(errors, f"{where}.{key}", "a protocol" if key.endswith("protocol") else "a port")
    entry, target = rule.get("entry_protocol"), rule.get("target_protocol")
    good = ("entry_protocol" not in rule or _choice(errors, where + ".entry_protocol", entry, ENTRY_PROTOCOLS),
            "target_protocol" not in rule or _choice(errors, where + ".target_protocol", target, TARGET_PROTOCOLS))
    if all(good) and "udp" in (entry, target) and entry != target:
        errors.add(where + ".target_protocol", target, f"must be udp exactly when entry_protocol is (it is {entry!r})")
    if "target_port" in rule:
        _port(errors, where + ".target_port", rule["target_port"])
    if "certificate_id" in rule and (not isinstance(rule["certificate_id"], str) or not rule["certificate_id"]):
        errors.add(where + ".certificate_id", rule["certificate_id"], "must be a certificate id")
    if "tls_passthrough" in rule:
        _bool(errors, where + ".tls_passthrough", rule["tls_passthrough"])
    if entry in TLS_ENTRY and not rule.get("certificate_id") and rule.get("tls_passthrough") is not True:
        errors.add(where + ".entry_protocol", entry, "needs certificate_id or tls_passthrough: true")
    return _port(errors, where + ".entry_port", rule["entry_port"]) if "entry_port" in rule else None


def _health_check(errors: Errors, path: str, check: Any) -> None:
    check = _mapping(errors, path, check, "load_balancer.health_check")
    if check is None:
        return
    good = dict(LB_HEALTH_CHECK_DEFAULTS)
    if "protocol" in check:
        _choice(errors, path + ".protocol", check["protocol"], HEALTH_PROTOCOLS)
    if "port" in check:
        _port(errors, path + ".port", check["port"])
    if "path" in check and (not isinstance(check["path"], str) or not check["path"].startswith("/")
                            or any(c.isspace() for c in check["path"])):
        errors.add(path + ".path", check["path"], "must be a URL path starting with '/'")
    for key, (low, high) in HEALTH_RANGES.items():
        if key in check:
            unit = "of seconds" if key.endswith("seconds") else ""
            good[key] = _whole(errors, f"{path}.{key}", check[key], low, high, unit=unit)
    interval, timeout = good["check_interval_seconds"], good["response_timeout_seconds"]
    if interval is not None and timeout is not None and timeout > interval:
        errors.add(path + ".response_timeout_seconds", timeout,
                   f"is longer than check_interval_seconds ({interval})")


def _sticky_sessions(errors: Errors, path: str, sticky: Any) -> None:
    sticky = _mapping(errors, path, sticky, "load_balancer.sticky_sessions")
    if sticky is None:
        return
    kind = sticky.get("type", "none")
    if not _choice(errors, path + ".type", kind, STICKY_TYPES):
        return
    for key in ("cookie_name", "cookie_ttl_seconds"):
        if key in sticky and kind != "cookies":
            errors.add(f"{path}.{key}", sticky[key], "applies only to type: cookies")
    if kind != "cookies":
        return
    if "cookie_name" in sticky and (not isinstance(sticky["cookie_name"], str)
                                    or not COOKIE.match(sticky["cookie_name"])):
        errors.add(path + ".cookie_name", sticky["cookie_name"], "is not a cookie name (an RFC 6265 token)")
    if "cookie_ttl_seconds" in sticky:
        _whole(errors, path + ".cookie_ttl_seconds", sticky["cookie_ttl_seconds"], 1, unit="of seconds")


def _load_balancer(errors: Errors, path: str, lb: Any, groups: dict | None) -> None:
    lb = _mapping(errors, path, lb, "load_balancer")
    if lb is None:
        return
    group = lb.get("group", "web")
    if groups is not None and group not in groups:
        errors.add(path + ".group", group, "is not a droplet group of berth_infra.droplets "
                                           f"({', '.join(map(str, groups)) or 'none'})")
    if "forwarding_rules" in lb:
        _forwarding_rules(errors, path + ".forwarding_rules", lb["forwarding_rules"])
    if "health_check" in lb:
        _health_check(errors, path + ".health_check", lb["health_check"])
    if "sticky_sessions" in lb:
        _sticky_sessions(errors, path + ".sticky_sessions", lb["sticky_sessions"])
    if "size_unit" in lb:
        _whole(errors, path + ".size_unit", lb["size_unit"], 1, 100)
    if "http_idle_timeout_seconds" in lb:
        _whole(errors, path + ".http_idle_timeout_seconds", lb["http_idle_timeout_seconds"], 30, 600,
               unit="of seconds")
    for key in ("redirect_http_to_https", "enable_proxy_protocol", "enable_backend_keepalive",
                "disable_lets_encrypt_dns_records"):
        if key in lb:
            _bool(errors, f"{path}.{key}", lb[key])


def _trusted_sources(errors: Errors, path: str, sources: Any) -> None:
    for index, given in enumerate(_items(errors, path, sources, "{type, value}")):
        where = f"{path}[{index}]"
        source = _mapping(errors, where, given, "databases.KEY.trusted_sources[]")
        if source is None:
            continue
        if "type" not in source or "value" not in source:
            _missing(errors, f"{where}.{'type' if 'type' not in source else 'value'}",
                     f"a type ({', '.join(SOURCE_TYPES)}) and a value")
            continue
        kind, value = source["type"], source["value"]
        if not _choice(errors, where + ".type", kind, SOURCE_TYPES):
            continue
        if kind == "ip_addr" and _network(value) is None:
            errors.add(where + ".value", value, "is not an address or CIDR without host bits")
        elif kind == "droplet" and _integer(value) is None:
            errors.add(where + ".value", value, "is not a droplet id")
        elif kind == "tag" and (not isinstance(value, str) or not TAG.match(value)):
            errors.add(where + ".value", value, "is not a tag (letters, digits, ':', '-', '_', at most 255)")
        elif kind in ("k8s", "app") and (not isinstance(value, str) or not value.strip()):
            errors.add(where + ".value", value, f"is not a {kind} id")


def _databases(errors: Errors, path: str, databases: Any) -> None:
    _named(errors, path, databases, shape="key to {engine, version, size, ...}", pattern=NAME,
           what="database key (lower-case letter, then letters, digits or '-', at most 31)", check=_database)


def _database(errors: Errors, where: str, given: Any) -> None:
    db = _mapping(errors, where, given, "databases.KEY")
    if db is None:
        return
    engine = db.get("engine", "pg")
    _choice(errors, where + ".engine", engine, ENGINES)
    if "version" in db and (isinstance(db["version"], bool) or not VERSION.match(str(db["version"]))):
        errors.add(where + ".version", db["version"], "is not an engine version (like \"16\")")
    if "size" not in db:
        _missing(errors, where + ".size", "a size slug like db-s-1vcpu-1gb")
    else:
        _slug(errors, where + ".size", db["size"], "db-s-1vcpu-1gb")
    if "num_nodes" in db:
        _whole(errors, where + ".num_nodes", db["num_nodes"], 1, 3)
    for key in ("users", "databases"):
        if key in db and engine in NO_USERS:
            errors.add(f"{where}.{key}", db[key], f"cannot be managed on engine {engine} (the API refuses)")
        elif key in db:
            for index, item in enumerate(_items(errors, f"{where}.{key}", db[key], "names")):
                if not isinstance(item, str) or not DB_NAME.match(item):
                    errors.add(f"{where}.{key}[{index}]", item,
                               "is not a name (a letter or '_', then letters, digits, '_', '-', at most 63)")
    if "trusted_sources" in db:
        _trusted_sources(errors, where + ".trusted_sources", db["trusted_sources"])


def _record(errors: Errors, where: str, record: dict) -> None:
    kind = record.get("type")
    if "type" not in record:
        _missing(errors, where + ".type", f"a record type ({', '.join(RECORD_TYPES)})")
        return
    if not isinstance(kind, str) or kind.upper() not in RECORD_TYPES:
        errors.add(where + ".type", kind, f"is not a record type berth manages ({', '.join(RECORD_TYPES)})")
        return
    kind = kind.upper()
    name = record.get("name", "@")
    if not isinstance(name, str) or not RECORD_NAME.match(name):
        errors.add(where + ".name", name, "is not a name relative to the zone ('@', 'www', '_sip._tcp', '*')")
    if "data" not in record:
        _missing(errors, where + ".data", "the record's data")
    else:
        _record_data(errors, where + ".data", kind, record["data"])
    if "ttl" in record:
        _ttl(errors, where + ".ttl", record["ttl"])
    _record_fields(errors, where, kind, record)


def _record_fields(errors: Errors, where: str, kind: str, record: dict) -> None:
    """priority, port, weight (MX, SRV) and flags, tag (CAA): where they apply, and their ranges."""
    for key, kinds in RECORD_FIELDS.items():
        if key in record and kind not in kinds:
            errors.add(f"{where}.{key}", record[key], f"applies only to {' and '.join(kinds)} records")
    for key in RECORD_REQUIRED.get(kind, ()):
        if key not in record:
            _missing(errors, f"{where}.{key}", f"a {key} ({kind} records need {', '.join(RECORD_REQUIRED[kind])})")
    for key, low, high in (("priority", 0, 65535), ("weight", 0, 65535), ("flags", 0, 255)):
        if key in record and kind in RECORD_FIELDS[key]:
            _whole(errors, f"{where}.{key}", record[key], low, high)
    if "port" in record and kind == "SRV":
        _port(errors, where + ".port", record["port"])
    if "tag" in record and kind == "CAA":
        _choice(errors, where + ".tag", record["tag"], CAA_TAGS)


def _record_data(errors: Errors, where: str, kind: str, data: Any) -> None:
    if kind in ("A", "AAAA"):
        try:
            good = isinstance(data, str) and ipaddress.ip_address(data).version == (4 if kind == "A" else 6)
        except ValueError:
            good = False
        if not good:
            errors.add(where, data, f"is not an IPv{4 if kind == 'A' else 6} address")
    elif kind in ("CNAME", "MX", "NS", "SRV"):
        if not isinstance(data, str) or len(data) > 253 or not TARGET.match(data):
            errors.add(where, data, "is not a host name (like mail.example.com.)")
    elif not isinstance(data, str) or not data.strip():
        errors.add(where, data, "must be a non-empty string")


def _domain(errors: Errors, path: str, domain: Any, has_lb: bool) -> None:
    domain = _mapping(errors, path, domain, "domain")
    if domain is None:
        return
    if "name" not in domain:
        _missing(errors, path + ".name", "the zone, like example.com")
    else:
        problem = hostname_problem(domain["name"])
        if problem or "." not in domain["name"]:
            errors.add(path + ".name", domain["name"], problem or "is not a zone (like example.com)")
    if "ttl" in domain:
        _ttl(errors, path + ".ttl", domain["ttl"])
    seen: dict[tuple, int] = {}
    if has_lb:
        seen[("A", "@")] = -1
    for index, given in enumerate(_items(errors, path + ".records", domain.get("records", []), "records")):
        where = f"{path}.records[{index}]"
        record = _mapping(errors, where, given, "domain.records[]")
        if record is None:
            continue
        _record(errors, where, record)
        key = (str(record.get("type", "")).upper(), record.get("name", "@"))
        if key in seen:
            other = "berth's own A record to the load balancer" if seen[key] < 0 else f"records[{seen[key]}]"
            errors.add(where, f"{key[0]} {key[1]}", f"has the type and name of {other} (one record per type and name)")
        seen.setdefault(key, index)


def _project(errors: Errors, path: str, project: Any) -> None:
    project = _mapping(errors, path, project, "project")
    if project is None:
        return
    if "name" in project:
        _text(errors, path + ".name", project["name"], 175)
    if "environment" in project:
        _choice(errors, path + ".environment", project["environment"], ENVIRONMENTS)
    if "purpose" in project:
        _text(errors, path + ".purpose", project["purpose"])


def _monitoring(errors: Errors, path: str, given: Any, zone: Any) -> None:
    monitoring = _mapping(errors, path, given, "monitoring")
    if monitoring is None:
        return
    emails = _items(errors, path + ".email", monitoring.get("email", []), "email addresses")
    for index, email in enumerate(emails):
        if not isinstance(email, str) or not EMAIL.match(email):
            errors.add(f"{path}.email[{index}]", email, "is not an email address")
    channels = _items(errors, path + ".slack", monitoring.get("slack", []), "{channel, url}")
    for index, given_channel in enumerate(channels):
        where = f"{path}.slack[{index}]"
        channel = _mapping(errors, where, given_channel, "monitoring.slack[]")
        if channel is None:
            continue
        if "channel" not in channel:
            _missing(errors, where + ".channel", "the channel's name")
        else:
            _text(errors, where + ".channel", channel["channel"])
        url = channel.get("url")
        if not isinstance(url, str) or not URL.match(url) or not url.startswith("https://"):
            # never the value: a webhook URL is the webhook's credential
            errors.append(f"{where}.url: (hidden) must be the Slack webhook's https:// URL")
    if not emails and not channels:
        _missing(errors, f"{path}.email", "at least one email address or Slack channel (monitoring.slack) to notify")
    if "uptime" in monitoring:
        _uptime(errors, path + ".uptime", monitoring["uptime"], zone)
    else:
        _uptime_hosts(errors, path + ".uptime.hosts", {}, zone)
    if "alerts" in monitoring:
        _named(errors, path + ".alerts", monitoring["alerts"], shape="metric to {value, window, compare, enabled}",
               pattern=re.compile("^(" + "|".join(METRICS) + ")$"), what=f"metric ({', '.join(METRICS)})",
               check=_alert_policy)


def _uptime(errors: Errors, path: str, given: Any, zone: Any) -> None:
    uptime = _mapping(errors, path, given, "monitoring.uptime")
    if uptime is None:
        return
    _uptime_hosts(errors, path + ".hosts", uptime, zone)
    if "path" in uptime and (not isinstance(uptime["path"], str) or not uptime["path"].startswith("/")
                             or any(c.isspace() for c in uptime["path"])):
        errors.add(path + ".path", uptime["path"], "must be a URL path starting with '/'")
    if "type" in uptime:
        _choice(errors, path + ".type", uptime["type"], ("https", "http"))
    if "regions" in uptime:
        regions = _items(errors, path + ".regions", uptime["regions"], "regions")
        if uptime["regions"] == []:
            errors.add(path + ".regions", [], f"must name at least one of {', '.join(REGIONS)}")
        for index, region in enumerate(regions):
            _choice(errors, f"{path}.regions[{index}]", region, REGIONS)
    for key in ("down_period", "latency_period"):
        if key in uptime:
            _choice(errors, f"{path}.{key}", uptime[key], PERIODS)
    if "latency_ms" in uptime:
        _whole(errors, path + ".latency_ms", uptime["latency_ms"], 1, unit="of milliseconds")
    if "ssl_expiry_days" in uptime:
        _whole(errors, path + ".ssl_expiry_days", uptime["ssl_expiry_days"], 1, 365, unit="of days")


def _uptime_hosts(errors: Errors, path: str, uptime: dict, zone: Any) -> None:
    if "hosts" not in uptime:
        if not isinstance(zone, str):
            _missing(errors, path, "the public host names to probe (there is no domain.name to default to)")
        return
    for index, host in enumerate(_items(errors, path, uptime["hosts"], "host names")):
        problem = hostname_problem(host)
        if problem:
            errors.add(f"{path}[{index}]", host, problem)


def _alert_policy(errors: Errors, where: str, given: Any) -> None:
    policy = _mapping(errors, where, given, "monitoring.alerts.KEY")
    if policy is None:
        return
    metric = where.rsplit(".", 1)[1]
    if "value" not in policy and metric not in ALERT_DEFAULTS and policy.get("enabled") is not False:
        _missing(errors, where + ".value", "the threshold")
    if "value" in policy:
        value = policy["value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            errors.add(where + ".value", value, "must be a number >= 0")
        elif metric in PERCENT_METRICS and not 0 < value <= 100:
            errors.add(where + ".value", value, "must be a percentage above 0 and at most 100")
    if "window" in policy:
        _choice(errors, where + ".window", policy["window"], WINDOWS)
    if "compare" in policy:
        _choice(errors, where + ".compare", policy["compare"], COMPARES)
    if "enabled" in policy:
        _bool(errors, where + ".enabled", policy["enabled"])


def monitoring_plan(infra: dict) -> dict:
    """What infra.yml converges for ``berth_infra.monitoring`` (a checked tree): the uptime checks, one per
    public host, and the alert policies, one per metric (``state: absent`` for a metric turned off).
    Recipients are not in the plan: infra.yml passes them to the modules itself (Slack URLs are secrets)."""
    monitoring = infra.get("monitoring")
    if not isinstance(monitoring, dict):
        return {"uptime_checks": [], "alert_policies": []}
    name, tag = infra["name"], f"berth-{infra['name']}"
    uptime = {**UPTIME_DEFAULTS, **(monitoring.get("uptime") or {})}
    zone = (infra.get("domain") or {}).get("name")
    hosts = uptime.get("hosts", [zone] if zone else [])
    checks = []
    for host in hosts:
        alerts = [{"type": "down", "period": uptime["down_period"]},
                  {"type": "latency", "threshold": int(uptime["latency_ms"]), "period": uptime["latency_period"]}]
        if uptime["type"] == "https":
            alerts.append({"type": "ssl_expiry", "threshold": int(uptime["ssl_expiry_days"])})
        checks.append({"name": f"{name}-uptime-{host}", "target": f"{uptime['type']}://{host}{uptime['path']}",
                       "type": uptime["type"], "regions": sorted(uptime["regions"]), "alerts": alerts})
    policies = []
    given = monitoring.get("alerts") or {}
    for metric in [*ALERT_DEFAULTS, *(m for m in given if m not in ALERT_DEFAULTS)]:
        settings = {"compare": "GreaterThan", "window": "5m", "enabled": True, **ALERT_DEFAULTS.get(metric, {}),
                    **(given.get(metric) or {})}
        policies.append({"description": f"{name} {metric}", "metric": metric, "value": settings.get("value"),
                         "window": settings["window"], "compare": settings["compare"], "tags": [tag],
                         "state": "present" if settings["enabled"] else "absent"})
    return {"uptime_checks": checks, "alert_policies": policies}


def _api(errors: Errors, path: str, api: Any) -> None:
    api = _mapping(errors, path, api, "api")
    if api is None:
        return
    if "base_url" in api and (not isinstance(api["base_url"], str) or not URL.match(api["base_url"])):
        errors.add(path + ".base_url", api["base_url"], "is not an http(s) URL")
    if "ca_path" in api and (not isinstance(api["ca_path"], str) or not api["ca_path"]):
        errors.add(path + ".ca_path", api["ca_path"], "must be the path of a PEM file")
    if "validate_certs" in api:
        _bool(errors, path + ".validate_certs", api["validate_certs"])
    if "poll_interval" in api:
        value = api["poll_interval"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 60:
            errors.add(path + ".poll_interval", value, "must be seconds above 0 and at most 60")


def _name(errors: Errors, path: str, name: Any) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        errors.add(path, name,
                   "is not an environment name (lower-case letter, then letters, digits or '-', at most 31)")


def _region(errors: Errors, path: str, region: Any) -> None:
    if not isinstance(region, str) or not REGION.match(region):
        errors.add(path, region, "is not a region slug (like nyc3)")


def _output(errors: Errors, path: str, output: Any) -> None:
    if not isinstance(output, str) or not output.strip():
        errors.add(path, output, "must be a file path")


REQUIRED = {"name": "an environment name (lower-case letter, then letters, digits or '-')",
            "region": "a region slug like nyc3", "ssh_key": "{public_key: an OpenSSH public key line}",
            "droplets": "a mapping of group name to {count, size, image}"}


def check(infra: Any, api: Any = None) -> list[str]:
    """Every problem of ``berth_infra`` (and of ``berth_infra_api`` when given), one line each, in the
    order of the tree."""
    errors = Errors()
    root = "berth_infra"
    if not isinstance(infra, dict):
        errors.add(root, infra, "must be a mapping (see docs/infra.md)")
        return list(errors)
    _mapping(errors, root, infra, "")
    for key, what in REQUIRED.items():
        if key not in infra:
            _missing(errors, f"{root}.{key}", what)
    groups = infra.get("droplets") if isinstance(infra.get("droplets"), dict) else None
    sections = {
        "name": _name, "region": _region, "vpc": _vpc, "ssh_key": _ssh_key, "droplets": _droplets,
        "firewall": _firewall,
        "load_balancer": lambda e, path, lb: _load_balancer(e, path, lb, groups),
        "databases": _databases,
        "domain": lambda e, path, domain: _domain(e, path, domain, "load_balancer" in infra),
        "monitoring": lambda e, path, given: _monitoring(e, path, given, (infra.get("domain") or {}).get("name")
                                                         if isinstance(infra.get("domain"), dict) else None),
        "project": _project, "output": _output, "api": _api}
    for key in KEYS[""]:
        if key in infra:
            sections[key](errors, f"{root}.{key}", infra[key])
    if api is not None:
        _api(errors, "berth_infra_api", api)
    return list(errors)

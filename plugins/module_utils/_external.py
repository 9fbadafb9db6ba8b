# Copyright: berth developers
# Apache License 2.0
"""External services a stack reaches by URL (managed PostgreSQL, Redis...), not run by berth.

``berth_external: {db: {url: postgresql://app:secret@db.example.com:25060/app?sslmode=require,
env: {api: DATABASE_URL}}}``: the URL goes into the named services' secret env files (so a change is a new
release, compared by HMAC, restored by a rollback), and the spec keeps only what the pre-flight needs and
a difference report may show: scheme, host, port, TLS and where the URL goes. No password, user, path or
query ever leaves this module except inside the secret env.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

# app_platform: what App Platform gets instead of the URL (a bindable such as ${pg.DATABASE_URL}).
KEYS = {"url", "env", "timeout", "app_platform"}
# Ports of the schemes people write without one; any other scheme needs its port in the URL.
DEFAULT_PORTS = {"postgresql": 5432, "postgres": 5432, "redis": 6379, "rediss": 6379, "mysql": 3306,
                 "mongodb": 27017, "amqp": 5672, "amqps": 5671, "http": 80, "https": 443, "nats": 4222,
                 "tls": 443}
# Schemes that speak TLS from the first byte.
TLS_SCHEMES = {"rediss", "amqps", "https", "tls"}
# PostgreSQL asks for TLS inside its own protocol (SSLRequest) when the URL's sslmode requires it.
PG_SCHEMES = {"postgresql", "postgres"}
PG_TLS_MODES = {"require", "verify-ca", "verify-full"}
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]{0,30}$")
LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}$")


def shown(url: Any) -> Any:
    """A URL as a message may show it: scheme, host and port only (no user, password, path or query)."""
    if not isinstance(url, str):
        return "(hidden)"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        return "(hidden)"
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.netloc:
        return "(hidden)"
    where = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{'(hidden)@' if '@' in parts.netloc else ''}{where}{f':{port}' if port else ''}"


def _host_ok(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    return len(host) <= 253 and all(LABEL.match(label) for label in host.split("."))


URL_FORM = "must be a URL (scheme://[user:password@]host[:port][/...], no spaces)"


def _endpoint_problem(url: Any) -> tuple[dict | None, str]:
    """(scheme, host, port and tls of a URL, '') or (None, what is wrong with it)."""
    if not isinstance(url, str) or not url or any(c.isspace() for c in url):
        return None, URL_FORM
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    try:
        port = parts.port if parts.port is not None else DEFAULT_PORTS.get(scheme)
    except ValueError:
        port = 0
    problem = URL_FORM if not SCHEME.match(scheme) or not parts.netloc else \
        "has no host name or IP address" if not host or not _host_ok(host) else \
        "has no valid port (1-65535)" if port == 0 else \
        f"needs a port: {scheme} has no default (defaults: {', '.join(sorted(DEFAULT_PORTS))})" if port is None else ""
    if problem:
        return None, problem
    query = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)
    tls = "tls" if scheme in TLS_SCHEMES else \
        "postgres" if scheme in PG_SCHEMES and query.get("sslmode") in PG_TLS_MODES else "none"
    return {"scheme": scheme, "host": host.lower(), "port": port, "tls": tls}, ""


def _placed(path: str, name: str, wanted: Any, *, stack: dict, env: dict, targets: dict, errors: Any) -> dict:
    """service: ENV_NAME where the URL goes, each checked (a name set elsewhere would be overwritten)."""
    if not isinstance(wanted, dict) or not wanted:
        errors.add(path, wanted, "must be a dict of service: ENV_NAME (where the URL goes)")
        return {}
    placed = {}
    for service, key in wanted.items():
        where = f"{path}.{service}"
        if service not in stack:
            errors.add(where, key, f"names no service or accessory of this stack ({', '.join(stack)})")
        elif not isinstance(key, str) or not ENV_KEY.match(key):
            errors.add(where, key, "is not an environment variable name (letters, digits, '_')")
        elif key in (stack[service].get("env") or {}) or key in ((env or {}).get(service) or {}):
            errors.add(where, key, f"is already set in the env of {service} (the URL is its only value)")
        elif (service, key) in targets:
            errors.add(where, key, f"is also where berth_external.{targets[service, key]} goes")
        else:
            targets[service, key] = name
            placed[service] = key
    return placed


def check(given: Any, services: dict, accessories: dict, env: dict, errors: Any) -> dict:
    """berth_external normalised for the spec (no URL in it); errors name the variable, never the password."""
    if given in (None, {}, ""):
        return {}
    if not isinstance(given, dict):
        errors.add("berth_external", "(hidden)", "must be a dict of name: {url, env, timeout, app_platform}")
        return {}
    out: dict[str, dict] = {}
    targets: dict[tuple[str, str], str] = {}
    stack = {**accessories, **services}
    for name, entry in given.items():
        path = f"berth_external.{name}"
        if not isinstance(name, str) or not NAME.match(name):
            errors.add("berth_external", name, "is not a name (lower-case letter, then letters, digits or '-')")
            continue
        if not isinstance(entry, dict):
            errors.add(path, "(hidden)", "must be {url, env, timeout, app_platform}")
            continue
        for key in sorted(set(entry) - KEYS):
            errors.add(f"{path}.{key}", entry[key], f"is not a setting here (known: {', '.join(sorted(KEYS))})")
        endpoint, problem = _endpoint_problem(entry.get("url"))
        if problem:
            errors.add(path + ".url", shown(entry.get("url")), problem)
        timeout = entry.get("timeout", 5)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0.5 <= timeout <= 60:
            errors.add(path + ".timeout", timeout, "must be seconds between 0.5 and 60")
            timeout = 5
        if "app_platform" in entry and (not isinstance(entry["app_platform"], str) or not entry["app_platform"]):
            errors.add(path + ".app_platform", "(hidden)", "must be the value App Platform gets instead of the URL")
        placed = _placed(path + ".env", name, entry.get("env"), stack=stack, env=env, targets=targets, errors=errors)
        if endpoint:
            out[name] = {**endpoint, "env": placed, "timeout": float(timeout)}
    return out


def merged_env(env: Any, external: Any, field: str = "url") -> dict:
    """The secret env with each external URL (or its `field`) under its env names. Lenient: whatever is
    malformed is left out here, as berth.ops.release_spec refuses it before anything uses this."""
    out = {name: dict(values) for name, values in (env or {}).items() if isinstance(values, dict)} \
        if isinstance(env, dict) else {}
    for entry in (external.values() if isinstance(external, dict) else []):
        if not isinstance(entry, dict) or not isinstance(entry.get(field), str) \
                or not isinstance(entry.get("env"), dict):
            continue
        for service, key in entry["env"].items():
            if isinstance(service, str) and isinstance(key, str):
                out.setdefault(service, {})[key] = entry[field]
    return out

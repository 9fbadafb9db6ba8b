# Copyright: berth developers
# Apache License 2.0
"""A stack's inputs checked and normalised into a release spec, on the controller, before anything changes.

``build(inputs)`` returns ``(spec, errors)``. Every error names the variable path and the bad value
(``berth_services.web.port: 70000 is not a port (1-65535)``). The spec is plain data (JSON-able,
colour-neutral, without secret values): _render.py renders and compares it.
"""

from __future__ import annotations

import re
from typing import Any

from ansible_collections.berth.ops.plugins.module_utils import _external
from ansible_collections.berth.ops.plugins.module_utils._render import router_name

APP = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
SERVICE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# An OCI reference: [registry[:port]/]path[:tag][@sha256:hex] (lower-case path components).
IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9][a-zA-Z0-9.-]*(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[0-9a-f]{64})?$")
DURATION = re.compile(r"^(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h))+$")
MEMORY = re.compile(r"^[0-9]+(?:\.[0-9]+)?(?:[bkmgt]|[kmgt]i?b)?$", re.IGNORECASE)
USER = re.compile(r"^(?:[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})(?::(?:[a-z_][a-z0-9_-]{0,31}|[0-9]{1,10}))?$")
HEALTH_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")
# The secret env's one name in messages (env_files_services is its deprecated alias, read by the roles' defaults).
ENV_VARIABLE = "berth_env"

TLS_MODES = ("files", "acme", "none")
SERVICE_KEYS = {"image", "port", "rule", "routes", "health", "health_path", "command", "env", "volumes", "cpus",
                "memory", "healthcheck", "stop_grace_period", "user", "read_only", "tmpfs", "cap_drop", "cap_add",
                "no_new_privileges", "ulimits", "logging", "drain", "singleton", "replicas"}
ACCESSORY_KEYS = SERVICE_KEYS - {"port", "rule", "routes", "health", "health_path", "drain", "singleton", "replicas"}
# What a singleton (one container outside the colours, nobody routes to it) cannot have.
SINGLETON_REFUSES = ("port", "rule", "routes", "health", "health_path", "replicas")
# Replicas of one service inside a colour, each gated and load-balanced by Traefik.
MAX_REPLICAS = 20
ROUTE_KEYS = {"rule", "host", "path", "priority", "middlewares"}
# Middlewares a route may declare, each a dict with one of these keys (rendered by _render.middleware).
MIDDLEWARES = ("strip_prefix", "redirect_scheme", "redirect_regex", "headers", "basic_auth", "rate_limit")
# Traefik's headers middleware options berth passes on, by the type each takes.
HEADER_OPTIONS: dict[str, type] = {
    **dict.fromkeys(("accessControlAllowCredentials", "addVaryHeader", "frameDeny", "contentTypeNosniff",
                     "browserXssFilter", "stsIncludeSubdomains", "stsPreload", "forceSTSHeader"), bool),
    **dict.fromkeys(("accessControlAllowOriginList", "accessControlAllowMethods", "accessControlAllowHeaders",
                     "accessControlExposeHeaders"), list),
    **dict.fromkeys(("accessControlMaxAge", "stsSeconds"), int),
    **dict.fromkeys(("referrerPolicy", "contentSecurityPolicy", "permissionsPolicy", "customFrameOptionsValue"), str),
    **dict.fromkeys(("customRequestHeaders", "customResponseHeaders"), dict),
}
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
CAPABILITY = re.compile(r"^(?:ALL|[A-Z][A-Z0-9_]{1,30})$")
TMPFS = re.compile(r"^/[A-Za-z0-9._/-]*(?::[a-z0-9=,]+)?$")
# Resource limits Docker takes (`docker run --ulimit`), from setrlimit(2).
ULIMITS = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc", "rss",
           "rtprio", "rttime", "sigpending", "stack")
LOG_DRIVER = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
HTPASSWD_LINE = re.compile(r"^[^:\s]+:\S+$")
HEALTH_DEFAULTS: dict[str, Any] = {"path": "/", "status": [200], "body": "", "json": {}, "interval": 1.0,
                                   "timeout": 5.0, "successes": 3, "start_timeout": 120.0,
                                   "max_bad_answers": 3, "max_errors": 3}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval", "disable"}
# Traefik v3 rule matchers (https://doc.traefik.io/traefik/routing/routers/#rule).
MATCHERS = {"Host", "HostRegexp", "Path", "PathPrefix", "PathRegexp", "Method", "Header", "HeaderRegexp",
            "Query", "QueryRegexp", "ClientIP"}
RULE_TOKEN = re.compile(r"\s*(?:(?P<op>&&|\|\||!|\(|\))|(?P<matcher>[A-Za-z]+)\((?P<args>(?:`[^`]*`\s*,?\s*)*)\))")


class Errors(list):
    def add(self, path: str, value: Any, problem: str) -> None:
        self.append(f"{path}: {value!r} {problem}")


def unknown_options(action: str, args: dict, valid: frozenset[str]) -> dict | None:
    """A controller-side action's refusal of options it does not take, or None."""
    unknown = sorted(set(args) - valid)
    return {"failed": True, "msg": f"{action}: unknown options {unknown}"} if unknown else None


def refusal(errors: list[str], consequence: str, one_line: bool = True) -> dict:
    """A failed result naming every bad input at once: `N bad inputs, <consequence>: ...`."""
    head = f"{len(errors)} bad input{'s' if len(errors) > 1 else ''}, {consequence}:"
    body = (" " + "; ".join(errors)) if one_line else "".join(f"\n- {error}" for error in errors)
    return {"failed": True, "errors": errors, "msg": head + body}


def hostname_problem(name: str) -> str | None:
    if not isinstance(name, str) or not name:
        return "is not a host name"
    labels = name.split(".")
    if len(name) > 253 or not all(LABEL.match(label) for label in labels):
        return "is not an RFC 1123 host name (lower-case letters, digits, '-', dot-separated labels of 1-63)"
    return None


def rule_problem(rule: Any) -> str | None:
    """None when `rule` is a Traefik rule made only of known matchers, &&, ||, ! and parentheses."""
    if not isinstance(rule, str) or not rule.strip():
        return "is not a Traefik rule"
    position, depth, expect_operand = 0, 0, True
    while position < len(rule):
        if not rule[position:].strip():
            break
        match = RULE_TOKEN.match(rule, position)
        if not match:
            return f"is not a Traefik rule (cannot read {rule[position:].strip()[:20]!r})"
        op, matcher = match.group("op"), match.group("matcher")
        if matcher:
            if matcher not in MATCHERS:
                return f"uses unknown matcher {matcher}() (known: {', '.join(sorted(MATCHERS))})"
            if not expect_operand or not match.group("args").strip():
                return "is not a Traefik rule (a matcher needs `backquoted` arguments and an operator before it)"
            expect_operand = False
        elif op in ("&&", "||"):
            if expect_operand:
                return f"is not a Traefik rule ({op} without a left side)"
            expect_operand = True
        elif op in {"!", "("}:
            if not expect_operand:
                return f"is not a Traefik rule ({op} after an operand)"
            depth += op == "("
        elif op == ")":
            depth -= 1
            if depth < 0 or expect_operand:
                return "is not a Traefik rule (unbalanced parentheses)"
        position = match.end()
    if depth != 0 or expect_operand:
        return "is not a Traefik rule (incomplete)"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and re.match(r"^[0-9]+(\.[0-9]+)?$", value.strip()):
        return float(value)
    return None


def _integer(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None and number == int(number) else None


def _health(path: str, svc: dict, errors: Errors) -> dict:
    given = svc.get("health", {})
    if not isinstance(given, dict):
        errors.add(path + ".health", given, "must be a dict of health settings")
        given = {}
    health = dict(HEALTH_DEFAULTS)
    if "health_path" in svc:
        health["path"] = svc["health_path"]
    for key in sorted(set(given) - set(HEALTH_DEFAULTS)):
        errors.add(f"{path}.health.{key}", given[key],
                   f"is not a health setting ({', '.join(sorted(HEALTH_DEFAULTS))})")
    health.update({k: v for k, v in given.items() if k in HEALTH_DEFAULTS})
    where = path + (".health.path" if "path" in given or "health_path" not in svc else ".health_path")
    if not isinstance(health["path"], str) or not HEALTH_PATH.match(health["path"]):
        errors.add(where, health["path"], "must be a URL path starting with '/'")
    statuses = health["status"] if isinstance(health["status"], list) else [health["status"]]
    codes = [_integer(s) for s in statuses]
    if not statuses or any(c is None or not 100 <= c <= 599 for c in codes):
        errors.add(path + ".health.status", health["status"], "must be HTTP statuses (100-599)")
    else:
        health["status"] = codes
    if not isinstance(health["body"], str):
        errors.add(path + ".health.body", health["body"], "must be a string the body contains")
    if not isinstance(health["json"], dict):
        errors.add(path + ".health.json", health["json"], "must be a dict of JSON fields and values")
    for key, low, high in (("interval", 0.05, 300), ("timeout", 0.05, 300), ("start_timeout", 1, 3600)):
        number = _number(health[key])
        if number is None or not low <= number <= high:
            errors.add(f"{path}.health.{key}", health[key], f"must be seconds between {low:g} and {high:g}")
        else:
            health[key] = number
    for key, low, high in (("successes", 1, 100), ("max_bad_answers", 0, 1000), ("max_errors", 0, 1000)):
        number = _integer(health[key])
        if number is None or not low <= number <= high:
            errors.add(f"{path}.health.{key}", health[key], f"must be a whole number between {low} and {high}")
        else:
            health[key] = number
    return health


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and "\0" not in v for v in value)


def _flag(path: str, value: Any, errors: Errors) -> bool:
    if not isinstance(value, bool):
        errors.add(path, value, "must be true or false")
    return value


def _duration(path: str, value: Any, errors: Errors, example: str = "30s") -> str:
    if isinstance(value, bool) or not DURATION.match(str(value)):
        errors.add(path, value, f"is not a duration (for example {example})")
    return str(value)


def _whole(path: str, value: Any, low: int, high: int, errors: Errors) -> int | None:
    number = _integer(value)
    if number is None or not low <= number <= high:
        errors.add(path, value, f"must be a whole number between {low} and {high}")
    return number


def _paths(path: str, value: Any, errors: Errors) -> list:
    prefixes = [value] if isinstance(value, str) else value
    if not _strings(prefixes) or not prefixes or not all(HEALTH_PATH.match(p) for p in prefixes):
        errors.add(path, value, "must be a URL path starting with '/' or a list of them")
    return prefixes


def _headers(path: str, given: Any, errors: Errors) -> dict:
    if not isinstance(given, dict) or not given:
        errors.add(path, given, f"must be a dict of Traefik headers options ({', '.join(sorted(HEADER_OPTIONS))})")
        return {}
    for key, value in given.items():
        kind = HEADER_OPTIONS.get(key)
        where = f"{path}.{key}"
        if kind is None:
            errors.add(where, value, f"is not a headers option ({', '.join(sorted(HEADER_OPTIONS))})")
        elif kind is bool:
            _flag(where, value, errors)
        elif kind is int:
            _whole(where, value, 0, 10**9, errors)
        elif kind is str and (not isinstance(value, str) or any(c in value for c in "\r\n\0")):
            errors.add(where, value, "must be a one-line string")
        elif kind is list and (not _strings(value) or any(c in v for v in value for c in "\r\n")):
            errors.add(where, value, "must be a list of strings")
        elif kind is dict and (not isinstance(value, dict) or not all(
                HEADER_NAME.match(str(k)) and isinstance(v, str) and not any(c in v for c in "\r\n\0")
                for k, v in value.items())):
            errors.add(where, value, "must be a dict of header names and one-line values ('' removes one)")
    return {key: (_integer(v) if HEADER_OPTIONS.get(key) is int else v) for key, v in given.items()}


def _middleware(path: str, given: Any, errors: Errors) -> dict:
    """One route middleware, normalised: {kind: settings}."""
    if not isinstance(given, dict) or len(given) != 1 or next(iter(given)) not in MIDDLEWARES:
        errors.add(path, given, f"must be a dict with one of {', '.join(MIDDLEWARES)}")
        return {}
    kind, value = next(iter(given.items()))
    where = f"{path}.{kind}"
    if kind == "strip_prefix":
        return {kind: {"prefixes": _paths(where, value, errors)}}
    if kind == "headers":
        return {kind: _headers(where, value, errors)}
    if not isinstance(value, dict):
        errors.add(where, value, "must be a dict of settings")
        return {}
    allowed = {"redirect_scheme": {"scheme", "permanent", "port"}, "redirect_regex": {"regex", "replacement",
               "permanent"}, "basic_auth": {"users_from", "realm", "remove_header"},
               "rate_limit": {"average", "burst", "period"}}[kind]
    for key in sorted(set(value) - allowed):
        errors.add(f"{where}.{key}", value[key], f"is not a {kind} setting ({', '.join(sorted(allowed))})")
    out: dict[str, Any] = {}
    if "permanent" in value:
        out["permanent"] = _flag(where + ".permanent", value["permanent"], errors)
    if kind == "redirect_scheme":
        out["scheme"] = value.get("scheme", "https")
        if out["scheme"] not in ("http", "https"):
            errors.add(where + ".scheme", out["scheme"], "must be http or https")
        if "port" in value:
            port = _integer(value["port"])
            if port is None or not 1 <= port <= 65535:
                errors.add(where + ".port", value["port"], "is not a port (1-65535)")
            out["port"] = str(port)
    elif kind == "redirect_regex":
        for key in ("regex", "replacement"):
            if not isinstance(value.get(key), str) or not value.get(key):
                errors.add(f"{where}.{key}", value.get(key), "must be a non-empty string")
            out[key] = value.get(key)
        if isinstance(out["regex"], str):
            try:
                re.compile(out["regex"])
            except re.error as exc:
                errors.add(where + ".regex", out["regex"], f"is not a regular expression ({exc})")
    elif kind == "basic_auth":
        users_from = value.get("users_from")
        if not isinstance(users_from, str) or not ENV_KEY.match(users_from):
            errors.add(where + ".users_from", users_from,
                       "must name a key of this service's secret env (htpasswd lines, user:hash)")
        out["users_from"] = users_from
        if "realm" in value:
            if not isinstance(value["realm"], str) or '"' in value["realm"] or not value["realm"].isprintable():
                errors.add(where + ".realm", value["realm"], "must be a printable string without '\"'")
            out["realm"] = value["realm"]
        if "remove_header" in value:
            out["remove_header"] = _flag(where + ".remove_header", value["remove_header"], errors)
    else:  # rate_limit
        if "average" not in value:
            errors.add(where + ".average", None, "must be given: requests per period")
        out["average"] = _whole(where + ".average", value.get("average", 1), 1, 10**6, errors)
        if "burst" in value:
            out["burst"] = _whole(where + ".burst", value["burst"], 1, 10**6, errors)
        if "period" in value:
            out["period"] = _duration(where + ".period", value["period"], errors, "1s")
    return {kind: out}


def _routes(path: str, routes: Any, domain: str, errors: Errors) -> list:
    """A service's public routes: each a Traefik rule (given, or built from host and path) and its middlewares."""
    if not isinstance(routes, list) or not routes:
        errors.add(path, routes, "must be a list of routes ({rule} or {host, path}, with middlewares)")
        return []
    out = []
    for index, route in enumerate(routes):
        where = f"{path}[{index}]"
        if not isinstance(route, dict):
            errors.add(where, route, f"must be a dict ({', '.join(sorted(ROUTE_KEYS))})")
            continue
        for key in sorted(set(route) - ROUTE_KEYS):
            errors.add(f"{where}.{key}", route[key], f"is not a route setting ({', '.join(sorted(ROUTE_KEYS))})")
        if "rule" in route:
            if "host" in route or "path" in route:
                errors.add(where + ".rule", route["rule"], "is a whole rule: give it or host/path, not both")
            problem = rule_problem(route["rule"])
            if problem:
                errors.add(where + ".rule", route["rule"], problem)
            rule = route["rule"]
        else:
            host = route.get("host", "{domain}" if domain else "")
            if isinstance(host, str) and "{domain}" in host:
                if not domain:
                    errors.add(where + ".host", host, "uses {domain} but berth_domain is empty")
                host = host.replace("{domain}", domain)
            problem = hostname_problem(host) if host else None
            if problem:
                errors.add(where + ".host", route.get("host"), problem)
            parts = [f"Host(`{host}`)"] if host else []
            if "path" in route:
                if not isinstance(route["path"], str) or not HEALTH_PATH.match(route["path"]) or "`" in route["path"]:
                    errors.add(where + ".path", route["path"], "must be a URL path starting with '/'")
                parts.append(f"PathPrefix(`{route['path']}`)")
            rule = " && ".join(parts) or "PathPrefix(`/`)"
        entry: dict[str, Any] = {"rule": rule}
        if "priority" in route:
            entry["priority"] = _whole(where + ".priority", route["priority"], 1, 10**6, errors)
        middlewares = route.get("middlewares", [])
        if not isinstance(middlewares, list):
            errors.add(where + ".middlewares", middlewares, "must be a list of middlewares")
            middlewares = []
        entry["middlewares"] = [_middleware(f"{where}.middlewares[{i}]", m, errors) for i, m in enumerate(middlewares)]
        out.append(entry)
    return out


def _hardening(path: str, svc: dict, out: dict, errors: Errors) -> None:
    """Container hardening and logging options, passed to compose as they are named there."""
    for key in ("read_only", "no_new_privileges"):
        if key in svc:
            out[key] = _flag(f"{path}.{key}", svc[key], errors)
    if "tmpfs" in svc:
        tmpfs = svc["tmpfs"]
        if not _strings(tmpfs) or not all(TMPFS.match(t) for t in tmpfs):
            errors.add(path + ".tmpfs", tmpfs, "must be a list of '/container/path[:mode=1777,size=64m]'")
        out["tmpfs"] = tmpfs
    for key in ("cap_drop", "cap_add"):
        if key in svc:
            caps = svc[key]
            if not _strings(caps) or not all(CAPABILITY.match(c.upper().removeprefix("CAP_")) for c in caps):
                errors.add(f"{path}.{key}", caps, "must be a list of capabilities (ALL, NET_BIND_SERVICE, ...)")
                out[key] = caps
            else:
                out[key] = [c.upper().removeprefix("CAP_") for c in caps]
    if "ulimits" in svc:
        ulimits = svc["ulimits"]
        out["ulimits"] = {}
        if not isinstance(ulimits, dict) or not ulimits:
            errors.add(path + ".ulimits", ulimits, f"must be a dict of limits ({', '.join(ULIMITS)})")
            ulimits = {}
        for name, limit in ulimits.items():
            where = f"{path}.ulimits.{name}"
            if name not in ULIMITS:
                errors.add(where, limit, f"is not a limit ({', '.join(ULIMITS)})")
                continue
            soft, hard = (limit.get("soft"), limit.get("hard")) if isinstance(limit, dict) else (limit, limit)
            values = [_integer(soft), _integer(hard)]
            shape_bad = isinstance(limit, dict) and set(limit) != {"soft", "hard"}
            if shape_bad or None in values or values[0] < -1 or (values[0] > values[1] and values[1] != -1):
                errors.add(where, limit, "must be a whole number or {soft, hard} with soft <= hard (-1: unlimited)")
                continue
            out["ulimits"][name] = values[0] if not isinstance(limit, dict) else {"soft": values[0], "hard": values[1]}
    if "logging" in svc:
        logging = svc["logging"]
        if not isinstance(logging, dict) or set(logging) - {"driver", "options"} or not logging:
            errors.add(path + ".logging", logging, "must be {driver, options}")
            out["logging"] = logging
            return
        out["logging"] = {}
        if "driver" in logging:
            if not isinstance(logging["driver"], str) or not LOG_DRIVER.match(logging["driver"]):
                errors.add(path + ".logging.driver", logging["driver"],
                           "is not a log driver name (json-file, local...)")
            out["logging"]["driver"] = logging["driver"]
        if "options" in logging:
            options = logging["options"]
            if not isinstance(options, dict) or not all(
                    isinstance(k, str) and isinstance(v, (str, int)) and not isinstance(v, bool)
                    for k, v in options.items()):
                errors.add(path + ".logging.options", options, "must be a dict of option: string (max-size: 10m)")
                out["logging"]["options"] = options
            else:
                out["logging"]["options"] = {k: str(v) for k, v in options.items()}


def _service(path: str, name: str, svc: Any, allowed: set[str], errors: Errors, *, domain: str = "") -> dict:
    if not SERVICE.match(str(name)):
        errors.add(path, name, "is not a service name (lower-case letter, then letters, digits or '-', at most 31)")
    if not isinstance(svc, dict):
        errors.add(path, svc, "must be a dict with at least an image")
        return {}
    for key in sorted(set(svc) - allowed):
        errors.add(f"{path}.{key}", svc[key], f"is not a setting here (known: {', '.join(sorted(allowed))})")
    out: dict[str, Any] = {}
    image = svc.get("image")
    if not isinstance(image, str) or not IMAGE.match(image):
        errors.add(path + ".image", image, "is not an image reference (registry/name:tag)")
    out["image"] = image
    if "port" in svc and "port" in allowed:
        port = _integer(svc["port"])
        if port is None or not 1 <= port <= 65535:
            errors.add(path + ".port", svc["port"], "is not a port (1-65535)")
        out["port"] = port
    if "rule" in svc and "rule" in allowed:
        problem = rule_problem(svc["rule"])
        if problem:
            errors.add(path + ".rule", svc["rule"], problem)
        out["rule"] = svc["rule"]
    if "routes" in svc and "routes" in allowed:
        if "rule" in svc:
            errors.add(path + ".routes", svc["routes"], "and rule both given: rule is the one-route shorthand")
        if "port" not in svc:
            errors.add(path + ".routes", svc["routes"], "needs a port to route to")
        out["routes"] = _routes(path + ".routes", svc["routes"], domain, errors)
    if "port" in allowed and "port" in svc:
        out["health"] = _health(path, svc, errors)
    elif "port" in allowed and ("health" in svc or "health_path" in svc):
        errors.add(path + ".health", svc.get("health", svc.get("health_path")), "needs a port to probe")
    if "command" in svc:
        command = svc["command"]
        if isinstance(command, str):
            command = command.split()
        if not _strings(command) or not command:
            errors.add(path + ".command", svc["command"], "must be a list of strings")
        out["command"] = command
    if "env" in svc:
        out["env"] = _env(path + ".env", svc["env"], errors)
    if "volumes" in svc:
        volumes = svc["volumes"]
        if not _strings(volumes) or any(len(v.split(":")) not in (2, 3) or not v.split(":")[1].startswith("/")
                                        for v in volumes):
            errors.add(path + ".volumes", volumes, "must be a list of 'source:/container/path[:ro]'")
        out["volumes"] = volumes
    if "cpus" in svc:
        cpus = _number(svc["cpus"])
        if cpus is None or not 0 < cpus <= 1024:
            errors.add(path + ".cpus", svc["cpus"], "is not a number of CPUs (for example 0.5)")
        out["cpus"] = str(svc["cpus"])
    if "memory" in svc:
        if not MEMORY.match(str(svc["memory"])) or isinstance(svc["memory"], bool):
            errors.add(path + ".memory", svc["memory"], "is not a memory size (for example 256m or 1g)")
        out["memory"] = str(svc["memory"]).lower()
    if "stop_grace_period" in svc:
        if not DURATION.match(str(svc["stop_grace_period"])):
            errors.add(path + ".stop_grace_period", svc["stop_grace_period"], "is not a duration (for example 30s)")
        out["stop_grace_period"] = str(svc["stop_grace_period"])
    if "drain" in svc and "drain" in allowed:
        if "port" not in svc:
            errors.add(path + ".drain", svc["drain"], "needs a port (only a routed service has connections to drain)")
        out["drain"] = _whole(path + ".drain", svc["drain"], 0, 3600, errors)
    if "user" in svc:
        if not USER.match(str(svc["user"])):
            errors.add(path + ".user", svc["user"], "is not a user (name or uid, optionally :group)")
        out["user"] = str(svc["user"])
    if "healthcheck" in svc:
        check = svc["healthcheck"]
        if not isinstance(check, dict) or set(check) - HEALTHCHECK_KEYS:
            errors.add(path + ".healthcheck", check,
                       f"must be a compose healthcheck ({', '.join(sorted(HEALTHCHECK_KEYS))})")
        else:
            for key in ("interval", "timeout", "start_period", "start_interval"):
                if key in check and not DURATION.match(str(check[key])):
                    errors.add(f"{path}.healthcheck.{key}", check[key], "is not a duration (for example 5s)")
        out["healthcheck"] = check
    _hardening(path, svc, out, errors)
    _scale(path, svc, out, allowed, errors)
    return out


def _scale(path: str, svc: dict, out: dict, allowed: set[str], errors: Errors) -> None:
    """singleton and replicas: written into the spec only when set, so a stack without them keeps its checksums."""
    if "singleton" in svc and "singleton" in allowed:
        if _flag(path + ".singleton", svc["singleton"], errors) is True:
            out["singleton"] = True
            for key in (k for k in SINGLETON_REFUSES if k in svc):
                errors.add(f"{path}.{key}", svc[key], "cannot be given to a singleton (it runs outside the colours, "
                           "alone, and nothing routes to it or gates it)")
    if "replicas" in svc and "replicas" in allowed:
        replicas = _whole(path + ".replicas", svc["replicas"], 1, MAX_REPLICAS, errors)
        if replicas is not None and replicas != 1:
            out["replicas"] = replicas


def _env(path: str, env: Any, errors: Errors, secret: bool = False) -> dict:
    if not isinstance(env, dict):
        errors.add(path, "(hidden)" if secret else env, "must be a dict of NAME: value")
        return {}
    out = {}
    for key, value in env.items():
        if not ENV_KEY.match(str(key)):
            errors.add(path, key, "is not an environment variable name (letters, digits, '_')")
            continue
        if isinstance(value, (dict, list)) or value is None:
            errors.add(f"{path}.{key}", "(hidden)" if secret else value, "must be a string or a number")
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        bad = next((c for c in text if c in "\0\r" or (ord(c) < 32 and c not in "\n\t")), None)
        if bad is not None:
            errors.add(f"{path}.{key}", "(hidden)" if secret else text,
                       f"contains {bad!r}, which an env file cannot carry (newlines and tabs can)")
            continue
        out[str(key)] = text
    return out


def _hooks(hooks: Any, services: dict, errors: Errors) -> list:
    if not isinstance(hooks, list):
        errors.add("berth_hooks", hooks, "must be a list of {name, service, command}")
        return []
    out = []
    for index, hook in enumerate(hooks):
        path = f"berth_hooks[{index}]"
        if not isinstance(hook, dict) or set(hook) - {"name", "service", "command"}:
            errors.add(path, hook, "must be {name, service, command}")
            continue
        if hook.get("service") not in services:
            errors.add(path + ".service", hook.get("service"), f"is not an app service ({', '.join(services)})")
        elif services[hook["service"]].get("singleton"):
            errors.add(path + ".service", hook["service"],
                       "is a singleton: hooks run in a one-off container of the new colour's services")
        command = hook.get("command")
        if isinstance(command, str):
            command = command.split()
        if not _strings(command) or not command:
            errors.add(path + ".command", hook.get("command"), "must be a list of strings")
        out.append({"name": str(hook.get("name") or hook.get("service")), "service": hook.get("service"),
                    "command": command})
    return out


def _basic_auth_users(services: dict, env: dict, errors: Errors) -> None:
    """basic_auth's users_from names a key of the service's secret env holding htpasswd lines (never shown)."""
    for name, svc in services.items():
        for index, route in enumerate(svc.get("routes") or []):
            for number, middleware in enumerate(route["middlewares"]):
                users_from = (middleware.get("basic_auth") or {}).get("users_from")
                if not isinstance(users_from, str):
                    continue
                where = f"berth_services.{name}.routes[{index}].middlewares[{number}].basic_auth.users_from"
                values = env.get(name) if isinstance(env.get(name), dict) else {}
                if users_from not in values:
                    errors.add(where, users_from, f"is not a key of {ENV_VARIABLE}.{name} (its secret env)")
                    continue
                lines = [line for line in str(values[users_from]).splitlines() if line.strip()]
                if not lines or not all(HTPASSWD_LINE.match(line) for line in lines):
                    errors.add(f"{ENV_VARIABLE}.{name}.{users_from}", "(hidden)",
                               "must be htpasswd lines (user:hash) for basic_auth")


def build(inputs: dict) -> tuple[dict, list[str]]:
    """inputs: app, domain, tls, services, accessories, env (secret), hooks, keep_warm, public_service,
    confirm_path, confirm_json_match (checked, not kept). Returns (spec, errors)."""
    errors = Errors()
    app = inputs.get("app")
    if not isinstance(app, str) or not APP.match(app):
        errors.add("berth_app", app, "is not an app name (lower-case letter, then letters, digits or '-', at most 31)")
    domain = inputs.get("domain") or ""
    if domain:
        problem = hostname_problem(domain)
        if problem:
            errors.add("berth_domain", domain, problem)
    tls = inputs.get("tls", "acme")
    if tls not in TLS_MODES:
        errors.add("berth_tls", tls, f"is not a TLS mode ({', '.join(TLS_MODES)})")
    keep_warm = inputs.get("keep_warm", True)
    if not isinstance(keep_warm, bool):
        errors.add("berth_keep_warm", keep_warm, "must be true or false")
    services_in = inputs.get("services")
    services: dict[str, dict] = {}
    if not isinstance(services_in, dict) or not services_in:
        errors.add("berth_services", services_in, "must be a dict of at least one app service")
        services_in = {}
    for name, svc in services_in.items():
        services[name] = _service(f"berth_services.{name}", name, svc, SERVICE_KEYS, errors, domain=domain)
    if services and all(svc.get("singleton") for svc in services.values()):
        errors.add("berth_services", sorted(services), "are all singletons: at least one service runs in the colours")
    accessories_in = inputs.get("accessories") or {}
    accessories: dict[str, dict] = {}
    if not isinstance(accessories_in, dict):
        errors.add("berth_accessories", accessories_in, "must be a dict of services")
        accessories_in = {}
    for name, svc in accessories_in.items():
        if name in services:
            errors.add(f"berth_accessories.{name}", name, "is also an app service")
        accessories[name] = _service(f"berth_accessories.{name}", name, svc, ACCESSORY_KEYS, errors)
    env_in = inputs.get("env") or {}
    if not isinstance(env_in, dict):
        errors.add(ENV_VARIABLE, "(hidden)", "must be a dict of service: {NAME: value}")
        env_in = {}
    for name, values in env_in.items():
        if name not in services and name not in accessories:
            errors.add(ENV_VARIABLE, name, "is not a service or accessory of this stack")
        _env(f"{ENV_VARIABLE}.{name}", values, errors, secret=True)
    routed = [name for name, svc in services.items() if svc.get("port")]
    public = inputs.get("public_service") or (routed[0] if routed else "")
    if public and public not in routed:
        errors.add("berth_public_service", public, f"is not an app service with a port ({', '.join(routed)})")
    confirm_path = inputs.get("confirm_path") or ""
    if confirm_path and (not isinstance(confirm_path, str) or not HEALTH_PATH.match(confirm_path)):
        errors.add("berth_confirm_path", confirm_path, "must be a URL path starting with '/'")
    # Checked here, not kept in the spec: which colour answers is not part of a release.
    json_match = inputs.get("confirm_json_match") or {}
    if not isinstance(json_match, dict) or not all(isinstance(path, str) and path for path in json_match):
        errors.add("berth_confirm_json_match", json_match,
                   "must be a dict of JSON path: value ('{colour}' for the colour going live)")
    hooks = _hooks(inputs.get("hooks") or [], services, errors)
    external = _external.check(inputs.get("external"), services, accessories, env_in, errors)
    _basic_auth_users(services, env_in, errors)
    routers = {}
    for name in routed:
        if "routes" in services[name]:
            for index, route in enumerate(services[name]["routes"]):
                router = router_name(name, index)
                if router in routers or (index and router in services):
                    errors.add(f"berth_services.{name}.routes", router, "names a router twice (a service of that name)")
                routers[router] = route["rule"]
        elif "rule" in services[name]:
            routers[name] = services[name]["rule"]
        elif name == public:
            routers[name] = f"Host(`{domain}`)" if domain else "PathPrefix(`/`)"
    spec = {"app": app, "domain": domain, "tls": tls, "keep_warm": keep_warm, "public_service": public,
            "routers": routers, "services": services, "accessories": accessories, "hooks": hooks,
            "confirm_path": confirm_path}
    if external:  # only when given: a stack without it keeps its checksums
        spec["external"] = external
    return spec, list(errors)


def images(spec: dict) -> list[str]:
    """Every image reference the spec runs, app services first."""
    refs = [svc["image"] for svc in spec["services"].values()] + [svc["image"] for svc in spec["accessories"].values()]
    return list(dict.fromkeys(refs))


def pin(spec: dict, pinned: dict[str, str]) -> tuple[dict, list[str]]:
    """The spec with every image replaced by its pinned reference; errors for images not pinned."""
    errors = []
    out = dict(spec)
    for group in ("services", "accessories"):
        out[group] = {}
        for name, svc in spec[group].items():
            ref = pinned.get(svc["image"], svc["image"])
            if not re.search(r"@sha256:[0-9a-f]{64}$", ref or ""):
                errors.append(f"berth_{group}.{name}.image: {svc['image']!r} was not resolved to a digest")
            out[group][name] = {**svc, "image": ref}
    return out, errors

# Copyright: berth developers
# Apache License 2.0
"""A stack's inputs checked and normalised into a release spec, on the controller, before anything changes.

``build(inputs)`` returns ``(spec, errors)``. Every error names the variable path and the bad value
(``berth_services.web.port: 70000 is not a port (1-65535)``). The spec is plain data (JSON-able,
colour-neutral, without secret values): _release.py renders and compares it.
"""

from __future__ import annotations

import re
from typing import Any

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

TLS_MODES = ("files", "acme", "none")
SERVICE_KEYS = {"image", "port", "rule", "health", "health_path", "command", "env", "volumes", "cpus",
                "memory", "healthcheck", "stop_grace_period", "user"}
ACCESSORY_KEYS = SERVICE_KEYS - {"port", "rule", "health", "health_path"}
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


def _service(path: str, name: str, svc: Any, allowed: set[str], errors: Errors) -> dict:
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
    return out


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
        command = hook.get("command")
        if isinstance(command, str):
            command = command.split()
        if not _strings(command) or not command:
            errors.add(path + ".command", hook.get("command"), "must be a list of strings")
        out.append({"name": str(hook.get("name") or hook.get("service")), "service": hook.get("service"),
                    "command": command})
    return out


def build(inputs: dict) -> tuple[dict, list[str]]:
    """inputs: app, domain, tls, services, accessories, env (secret), hooks, keep_warm, public_service,
    confirm_path, colour (must be empty: berth chooses it). Returns (spec, errors)."""
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
        services[name] = _service(f"berth_services.{name}", name, svc, SERVICE_KEYS, errors)
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
        errors.add("env_files_services", "(hidden)", "must be a dict of service: {NAME: value}")
        env_in = {}
    for name, values in env_in.items():
        if name not in services and name not in accessories:
            errors.add("env_files_services", name, "is not a service or accessory of this stack")
        _env(f"env_files_services.{name}", values, errors, secret=True)
    routed = [name for name, svc in services.items() if svc.get("port")]
    public = inputs.get("public_service") or (routed[0] if routed else "")
    if public and public not in routed:
        errors.add("berth_public_service", public, f"is not an app service with a port ({', '.join(routed)})")
    if inputs.get("colour"):
        errors.add("release_colour", inputs["colour"], "is chosen by berth (the idle colour); do not set it")
    confirm_path = inputs.get("confirm_path") or ""
    if confirm_path and (not isinstance(confirm_path, str) or not HEALTH_PATH.match(confirm_path)):
        errors.add("berth_confirm_path", confirm_path, "must be a URL path starting with '/'")
    hooks = _hooks(inputs.get("hooks") or [], services, errors)
    routers = {}
    for name in routed:
        if "rule" in services[name]:
            routers[name] = services[name]["rule"]
        elif name == public:
            routers[name] = f"Host(`{domain}`)" if domain else "PathPrefix(`/`)"
    spec = {"app": app, "domain": domain, "tls": tls, "keep_warm": keep_warm, "public_service": public,
            "routers": routers, "services": services, "accessories": accessories, "hooks": hooks,
            "confirm_path": confirm_path}
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

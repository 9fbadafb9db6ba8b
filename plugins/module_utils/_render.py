# Copyright: berth developers
# Apache License 2.0
"""A release rendered from its spec, its checksums, and what differs from another release.

A release is everything users can observe or the app runs with: images (pinned), each service's
definition, env files, routing and hooks. Files are JSON (valid YAML for compose and Traefik) so a
host needs nothing beyond Python's standard library to write them. Pure functions: unit-tested.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

COLOURS = ("blue", "green")
# Parts of a service's definition, in the order a difference report names them.
FIELDS = ("image", "port", "rule", "routes", "health", "command", "env", "volumes", "cpus", "memory", "healthcheck",
          "stop_grace_period", "user", "read_only", "tmpfs", "cap_drop", "cap_add", "no_new_privileges", "ulimits",
          "logging", "drain", "singleton", "replicas")
# Hardening and logging options compose takes under the same name as the spec.
COMPOSE_AS_IS = ("command", "volumes", "healthcheck", "user", "read_only", "tmpfs", "cap_drop", "cap_add", "ulimits",
                 "logging")


def other(colour: str) -> str:
    return "green" if colour == "blue" else "blue"


def digest(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def dump(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def env_file_text(values: dict[str, str]) -> str:
    """An env file compose reads back as exactly these values (newlines and tabs included).

    Single quotes keep a value literal; a value with a quote or newline goes in double quotes with
    compose's escapes, and `$` doubled so compose does not interpolate it."""
    lines = ["# berth: written per release, root only\n"]
    for key in sorted(values):
        text = values[key]
        if "'" not in text and "\n" not in text:
            lines.append(f"{key}='{text}'\n")
        else:
            # compose reads \\ \" \n and $$ back (checked with compose 2.x); a tab stays literal.
            escaped = (text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
                       .replace("\n", "\\n"))
            lines.append(f'{key}="{escaped}"\n')
    return "".join(lines)


def env_values(env: dict) -> dict[str, dict[str, str]]:
    """Secret env as the env files hold it: every key and value a string, booleans as YAML writes them
    (`true`, not Python's `True`), the same wherever a release is checked, compared or written."""
    return {str(name): {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in (values or {}).items()}
            for name, values in (env or {}).items()}


def checksums(spec: dict, env: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Per part and overall. Equal `release` checksums mean nothing users see or the app runs with differs."""
    parts: dict[str, Any] = {
        "services": {name: digest(svc) for name, svc in spec["services"].items()},
        "accessories": {name: digest(svc) for name, svc in spec["accessories"].items()},
        # A service without secret env has none, whether the inputs name it with {} or not at all.
        "env": {name: digest(env_file_text(values)) for name, values in sorted(env.items()) if values},
        "routing": digest({k: spec.get(k) for k in ("domain", "tls", "routers", "public_service")}),
        "hooks": digest(spec.get("hooks", [])),
        "options": digest({k: spec.get(k) for k in ("keep_warm", "confirm_path")}),
    }
    if spec.get("external"):  # only when given: a stack without it keeps its checksums
        parts["external"] = digest(spec["external"])
    parts["release"] = digest(parts)
    return parts


def _show(value: Any) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _env_report(where: str, old: dict[str, str], new: dict[str, str]) -> str | None:
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = sorted(k for k in set(old) & set(new) if old[k] != new[k])
    if not (added or removed or changed):
        return None
    words = [f"{len(keys)} key{'s' if len(keys) != 1 else ''} {verb} ({', '.join(keys)})"
             for verb, keys in (("added", added), ("removed", removed), ("changed", changed)) if keys]
    return f"{where}: " + "; ".join(words)


def env_digests(env: dict[str, dict[str, str]], key: str) -> dict[str, dict[str, str]]:
    """Each env value as an HMAC under a key that is never shown: comparable on a host, useless to read."""
    return {svc: {name: hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()
                  for name, value in values.items()} for svc, values in env.items()}


def env_report(old_env: dict[str, dict[str, str]], new_digests: dict[str, dict[str, str]], key: str) -> list[str]:
    """Which env keys of which service were added, removed or changed (never a value)."""
    old = env_digests(old_env, key)
    out = []
    for name in sorted(set(old) | set(new_digests)):
        line = _env_report(f"env file of {name}", old.get(name, {}), new_digests.get(name, {}))
        if line:
            out.append(line)
    return out


def differences(old_spec: dict | None, new_spec: dict) -> list[str]:
    """What differs in the spec, one line each ("memory of web: none -> 256m"); see env_report for env files."""
    if not old_spec:
        return ["nothing is live yet"]
    out: list[str] = []
    for group, noun in (("services", "service"), ("accessories", "accessory")):
        old_group, new_group = old_spec.get(group, {}), new_spec.get(group, {})
        for name in sorted(set(new_group) - set(old_group)):
            out.append(f"{noun} {name} added")
        for name in sorted(set(old_group) - set(new_group)):
            out.append(f"{noun} {name} removed")
        for name in sorted(set(old_group) & set(new_group)):
            old, new = old_group[name], new_group[name]
            for field in FIELDS:
                if field == "env" and old.get("env", {}) != new.get("env", {}):
                    out.append(_env_report(f"env of {name}", old.get("env", {}), new.get("env", {})) or "")
                elif field != "env" and old.get(field) != new.get(field):
                    out.append(f"{field} of {name}: {_show(old.get(field))} -> {_show(new.get(field))}")
    for key, noun in (("domain", "domain"), ("tls", "TLS"), ("routers", "routing rules"),
                      ("public_service", "public service"), ("hooks", "hooks"), ("keep_warm", "keep_warm"),
                      ("confirm_path", "confirm path")):
        if old_spec.get(key) != new_spec.get(key):
            out.append(f"{noun}: {_show(old_spec.get(key))} -> {_show(new_spec.get(key))}")
    old_external, new_external = old_spec.get("external") or {}, new_spec.get("external") or {}
    for name in sorted(set(old_external) | set(new_external)):
        if old_external.get(name) != new_external.get(name):
            out.append(f"external service {name}: {_show(old_external.get(name))} -> {_show(new_external.get(name))}")
    return [line for line in out if line]


def _compose_service(svc: dict, env_file: str, extra_env: dict, labels: dict, networks: dict) -> dict:
    out: dict[str, Any] = {
        "image": svc["image"],
        "restart": "unless-stopped",
        "stop_grace_period": svc.get("stop_grace_period", "30s"),
        "env_file": [{"path": env_file, "required": False}],
        "environment": {**svc.get("env", {}), **extra_env},
        "labels": labels,
        "networks": networks,
    }
    for key in COMPOSE_AS_IS:
        if key in svc:
            out[key] = svc[key]
    if svc.get("no_new_privileges"):
        out["security_opt"] = ["no-new-privileges:true"]
    limits = {k: svc[k] for k in ("cpus", "memory") if k in svc}
    if limits:
        out["deploy"] = {"resources": {"limits": limits}}
    return out


def _named_volumes(services: dict) -> list[str]:
    names = []
    for svc in services.values():
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source and not source.startswith(("/", ".", "~")):
                names.append(source)
    return sorted(set(names))


def colour_network(app: str, colour: str) -> str:
    """A colour's own network: its services reach each other by service name there (the api is `api` to the
    web of the same colour, never to the other colour's), and the accessories join both colours' networks."""
    return f"{app}-{colour}"


def compose_colour(spec: dict, colour: str, release_id: str, release_dir: str, checksum: str, *,
                   project: str = "") -> dict:
    """The compose project of this release in a colour (<app>-<colour>, or <app>-<colour>-2 while the standby
    stops in the other: _records.standby_plan). A container keeps its name <app>-<colour>-<service>-1 in
    either (a replicated service's are <project>-<service>-N). Named volumes are shared by both colours."""
    app = spec["app"]
    networks = {"colour": {"name": colour_network(app, colour), "external": True}}
    services = {}
    for name, svc in colour_services(spec).items():
        labels = {"berth.app": app, "berth.colour": colour, "berth.release": release_id, "berth.checksum": checksum}
        # Traefik joins the colour's network (release_render) and reaches a routed service there by this alias,
        # unique on the host; no service joins a network shared across colours or apps (berth-edge), where
        # compose's service-name aliases would let `api` answer from another colour or app.
        aliases = {"aliases": [f"{app}-{colour}-{name}"]} if svc.get("port") else {}
        entry = _compose_service(svc, f"{release_dir}/env/{name}.env",
                                 {"BERTH_COLOUR": colour, "BERTH_RELEASE": release_id}, labels, {"colour": aliases})
        if svc.get("replicas"):
            entry.setdefault("deploy", {})["replicas"] = svc["replicas"]
        if int(svc.get("replicas") or 1) == 1:
            entry["container_name"] = f"{app}-{colour}-{name}-1"
        services[name] = entry
    document: dict[str, Any] = {
        "name": project or f"{app}-{colour}",
        "services": services,
        "networks": networks,
    }
    volumes = _named_volumes(colour_services(spec))
    if volumes:
        document["volumes"] = {v: {"name": f"{app}_{v}"} for v in volumes}
    return document


def colour_services(spec: dict) -> dict:
    """The app services that run in each colour: every one but the singletons."""
    return {name: svc for name, svc in spec["services"].items() if not svc.get("singleton")}


def singletons(spec: dict) -> dict:
    return {name: svc for name, svc in spec["services"].items() if svc.get("singleton")}


def singleton_label(sums: dict, name: str) -> str:
    """What a running singleton was started from (its definition and its env file): equal means leave it running."""
    return digest({"service": sums["services"][name], "env": sums["env"].get(name, "")})


def compose_singletons(spec: dict, release_dir: str, sums: dict) -> dict:
    """The compose project <app>-singletons of this release: services that must never run twice (workers,
    schedulers), outside the colours, on the networks the accessories are on. The release role replaces a
    changed one stop-then-start, once the new colour passed its gate (roles/release/tasks/singletons.yml)."""
    app = spec["app"]
    networks = {colour: {"name": colour_network(app, colour), "external": True} for colour in COLOURS}
    services = {}
    for name, svc in singletons(spec).items():
        labels = {"berth.app": app, "berth.singleton": singleton_label(sums, name)}
        services[name] = _compose_service(svc, f"{release_dir}/env/{name}.env", {}, labels,
                                          {network: {} for network in networks})
    document: dict[str, Any] = {"name": f"{app}-singletons", "services": services, "networks": networks}
    volumes = _named_volumes(singletons(spec))
    if volumes:
        document["volumes"] = {v: {"name": f"{app}_{v}"} for v in volumes}
    return document


def singletons_plan(document: dict | None, infos: list[dict], present: list[str]) -> dict:
    """Which singletons to replace (stop, then start) and which containers to remove, for the release whose
    singletons.yml is `document` (None: it has none). `infos`: docker_container_info's results for each
    <app>-singletons-<service>-1 ({item: service, exists, container}); `present`: the project's container names."""
    wanted = {name: svc["labels"]["berth.singleton"] for name, svc in ((document or {}).get("services") or {}).items()}
    running = {}
    for info in infos or []:
        container = info.get("container") or {}
        if info.get("exists") and (container.get("State") or {}).get("Running"):
            running[info.get("item")] = ((container.get("Config") or {}).get("Labels") or {}).get("berth.singleton")
    changed = [name for name, label in wanted.items() if running.get(name) != label]
    keep = {f"{(document or {}).get('name', '')}-{name}-1" for name in wanted}
    gone = sorted(name.lstrip("/") for name in present if name.lstrip("/") not in keep)
    return {"changed": changed, "gone": gone}


def compose_accessories(spec: dict, root: str) -> dict:
    """The compose project <app>-accessories: stateful services kept across releases, changed in place."""
    app = spec["app"]
    networks = {colour: {"name": colour_network(app, colour), "external": True} for colour in COLOURS}
    # Colours rendered before colour networks existed reach the accessories on <app>-internal.
    networks["internal"] = {"name": f"{app}-internal", "external": True}
    services = {name: _compose_service(svc, f"{root}/env/{name}.env", {}, {"berth.app": app},
                                       {network: {} for network in networks})
                for name, svc in spec["accessories"].items()}
    document: dict[str, Any] = {"name": f"{app}-accessories", "services": services, "networks": networks}
    volumes = _named_volumes(spec["accessories"])
    if volumes:
        document["volumes"] = {v: {} for v in volumes}
    return document


def routed(spec: dict) -> list[str]:
    return [name for name, svc in spec["services"].items() if svc.get("port")]


def router_name(service: str, index: int) -> str:
    """The public router of a service's route: the service's own name for its first route."""
    return service if index == 0 else f"{service}-r{index + 1}"


def router_service(spec: dict, router: str) -> tuple[str, dict]:
    """The app service a public router sends to, and the route it came from ({} for the shorthand)."""
    for name, svc in spec["services"].items():
        for index, route in enumerate(svc.get("routes") or []):
            if router == router_name(name, index):
                return name, route
    return router, {}


def middleware(kind: str, settings: dict, env: dict[str, str]) -> dict:
    """A route middleware of the spec as Traefik's dynamic configuration names it."""
    if kind == "strip_prefix":
        return {"stripPrefix": {"prefixes": settings["prefixes"]}}
    if kind == "redirect_scheme":
        return {"redirectScheme": settings}
    if kind == "redirect_regex":
        return {"redirectRegex": settings}
    if kind == "headers":
        return {"headers": settings}
    if kind == "rate_limit":
        return {"rateLimit": settings}
    users = [line.strip() for line in env.get(settings["users_from"], "").splitlines() if line.strip()]
    auth: dict[str, Any] = {"users": users}
    if "realm" in settings:
        auth["realm"] = settings["realm"]
    if "remove_header" in settings:
        auth["removeHeader"] = settings["remove_header"]
    return {"basicAuth": auth}


def middleware_names(spec: dict, router: str, colour: str) -> list[str]:
    """The names of a public router's middlewares, defined in the colour's file (so a release's middlewares go
    live with its routes at the switch, and a rescue's previous routes still find the previous colour's)."""
    _service, route = router_service(spec, router)
    return [f"{spec['app']}-{router}-{colour}-{index + 1}-{next(iter(m)).replace('_', '-')}"
            for index, m in enumerate(route.get("middlewares") or [])]


def colour_routes(spec: dict, colour: str, env: dict[str, dict[str, str]] | None = None) -> dict:
    """Traefik file-provider config of one colour: its services, its private routes on the gate entrypoint and
    the middlewares of its public routes (basic auth users taken from the service's secret env)."""
    app = spec["app"]
    routers, services, middlewares = {}, {}, {}
    for name in routed(spec):
        port = spec["services"][name]["port"]
        routers[f"{app}-{name}-{colour}-gate"] = {"entryPoints": ["gate"],
                                                  "rule": f"Host(`{gate_host(app, name, colour)}`)",
                                                  "service": f"{app}-{name}-{colour}"}
        numbers = replica_numbers(spec["services"][name])
        servers = [{"url": f"http://{app}-{colour}-{name}-{n}:{port}"} for n in numbers] or [
            {"url": f"http://{app}-{colour}-{name}:{port}"}]
        services[f"{app}-{name}-{colour}"] = {"loadBalancer": {"servers": servers}}
        for number in numbers:
            routers[f"{app}-{name}-{colour}-gate-{number}"] = {
                "entryPoints": ["gate"], "rule": f"Host(`{gate_host(app, name, colour, number)}`)",
                "service": f"{app}-{name}-{colour}-{number}"}
            services[f"{app}-{name}-{colour}-{number}"] = {"loadBalancer": {"servers": [servers[number - 1]]}}
    for router in spec["routers"]:
        name, route = router_service(spec, router)
        for entry, title in zip(route.get("middlewares") or [], middleware_names(spec, router, colour), strict=True):
            kind, settings = next(iter(entry.items()))
            middlewares[title] = middleware(kind, settings, (env or {}).get(name, {}))
    if not routers:
        return {}
    http: dict[str, Any] = {"routers": routers, "services": services}
    if middlewares:
        http["middlewares"] = middlewares
    return {"http": http}


def has_secrets(routes: dict) -> bool:
    """Whether a colour's routes hold basic auth users (the file is then root-only)."""
    return any("basicAuth" in m for m in ((routes.get("http") or {}).get("middlewares") or {}).values())


def gate_host(app: str, service: str, colour: str, replica: int = 0) -> str:
    """The private host of a service in a colour; with `replica`, of that one replica (each is gated alone)."""
    return f"{replica}.{service}.{colour}.{app}.gate" if replica else f"{service}.{colour}.{app}.gate"


def replica_numbers(svc: dict) -> list[int]:
    """1..replicas for a replicated service (compose names its containers <project>-<service>-N), [] otherwise."""
    return list(range(1, svc["replicas"] + 1)) if svc.get("replicas") else []


def public_routes(spec: dict, colour: str) -> dict:
    """Traefik file-provider config of what users reach: public routers to a weighted service whose
    only weighted child is the live colour (weight 1)."""
    app = spec["app"]
    entrypoint = "web" if spec["tls"] == "none" else "websecure"
    routers, services = {}, {}
    for name, rule in spec["routers"].items():
        target, route = router_service(spec, name)
        router: dict[str, Any] = {"entryPoints": [entrypoint], "rule": rule, "service": f"{app}-{target}"}
        if "priority" in route:
            router["priority"] = route["priority"]
        if route.get("middlewares"):
            router["middlewares"] = middleware_names(spec, name, colour)
        if spec["tls"] == "acme":
            router["tls"] = {"certResolver": "acme"}
        elif spec["tls"] == "files":
            router["tls"] = {}
        routers[f"{app}-{name}"] = router
        services[f"{app}-{target}"] = {"weighted": {"services": [{"name": f"{app}-{target}-{colour}", "weight": 1}]}}
    if not routers:
        return {}
    return {"http": {"routers": routers, "services": services}}


def live_colour(public: dict | None, app: str) -> str:
    """The colour the public routes send traffic to ('' when none)."""
    services = ((public or {}).get("http") or {}).get("services") or {}
    for service in services.values():
        for child in (service.get("weighted") or {}).get("services") or []:
            name = child.get("name", "")
            if child.get("weight") == 1 and name.startswith(app + "-") and name.rsplit("-", 1)[-1] in COLOURS:
                return name.rsplit("-", 1)[-1]
    return ""


def loaded(expected: dict, api: dict[str, dict | None]) -> bool:
    """Whether Traefik's API (routers and services by name, None when absent) shows the expected
    public config: every router's rule and service, every weighted service's children and weights."""
    http = (expected or {}).get("http") or {}
    for name, router in (http.get("routers") or {}).items():
        got = api.get(f"routers/{name}")
        if not got or got.get("rule") != router["rule"] or got.get("service", "").split("@")[0] != router["service"]:
            return False
    for name, service in (http.get("services") or {}).items():
        got = api.get(f"services/{name}")
        want = [(c["name"], c["weight"]) for c in service["weighted"]["services"]]
        children = ((got or {}).get("weighted") or {}).get("services") or []
        have = [(c.get("name", "").split("@")[0], c.get("weight")) for c in children]
        if have != want:
            return False
    return True


def _health_check(name: str, health: dict, url: str, host: str) -> dict:
    return {"name": name, "url": url + health["path"], "headers": {"Host": host}, "status_codes": health["status"],
            "body_regex": re.escape(health["body"]) if health["body"] else None, "json_match": health["json"] or None,
            "successes": health["successes"], "interval": health["interval"], "timeout": health["timeout"],
            "max_bad_answers": health["max_bad_answers"], "max_connection_errors": health["max_errors"]}


def gate_checks(spec: dict, colour: str, gate_url: str, warm: bool = False) -> list[dict]:
    """One health_gate check per routed service, through the colour's private route; until its first good
    answer only the service's start_timeout counts, and its container exiting fails it at once.

    A warm colour passed its full streak when it was started and has run since: it must answer well
    now (one good answer under the same status, body, JSON and timeout), not prove again that it
    came up, so a switch back to it is not `successes x interval` slower than the Traefik reload."""
    app = spec["app"]
    checks = []
    for name in routed(spec):
        health = spec["services"][name]["health"]
        for number in replica_numbers(spec["services"][name]) or [0]:
            label = f"{name}-{number}" if number else name
            check = _health_check(label, health, gate_url, gate_host(app, name, colour, number))
            if warm:
                check["successes"] = 1
            checks.append({**check, "start_timeout": health["start_timeout"],
                           "container": f"{app}-{colour}-{name}-{number or 1}"})
    return checks


def status_checks(spec: dict, colour: str, gate_url: str) -> list[dict]:
    """The live colour asked now (status.yml): it is running, so as a warm colour one good answer under each
    service's settings, with no budget for a bad answer or an error and 5 seconds in all."""
    return [{**check, "max_bad_answers": 0, "max_connection_errors": 0, "deadline": 5, "start_timeout": None}
            for check in gate_checks(spec, colour, gate_url, warm=True)]


def public_host(spec: dict, rule: str) -> str | None:
    """The host a request must name to reach a public router, or None when the rule is not host-only."""
    if rule == "PathPrefix(`/`)":
        return default_host(spec)
    match = re.fullmatch(r"Host\(`([^`]+)`\)(?:\s*&&\s*PathPrefix\(`/`\))?", rule)
    return match.group(1) if match else None


def default_host(spec: dict) -> str:
    """The host the public entrypoint answers for: the domain, or <app>.local when every host is routed."""
    return spec["domain"] or f"{spec['app']}.local"


def fill_colour(value: Any, colour: str) -> Any:
    """`value` with each '{colour}' in its strings replaced by the colour going live (berth_confirm_json_match)."""
    if isinstance(value, str):
        return value.replace("{colour}", colour)
    if isinstance(value, dict):
        return {key: fill_colour(item, colour) for key, item in value.items()}
    if isinstance(value, list):
        return [fill_colour(item, colour) for item in value]
    return value


def confirm_checks(spec: dict, public_url: str, confirm_window: float, *, colour: str = "", path: str = "",
                   json_match: dict | None = None) -> list[dict]:
    """One check per public router that a Host header reaches, through the public entrypoint, with the
    service's own health settings; a warm service gets no 'not ready' grace, only `confirm_window` seconds.
    With `path` (berth_confirm_path) one more check of that path on the default host, whose answer must
    carry `json_match` (berth_confirm_json_match) with '{colour}' read as `colour`, the colour going live;
    it takes health_gate's own settings."""
    checks = []
    for name, rule in spec["routers"].items():
        host = public_host(spec, rule)
        target, route = router_service(spec, name)
        # A middleware other than headers answers in place of the app (auth, redirect, rate limit) or
        # changes the path (strip prefix): such a route's answer is not the service's health.
        if host is None or any(set(m) != {"headers"} for m in route.get("middlewares") or []):
            continue
        check = _health_check(name, spec["services"][target]["health"], public_url, host)
        checks.append({**check, "deadline": confirm_window})
    if path:
        checks.append({"name": "confirm_path", "url": public_url + path,
                       "json_match": fill_colour(json_match, colour) or None,
                       "headers": {"Host": default_host(spec)}, "deadline": confirm_window})
    return checks

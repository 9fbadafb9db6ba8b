# Copyright: berth developers
# Apache License 2.0
"""berth's inventory rendered to a DigitalOcean App Platform app spec, and the spec compared with the live app.

Pure functions (no HTTP), used by berth.ops.do_app:
- ``render(inputs)`` -> ``(spec, errors)``: the stack is checked by _spec.build (the droplet path's own
  rules and messages), then by the platform's rules (names, regions, sizes, rules it can route); every
  error names the inventory variable and the bad value. Secret values are in the returned spec in plain
  text, for the request only.
- ``seal(spec, live, key)``: a secret whose HMAC under ``key`` equals the live app's recorded one is
  replaced by the live ciphertext (``EV[...]``), so an unchanged secret is never a difference.
- ``differences(desired, live)``: the API's defaults applied to the desired side, only the keys berth
  renders compared, lists keyed by name; the dotted paths that differ.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import re
import shlex
from typing import Any

from . import _registries, _spec
from ._oci import RegistryError, parse_reference

NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
NAME_RULE = "is not an App Platform name (2-32 lower-case letters, digits or '-', starting with a letter, " \
            "not ending with '-')"
REGIONS = ("atl", "nyc", "sfo", "tor", "ams", "fra", "lon", "blr", "sgp", "syd")
SIZES = ("apps-s-1vcpu-0.5gb", "apps-s-1vcpu-1gb-fixed", "apps-s-1vcpu-1gb", "apps-s-1vcpu-2gb", "apps-s-2vcpu-4gb",
         "apps-d-1vcpu-0.5gb", "apps-d-1vcpu-1gb", "apps-d-1vcpu-2gb", "apps-d-1vcpu-4gb", "apps-d-2vcpu-4gb",
         "apps-d-2vcpu-8gb", "apps-d-4vcpu-8gb", "apps-d-4vcpu-16gb", "apps-d-8vcpu-32gb")
DEFAULT_SIZE = "apps-s-1vcpu-0.5gb"
ENGINES = {"pg": "PG", "mysql": "MYSQL", "redis": "REDIS", "valkey": "VALKEY", "mongodb": "MONGODB",
           "kafka": "KAFKA", "opensearch": "OPENSEARCH"}
REGISTRY_TYPES = {"ghcr.io": "GHCR", "docker.io": "DOCKER_HUB", "registry.digitalocean.com": "DOCR"}
ALERT_RULES = ("CPU_UTILIZATION", "MEM_UTILIZATION", "RESTART_COUNT", "DEPLOYMENT_FAILED", "DEPLOYMENT_LIVE",
               "DOMAIN_FAILED", "DOMAIN_LIVE", "AUTOSCALE_FAILED", "AUTOSCALE_SUCCEEDED", "REQUESTS_PER_SECOND",
               "REQUEST_DURATION_P95_MS")
OPERATORS = ("GREATER_THAN", "LESS_THAN")
WINDOWS = ("FIVE_MINUTES", "TEN_MINUTES", "THIRTY_MINUTES", "ONE_HOUR")
DEFAULT_ALERTS = ("DEPLOYMENT_FAILED", "DOMAIN_FAILED")  # the platform adds both to every app
PLATFORM_KEYS = {"region", "instance_size", "instance_count", "autoscaling", "alerts", "components"}
SCALE_KEYS = {"instance_size", "instance_count", "autoscaling"}
# What the platform has no place for; refused rather than silently dropped.
NO_PLACE = {"volumes": "App Platform has no volumes (keep data in berth_infra.databases or Spaces)"}
FINGERPRINTS = "BERTH_SECRET_HMACS"  # app-level GENERAL env: component.KEY=hmac, never the values
KINDS = ("services", "workers", "jobs")
KEYED = {"services": "name", "workers": "name", "jobs": "name", "envs": "key", "databases": "name",
         "domains": "domain", "alerts": "rule"}
# Top-level parts berth renders: one gone from the inventory is a difference too.
RENDERED = ("services", "workers", "jobs", "domains", "databases", "alerts", "envs")
RULE_PART = re.compile(r"^\s*(Host|PathPrefix)\(`([^`]+)`\)\s*$")


def _name(errors: _spec.Errors, path: str, value: Any) -> None:
    if not isinstance(value, str) or not NAME.match(value):
        errors.add(path, value, NAME_RULE)


def _whole(errors: _spec.Errors, path: str, value: Any, low: int, high: int) -> int | None:
    number = _spec._integer(value)
    if number is None or not low <= number <= high:
        errors.add(path, value, f"must be a whole number between {low} and {high}")
        return None
    return number


def _scale(errors: _spec.Errors, path: str, given: Any, base: dict) -> dict:
    """instance_size_slug with instance_count or autoscaling (never both: the platform refuses)."""
    if not isinstance(given, dict):
        errors.add(path, given, "must be a dict (instance_size, instance_count or autoscaling)")
        return {}
    for key in sorted(set(given) - SCALE_KEYS):
        errors.add(f"{path}.{key}", given[key], f"is not a scaling setting ({', '.join(sorted(SCALE_KEYS))})")
    merged = {**base, **given}
    if "instance_count" in given and "autoscaling" in given:
        errors.add(f"{path}.autoscaling", given["autoscaling"], "excludes instance_count (set one of them)")
    elif "instance_count" in given:
        merged.pop("autoscaling", None)
    elif "autoscaling" in given:
        merged.pop("instance_count", None)
    out: dict[str, Any] = {"instance_size_slug": merged.get("instance_size", DEFAULT_SIZE)}
    if out["instance_size_slug"] not in SIZES:
        errors.add(f"{path}.instance_size", out["instance_size_slug"],
                   f"is not an App Platform size ({', '.join(SIZES)})")
    if "autoscaling" in merged:
        auto = merged["autoscaling"]
        if not isinstance(auto, dict) or set(auto) - {"min", "max", "cpu"} or not {"min", "max"} <= set(auto):
            errors.add(f"{path}.autoscaling", auto, "must be {min, max[, cpu]}")
        else:
            low = _whole(errors, f"{path}.autoscaling.min", auto["min"], 1, 250)
            high = _whole(errors, f"{path}.autoscaling.max", auto["max"], 1, 250)
            cpu = _whole(errors, f"{path}.autoscaling.cpu", auto.get("cpu", 80), 1, 100)
            if low and high and low > high:
                errors.add(f"{path}.autoscaling.min", low, f"is above max ({high})")
            out["autoscaling"] = {"min_instance_count": low, "max_instance_count": high,
                                  "metrics": {"cpu": {"percent": cpu}}}
    else:
        out["instance_count"] = _whole(errors, f"{path}.instance_count", merged.get("instance_count", 1), 1, 250)
    return out


def _image(errors: _spec.Errors, path: str, ref: str, credentials: dict) -> dict:
    try:
        parsed = parse_reference(ref)
    except RegistryError as exc:
        errors.add(path, ref, str(exc))
        return {}
    kind = REGISTRY_TYPES.get(parsed.registry)
    if kind is None:
        errors.add(path, ref, f"is not on a registry App Platform pulls from ({', '.join(REGISTRY_TYPES)})")
        return {}
    if not parsed.digest:
        errors.add(path, ref, "was not resolved to a digest")
        return {}
    image: dict[str, Any] = {"registry_type": kind, "digest": parsed.digest}
    namespace, _, repository = parsed.repository.partition("/")
    if kind == "DOCR":
        image["repository"] = repository or namespace
    else:
        image.update(registry=namespace, repository=repository or namespace)
    cred = _registries.for_image_registry(credentials, parsed.registry)
    if cred is not None:
        image["registry_credentials"] = f"{cred.username}:{cred.password}"
    return image


def _envs(plain: dict, secret: dict) -> list[dict]:
    envs = [{"key": k, "value": v, "scope": "RUN_TIME", "type": "GENERAL"} for k, v in sorted(plain.items())]
    envs += [{"key": k, "value": v, "scope": "RUN_TIME", "type": "SECRET"} for k, v in sorted(secret.items())]
    return envs


def _health(svc: dict) -> dict:
    health = svc["health"]
    return {"http_path": health["path"], "port": svc["port"],
            "period_seconds": max(1, min(300, round(health["interval"]))),
            "timeout_seconds": max(1, min(120, round(health["timeout"]))),
            "failure_threshold": max(1, min(50, health["max_bad_answers"] or 1)),
            "initial_delay_seconds": 0}


def _ingress(errors: _spec.Errors, routers: dict, domain: str) -> tuple[list[dict], list[str]]:
    """Traefik rules App Platform can express (Host and PathPrefix joined by &&) as ingress rules."""
    rules, hosts = [], []
    for name, rule in routers.items():
        host, prefix, bad = None, "/", False
        for part in rule.split("&&"):
            match = RULE_PART.match(part)
            if not match:
                bad = True
                break
            if match[1] == "Host":
                host = match[2]
            else:
                prefix = match[2]
        if bad:
            errors.add(f"berth_services.{name}.rule", rule, "cannot be an App Platform ingress rule "
                       "(Host(`...`) and PathPrefix(`/...`) joined by && only)")
            continue
        match_spec: dict[str, Any] = {"path": {"prefix": prefix}}
        if host and host != domain:
            match_spec["authority"] = {"exact": host}
            hosts.append(host)
        # Traefik passes the path on as it came; the platform strips a prefix unless told not to.
        rules.append({"match": match_spec, "component": {"name": name, "preserve_path_prefix": True}})
    rules.sort(key=lambda r: -len(r["match"]["path"]["prefix"]))
    return rules, list(dict.fromkeys(hosts))


def _databases(errors: _spec.Errors, infra: Any) -> list[dict]:
    if not infra:
        return []
    if not isinstance(infra, dict) or not isinstance(infra.get("databases") or {}, dict):
        errors.add("berth_infra.databases", infra, "must be a dict of cluster key to {engine, ...}")
        return []
    out = []
    for key, given in (infra.get("databases") or {}).items():
        _name(errors, f"berth_infra.databases.{key}", key)
        db = given if isinstance(given, dict) else {}
        engine = ENGINES.get(str(db.get("engine", "pg")))
        if engine is None:
            errors.add(f"berth_infra.databases.{key}.engine", db.get("engine"), "is not an engine App Platform binds")
            continue
        entry = {"name": key, "engine": engine, "production": True, "cluster_name": f"{infra.get('name')}-{key}"}
        if db.get("databases"):
            entry["db_name"] = db["databases"][0]
        if db.get("users"):
            entry["db_user"] = db["users"][0]
        out.append(entry)
    return out


def _alerts(errors: _spec.Errors, alerts: Any) -> list[dict]:
    if not isinstance(alerts, list):
        errors.add("berth_app_platform.alerts", alerts, "must be a list of {rule, operator, value, window}")
        return []
    out = []
    for index, alert in enumerate(alerts):
        path = f"berth_app_platform.alerts[{index}]"
        if not isinstance(alert, dict) or alert.get("rule") not in ALERT_RULES:
            errors.add(path + ".rule", alert.get("rule") if isinstance(alert, dict) else alert,
                       f"is not an alert rule ({', '.join(ALERT_RULES)})")
            continue
        entry = {"rule": alert["rule"]}
        if "value" in alert:
            if alert.get("operator") not in OPERATORS:
                errors.add(path + ".operator", alert.get("operator"), f"must be one of {', '.join(OPERATORS)}")
            if alert.get("window") not in WINDOWS:
                errors.add(path + ".window", alert.get("window"), f"must be one of {', '.join(WINDOWS)}")
            value = _spec._number(alert["value"])
            if value is None:
                errors.add(path + ".value", alert["value"], "must be a number")
            entry.update(operator=alert.get("operator"), value=value, window=alert.get("window"))
        out.append(entry)
    return out


def _platform(errors: _spec.Errors, platform: Any, infra: dict) -> tuple[str, dict, dict]:
    """berth_app_platform checked: (region, default scaling settings, per-component scaling)."""
    if not isinstance(platform, dict):
        errors.add("berth_app_platform", platform, "must be a dict")
        platform = {}
    for key in sorted(set(platform) - PLATFORM_KEYS):
        errors.add(f"berth_app_platform.{key}", platform[key], f"is not a setting ({', '.join(sorted(PLATFORM_KEYS))})")
    region = platform.get("region") or re.sub(r"[0-9]+$", "", str(infra.get("region", "nyc")))
    if region not in REGIONS:
        errors.add("berth_app_platform.region", region, f"is not an App Platform region ({', '.join(REGIONS)})")
    base = {k: platform[k] for k in SCALE_KEYS if k in platform}
    components = platform.get("components") or {}
    if not isinstance(components, dict):
        errors.add("berth_app_platform.components", components, "must be a dict of service name to scaling")
        components = {}
    scales = {None: _scale(errors, "berth_app_platform", base, {})}
    for name, given in components.items():
        scales[name] = _scale(errors, f"berth_app_platform.components.{name}", given, base)
    return region, scales, platform


def _component(errors: _spec.Errors, path: str, name: str, svc: dict, *, secret: dict, scale: dict,
               credentials: dict) -> dict:
    if _spec.SERVICE.match(name):  # else _spec.build named it already
        _name(errors, path, name)
    for key, why in NO_PLACE.items():
        if key in svc:
            errors.add(f"{path}.{key}", svc[key], why)
    image = _image(errors, path + ".image", svc["image"], credentials) if svc.get("image") else {}
    comp: dict[str, Any] = {"name": name, "image": image, **scale}
    if svc.get("env") or secret:
        comp["envs"] = _envs(svc.get("env") or {}, secret)
    if svc.get("command"):
        comp["run_command"] = shlex.join(svc["command"])
    if svc.get("port"):
        comp.update(http_port=svc["port"], health_check=_health(svc))
    return comp


def _jobs(errors: _spec.Errors, hooks: list, components: dict) -> list[dict]:
    """Each pre-switch hook as a PRE_DEPLOY job in its service's image and env."""
    jobs = []
    for index, hook in enumerate(hooks):
        _name(errors, f"berth_hooks[{index}].name", hook["name"])
        source = components.get(hook["service"])
        if source is None or not hook["command"]:
            continue
        jobs.append({"name": hook["name"], "kind": "PRE_DEPLOY", "image": copy.deepcopy(source["image"]),
                     "envs": copy.deepcopy(source.get("envs", [])), "run_command": shlex.join(hook["command"]),
                     "instance_size_slug": source["instance_size_slug"], "instance_count": 1})
    return jobs


def render(inputs: dict) -> tuple[dict, list[str]]:
    """inputs: app, domain, services, accessories, env (secret), hooks, infra, platform, pinned, registries,
    registry, username, password. Returns (app spec, errors)."""
    spec, found = _spec.build({key: inputs.get(key) for key in
                               ("app", "domain", "services", "accessories", "env", "hooks")})
    errors = _spec.Errors(found)
    if _spec.APP.match(str(inputs.get("app"))):  # else _spec.build named it already
        _name(errors, "berth_app", inputs.get("app"))
    if not errors:
        spec, unpinned = _spec.pin(spec, inputs.get("pinned") or {})
        errors.extend(unpinned)
    credentials, bad = _registries.merge(inputs.get("registries"), inputs.get("registry"),
                                         inputs.get("username"), inputs.get("password"))
    errors.extend(bad)
    infra = inputs.get("infra") or {}
    region, scales, platform = _platform(errors, inputs.get("platform") or {}, infra)
    env_in = inputs.get("env") or {}
    # Checked (and refused with the variable's name) by _spec.build above; here only the values are taken.
    secrets = {name: _spec._env(f"{_spec.ENV_VARIABLE}.{name}", values, _spec.Errors(), secret=True)
               for name, values in (env_in.items() if isinstance(env_in, dict) else [])}
    components = {}
    for var, group in (("berth_services", spec["services"]), ("berth_accessories", spec["accessories"])):
        for name, svc in group.items():
            components[name] = _component(errors, f"{var}.{name}", name, svc, secret=secrets.get(name) or {},
                                          scale=scales.get(name, scales[None]), credentials=credentials)
    for name in sorted(set(scales) - {None} - set(components)):
        errors.add(f"berth_app_platform.components.{name}", name, "is not a service or accessory of this stack")
    rules, hosts = _ingress(errors, spec["routers"], spec["domain"])
    out: dict[str, Any] = {
        "name": inputs.get("app"), "region": region,
        "services": [c for c in components.values() if "http_port" in c],
        "workers": [c for c in components.values() if "http_port" not in c],
        "jobs": _jobs(errors, spec["hooks"], components), "ingress": {"rules": rules},
        "domains": ([{"domain": spec["domain"], "type": "PRIMARY"}] if spec["domain"] else [])
        + [{"domain": host, "type": "ALIAS"} for host in hosts],
        "databases": _databases(errors, infra), "alerts": _alerts(errors, platform.get("alerts") or [])}
    return {k: v for k, v in out.items() if v != []}, list(errors)


# -- secrets ----------------------------------------------------------------------------------------

def _secret_slots(spec: dict):
    """(label, holder, field) of every secret value in a spec: SECRET envs and registry credentials."""
    for kind in KINDS:
        for comp in spec.get(kind) or []:
            image = comp.get("image") or {}
            if "registry_credentials" in image:
                yield f"{comp['name']}.image", image, "registry_credentials"
            for env in comp.get("envs") or []:
                if env.get("type") == "SECRET":
                    yield f"{comp['name']}.{env['key']}", env, "value"


def fingerprint(label: str, value: str, key: str) -> str:
    return hmac.new(key.encode(), f"{label}\0{value}".encode(), hashlib.sha256).hexdigest()[:32]


def seal(desired: dict, live: dict | None, key: str) -> dict:
    """The desired spec with its secrets' HMACs recorded in an app-level env, and every secret that the live
    app already holds (same HMAC) replaced by the live ciphertext."""
    out = copy.deepcopy(desired)
    recorded = _recorded(live or {})
    held = {label: holder[field] for label, holder, field in _secret_slots(live or {})}
    prints = []
    for label, holder, field in _secret_slots(out):
        mark = fingerprint(label, holder[field], key)
        prints.append(f"{label}={mark}")
        if recorded.get(label) == mark and str(held.get(label, "")).startswith("EV["):
            holder[field] = held[label]
    out["envs"] = [env for env in out.get("envs") or [] if env.get("key") != FINGERPRINTS]
    if prints:
        out["envs"].append({"key": FINGERPRINTS, "value": ",".join(sorted(prints)), "scope": "RUN_TIME",
                            "type": "GENERAL"})
    if not out["envs"]:
        del out["envs"]
    return out


def _recorded(live: dict) -> dict[str, str]:
    value = next((e.get("value", "") for e in live.get("envs") or [] if e.get("key") == FINGERPRINTS), "")
    return dict(item.split("=", 1) for item in value.split(",") if "=" in item)


def has_secrets(spec: dict) -> bool:
    return any(True for _ in _secret_slots(spec))


def redacted(spec: dict) -> dict:
    """The spec with every secret value replaced (for reports and diffs)."""
    out = copy.deepcopy(spec)
    for _label, holder, field in _secret_slots(out):
        holder[field] = "(secret)"
    return out


# -- comparison ---------------------------------------------------------------------------------------

def with_defaults(spec: dict) -> dict:
    """The desired spec as the API will store it (the defaults it fills in)."""
    out = copy.deepcopy(spec)
    for env in out.get("envs") or []:
        env.setdefault("scope", "RUN_AND_BUILD_TIME")
        env.setdefault("type", "GENERAL")
    for kind in KINDS:
        for comp in out.get(kind) or []:
            comp.setdefault("instance_size_slug", DEFAULT_SIZE)
            if "autoscaling" not in comp:
                comp.setdefault("instance_count", 1)
            if kind == "jobs":
                comp.setdefault("kind", "UNSPECIFIED")
            for env in comp.setdefault("envs", []):
                env.setdefault("scope", "RUN_AND_BUILD_TIME")
                env.setdefault("type", "GENERAL")
    alerts = out.setdefault("alerts", [])
    for rule in DEFAULT_ALERTS:
        if not any(a.get("rule") == rule for a in alerts):
            alerts.append({"rule": rule})
    return out


def _keyed(value: Any, field: str | None = None) -> Any:
    if isinstance(value, dict):
        return {k: _keyed(v, k) for k, v in value.items()}
    if isinstance(value, list):
        key = KEYED.get(field or "")
        if key and all(isinstance(v, dict) and key in v for v in value):
            return {v[key]: _keyed(v) for v in value}
        return [_keyed(v) for v in value]
    return value


def _project(live: Any, desired: Any, keyed: bool = False) -> Any:
    """``live`` restricted to the fields ``desired`` renders; members of keyed lists are all kept."""
    if isinstance(desired, dict) and isinstance(live, dict):
        if keyed:
            return {k: _project(v, desired[k]) if k in desired else v for k, v in live.items()}
        return {k: _project(live.get(k), v, k in KEYED) for k, v in desired.items()}
    if isinstance(desired, list) and isinstance(live, list) and len(desired) == len(live):
        return [_project(lv, dv) for lv, dv in zip(live, desired, strict=True)]
    return live


def _paths(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in list(dict.fromkeys([*a, *b])):
            out += _paths(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    empty = (None, [], {})
    return [] if a == b or (a in empty and b in empty) else [prefix or "(spec)"]


def differences(desired: dict, live: dict | None) -> list[str]:
    """The dotted paths where the live spec differs from the desired one (the API's defaults applied)."""
    want = _keyed({**{key: [] for key in RENDERED}, **with_defaults(desired)})
    if live is None:
        return ["(no app)"]
    return _paths(_project(_keyed(live), want), want)


def references(spec: dict | None) -> dict[str, str]:
    """component -> its pinned image reference (registry/repository@digest) of a spec."""
    hosts = {kind: host for host, kind in REGISTRY_TYPES.items()}
    found = {}
    for kind in KINDS:
        for comp in (spec or {}).get(kind) or []:
            image = comp.get("image") or {}
            if image.get("digest"):
                path = "/".join(part for part in (image.get("registry"), image.get("repository")) if part)
                found[comp["name"]] = f"{hosts.get(image.get('registry_type'), '')}/{path}@{image['digest']}"
    return found


def digests(spec: dict | None) -> dict[str, str]:
    """component -> image digest of a spec (a deployment's or the app's)."""
    return {comp["name"]: (comp.get("image") or {}).get("digest", "")
            for kind in KINDS for comp in (spec or {}).get(kind) or [] if comp.get("image")}

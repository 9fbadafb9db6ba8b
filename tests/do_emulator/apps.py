"""App Platform in the emulator: stateful /v2/apps*, as the real platform behaves where the spec is silent.

- A create or update stores the spec with the API's defaults (``DEFAULTS`` below) and starts a deployment
  in PENDING_DEPLOY; each read of the app or the deployment moves it on (``settle`` reads per phase):
  DEPLOYING, then ACTIVE (the previous active one becomes SUPERSEDED).
- SECRET env values and ``registry_credentials`` are stored encrypted as ``EV[1:...]``, a new ciphertext for
  each plaintext sent; a ciphertext sent back is kept as it is (an unknown one is refused).
- Rules the spec states only in prose: an image's ``tag`` and ``digest`` exclude each other; a component's
  ``instance_count`` and ``autoscaling`` exclude each other; component names are unique in the app.
- Faults (set by tests on ``Apps``): ``outcomes`` (the next deployments end in "error", with the platform's
  automatic rollback: the previous deployment keeps serving, or stay "stuck" in DEPLOYING),
  ``refuse_rollback`` (a validation condition code), ``fail_after_create`` (create the app, then answer 500).
"""

from __future__ import annotations

import base64
import copy
import re
import secrets
import uuid
from datetime import UTC, datetime

from .cloud import ApiError

COMPONENTS = ("services", "workers", "jobs", "static_sites")
DEFAULT_SIZE = "apps-s-1vcpu-0.5gb"
# US$ per instance and month (the slugs the spec lists; the platform's published prices).
PRICES = {"apps-s-1vcpu-0.5gb": 5, "apps-s-1vcpu-1gb-fixed": 10, "apps-s-1vcpu-1gb": 12, "apps-s-1vcpu-2gb": 25,
          "apps-s-2vcpu-4gb": 50, "apps-d-1vcpu-0.5gb": 29, "apps-d-1vcpu-1gb": 34, "apps-d-1vcpu-2gb": 39,
          "apps-d-1vcpu-4gb": 49, "apps-d-2vcpu-4gb": 78, "apps-d-2vcpu-8gb": 98, "apps-d-4vcpu-8gb": 156,
          "apps-d-4vcpu-16gb": 196, "apps-d-8vcpu-32gb": 392}
DEFAULT_ALERTS = ("DEPLOYMENT_FAILED", "DOMAIN_FAILED")  # the platform adds both to every app
TERMINAL = ("ACTIVE", "SUPERSEDED", "ERROR", "CANCELED")
REVISION_LIMIT = 10  # deployments back that a rollback may reach


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _public(value):
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


class Apps:
    def __init__(self, settle: int = 1) -> None:
        self.settle = settle
        self.reset()

    def reset(self) -> None:
        self.apps: dict[str, dict] = {}
        self.ciphers: dict[str, str] = {}
        self.outcomes: list[str] = []
        self.refuse_rollback: str | None = None
        self.fail_after_create = 0

    # -- spec rules, defaults and secrets ---------------------------------------------------------

    @staticmethod
    def check(spec: dict) -> None:
        names: set[str] = set()
        for kind in COMPONENTS:
            for comp in spec.get(kind) or []:
                if comp["name"] in names:
                    raise ApiError(400, "invalid_argument", f"component name {comp['name']!r} is used twice")
                names.add(comp["name"])
                image = comp.get("image") or {}
                if image.get("tag") and image.get("digest"):
                    raise ApiError(400, "invalid_argument",
                                   f"{kind}.{comp['name']}.image: tag and digest are mutually exclusive")
                if "instance_count" in comp and "autoscaling" in comp:
                    raise ApiError(400, "invalid_argument", f"{kind}.{comp['name']}: instance_count and "
                                                            "autoscaling are mutually exclusive")
        for rule in (spec.get("ingress") or {}).get("rules") or []:
            target = (rule.get("component") or {}).get("name")
            if target and target not in names:
                raise ApiError(400, "invalid_argument", f"ingress rule routes to unknown component {target!r}")

    def _encrypt(self, value: str) -> str:
        if value.startswith("EV["):
            if value not in self.ciphers:
                raise ApiError(400, "invalid_argument", "an encrypted value was not issued for this account")
            return value
        cipher = ("EV[1:" + base64.b64encode(secrets.token_bytes(24)).decode() + ":"
                  + base64.b64encode(secrets.token_bytes(len(value) + 16)).decode() + "]")
        self.ciphers[cipher] = value
        return cipher

    def stored(self, spec: dict, encrypt: bool = True) -> dict:
        """The spec as the platform keeps it: its defaults applied, secrets encrypted."""
        spec = copy.deepcopy(spec)
        seal = self._encrypt if encrypt else (lambda v: v if v.startswith("EV[") else "EV[1:proposed]")
        for env in spec.get("envs") or []:
            self._env_defaults(env, seal)
        for kind in COMPONENTS:
            for comp in spec.get(kind) or []:
                comp.setdefault("instance_size_slug", DEFAULT_SIZE)
                if "autoscaling" not in comp:
                    comp.setdefault("instance_count", 1)
                if kind == "jobs":
                    comp.setdefault("kind", "UNSPECIFIED")
                image = comp.get("image")
                if image is not None:
                    if not image.get("digest"):
                        image.setdefault("tag", "latest")
                    if image.get("registry_credentials"):
                        image["registry_credentials"] = seal(image["registry_credentials"])
                for env in comp.get("envs") or []:
                    self._env_defaults(env, seal)
        alerts = spec.setdefault("alerts", [])
        for rule in DEFAULT_ALERTS:
            if not any(alert.get("rule") == rule for alert in alerts):
                alerts.append({"rule": rule})
        if not (spec.get("ingress") or {}).get("rules") and spec.get("services"):
            spec["ingress"] = {"rules": [{"match": {"path": {"prefix": "/"}},
                                          "component": {"name": spec["services"][0]["name"]}}]}
        return spec

    @staticmethod
    def _env_defaults(env: dict, seal) -> None:
        env.setdefault("scope", "RUN_AND_BUILD_TIME")
        env.setdefault("type", "GENERAL")
        if env["type"] == "SECRET" and "value" in env:
            env["value"] = seal(env["value"])

    @staticmethod
    def cost(spec: dict) -> int:
        total = 0
        for kind in ("services", "workers"):
            for comp in spec.get(kind) or []:
                count = comp.get("instance_count") or (comp.get("autoscaling") or {}).get("min_instance_count", 1)
                total += PRICES.get(comp.get("instance_size_slug", DEFAULT_SIZE), 5) * count
        return total

    # -- apps and deployments ---------------------------------------------------------------------

    def _app(self, ident: str) -> dict:
        if ident not in self.apps:
            raise ApiError(404, "not_found", "app not found")
        return self.apps[ident]

    def _deployment(self, app: dict, ident: str) -> dict:
        found = next((d for d in app["_deployments"] if d["id"] == ident), None)
        if found is None:
            raise ApiError(404, "not_found", "deployment not found")
        return found

    def _deploy(self, app: dict, cause: str, cloned_from: str | None = None) -> dict:
        for old in app["_deployments"]:
            if old["phase"] not in TERMINAL:
                old["phase"] = "SUPERSEDED"
        spec = app["spec"]
        steps = [{"name": "deploy", "status": "PENDING", "component_name": c["name"]}
                 for kind in ("services", "workers") for c in spec.get(kind) or []]
        deployment = {
            "id": str(uuid.uuid4()), "cause": cause, "created_at": now(), "updated_at": now(),
            "phase": "PENDING_DEPLOY", "phase_last_updated_at": now(), "spec": copy.deepcopy(spec),
            "progress": {"pending_steps": len(steps), "running_steps": 0, "success_steps": 0, "error_steps": 0,
                         "total_steps": len(steps), "steps": steps},
            "services": [{"name": c["name"]} for c in spec.get("services") or []],
            "workers": [{"name": c["name"]} for c in spec.get("workers") or []],
            "jobs": [{"name": c["name"]} for c in spec.get("jobs") or []],
            "_reads": 0, "_outcome": self.outcomes.pop(0) if self.outcomes else "active",
        }
        if cloned_from:
            deployment["cloned_from"] = cloned_from
        app["_deployments"].insert(0, deployment)
        app["last_deployment_created_at"] = deployment["created_at"]
        return deployment

    def _advance(self, app: dict, deployment: dict) -> None:
        if deployment["phase"] in TERMINAL:
            return
        deployment["_reads"] += 1
        if deployment["_reads"] <= self.settle:
            return
        deployment["_reads"] = 0
        steps = deployment["progress"]["steps"]
        if deployment["phase"] == "PENDING_DEPLOY":
            self._phase(deployment, "DEPLOYING")
            for step in steps:
                step.update(status="RUNNING", started_at=now())
            deployment["progress"].update(pending_steps=0, running_steps=len(steps))
        elif deployment["_outcome"] == "stuck":
            return
        elif deployment["_outcome"] == "error":
            self._phase(deployment, "ERROR")
            failing = steps[0] if steps else {"name": "deploy", "component_name": "app"}
            failing.update(status="ERROR", ended_at=now(), reason={
                "code": "HealthChecksFailed",
                "message": "Your deployed component failed its readiness health check"})
            deployment["progress"].update(running_steps=0, error_steps=1, success_steps=len(steps) - 1)
        else:
            previous = self._active(app)
            if previous is not None:
                self._phase(previous, "SUPERSEDED")
            self._phase(deployment, "ACTIVE")
            for step in steps:
                step.update(status="SUCCESS", ended_at=now())
            deployment["progress"].update(running_steps=0, success_steps=len(steps))
            app["_active"] = deployment["id"]

    @staticmethod
    def _phase(deployment: dict, phase: str) -> None:
        deployment.update(phase=phase, phase_last_updated_at=now(), updated_at=now())

    def _active(self, app: dict) -> dict | None:
        return next((d for d in app["_deployments"] if d["id"] == app.get("_active")), None)

    def view(self, app: dict) -> dict:
        for deployment in app["_deployments"]:
            self._advance(app, deployment)
        out = {k: v for k, v in app.items() if not k.startswith("_")}
        active = self._active(app)
        if active is not None:
            out["active_deployment"] = active
        running = next((d for d in app["_deployments"] if d["phase"] not in TERMINAL), None)
        if running is not None:
            out["in_progress_deployment"] = running
            out["pending_deployment"] = running
        if app.get("_pinned"):
            out["pinned_deployment"] = self._deployment(app, app["_pinned"])
        return _public(out)

    def create(self, body: dict) -> dict:
        spec = body["spec"]
        self.check(spec)
        if any(a["spec"]["name"] == spec["name"] for a in self.apps.values()):
            raise ApiError(409, "conflict", f"an app named {spec['name']!r} already exists")
        ident = str(uuid.uuid4())
        app = {"id": ident, "owner_uuid": str(uuid.uuid4()), "spec": self.stored(spec), "created_at": now(),
               "updated_at": now(), "default_ingress": f"https://{spec['name']}-emu.ondigitalocean.app",
               "live_url": f"https://{spec['name']}-emu.ondigitalocean.app", "tier_slug": "basic",
               "_deployments": [], "_active": None, "_pinned": None}
        self.apps[ident] = app
        self._deploy(app, "initial deployment")
        if self.fail_after_create > 0:
            self.fail_after_create -= 1
            raise ApiError(500, "server_error", "the app was created but the answer was lost")
        return self.view(app)

    def update(self, ident: str, body: dict) -> dict:
        app = self._app(ident)
        spec = body["spec"]
        self.check(spec)
        if spec["name"] != app["spec"]["name"]:
            raise ApiError(400, "invalid_argument", "an app's name cannot change")
        app["spec"] = self.stored(spec)
        app["updated_at"] = now()
        self._deploy(app, "app spec updated")
        return self.view(app)

    def propose(self, body: dict) -> dict:
        self.check(body["spec"])
        spec = self.stored(body["spec"], encrypt=False)
        taken = any(a["spec"]["name"] == spec["name"] and a["id"] != body.get("app_id") for a in self.apps.values())
        return {"spec": spec, "app_cost": self.cost(spec), "app_name_available": not taken, "app_is_static": False}

    # -- rollback ---------------------------------------------------------------------------------

    def validate_rollback(self, ident: str, body: dict) -> dict:
        app = self._app(ident)
        target = self._deployment(app, body.get("deployment_id", ""))
        problem = None
        if app.get("_pinned"):
            problem = ("app_pinned", "the app is pinned to a rollback: commit or revert it first")
        elif self.refuse_rollback:
            problem = (self.refuse_rollback, f"rollback refused: {self.refuse_rollback}")
        elif target["phase"] not in ("ACTIVE", "SUPERSEDED"):
            problem = ("incompatible_result", f"deployment {target['id']} ended {target['phase']}")
        elif app["_deployments"].index(target) >= REVISION_LIMIT:
            problem = ("exceeded_revision_limit", "the deployment is too far back")
        elif any(not (c.get("image") or {}).get("digest") for kind in COMPONENTS
                 for c in target["spec"].get(kind) or [] if c.get("image")):
            problem = ("image_source_missing_digest", "an image of that deployment is not pinned by digest")
        if problem:
            return {"valid": False, "error": {"code": problem[0], "message": problem[1]}, "warnings": []}
        return {"valid": True, "warnings": []}

    def rollback(self, ident: str, body: dict) -> dict:
        verdict = self.validate_rollback(ident, body)
        if not verdict["valid"]:
            raise ApiError(400, "invalid_argument", verdict["error"]["message"])
        app = self._app(ident)
        target = self._deployment(app, body["deployment_id"])
        app["_before_rollback"] = app["spec"]
        app["spec"] = copy.deepcopy(target["spec"])
        deployment = self._deploy(app, "manual rollback", cloned_from=target["id"])
        if not body.get("skip_pin"):
            app["_pinned"] = deployment["id"]
        return _public(deployment)

    def unpin(self, ident: str, revert: bool) -> None:
        app = self._app(ident)
        if not app.get("_pinned"):
            raise ApiError(400, "invalid_argument", "the app has no rollback to commit or revert")
        app["_pinned"] = None
        if revert:
            app["spec"] = app.pop("_before_rollback")
            self._deploy(app, "rollback reverted")


def dispatch(apps: Apps, method: str, path: str, query: dict, body: dict, paged):  # noqa: PLR0911, PLR0912
    """Answer one /v2/apps request: (status, body, headers)."""
    m = re.fullmatch
    if path == "/v2/apps":
        if method == "GET":
            return paged([apps.view(a) for a in apps.apps.values()], "apps", query, path)
        return 200, {"app": apps.create(body)}, {}
    if path == "/v2/apps/propose" and method == "POST":
        return 200, apps.propose(body), {}
    if g := m(r"/v2/apps/([\w-]+)", path):
        if method == "GET":
            return 200, {"app": apps.view(apps._app(g[1]))}, {}
        if method == "PUT":
            return 200, {"app": apps.update(g[1], body)}, {}
        if method == "DELETE":
            apps._app(g[1])
            del apps.apps[g[1]]
            return 200, {"id": g[1]}, {}
    if g := m(r"/v2/apps/([\w-]+)/deployments", path):
        app = apps._app(g[1])
        if method == "GET":
            apps.view(app)
            return paged(_public(app["_deployments"]), "deployments", query, path)
        return 200, {"deployment": _public(apps._deploy(app, "manual"))}, {}
    if (g := m(r"/v2/apps/([\w-]+)/deployments/([\w-]+)", path)) and method == "GET":
        app = apps._app(g[1])
        deployment = apps._deployment(app, g[2])
        apps._advance(app, deployment)
        return 200, {"deployment": _public(deployment)}, {}
    if (g := m(r"/v2/apps/([\w-]+)/rollback(/validate|/commit|/revert)?", path)) and method == "POST":
        if g[2] == "/validate":
            return 200, apps.validate_rollback(g[1], body), {}
        if g[2] is None:
            return 200, {"deployment": apps.rollback(g[1], body)}, {}
        apps.unpin(g[1], revert=g[2] == "/revert")
        return 200, None, {}
    raise ApiError(404, "not_found", f"the emulator does not serve {method} {path}")

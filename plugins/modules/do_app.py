#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_app
short_description: Converge a DigitalOcean App Platform app rendered from berth's inventory
version_added: 0.3.0
description:
  - Renders an app spec from the same inputs a droplet deploy reads (C(berth_services), C(berth_accessories),
    C(berth_env), C(berth_hooks), C(berth_domain), C(berth_infra)'s managed databases, C(berth_app_platform))
    and refuses bad input before any request, each error naming the variable and the value.
  - Finds the app by name and compares the rendered spec with the live one (the API's defaults applied,
    only the keys berth renders, lists keyed by name). Secrets are never read back; an HMAC of each secret
    under I(fingerprint_key) is kept in the app-level GENERAL env C(BERTH_SECRET_HMACS) and an unchanged
    secret is sent back as the platform's own ciphertext. No difference - no write.
  - Also compares the images of the active deployment, so after a failed deployment (the stored spec is
    new, the old images still serve) a rerun deploys again instead of reporting ok.
  - Deploys with POST or PUT and waits for that deployment (C(pending_deployment.id)) to end ACTIVE; any
    other end fails naming the phase, the failing step, its reason and component, and the deployment still
    serving. After a 5xx or no answer to the create, it lists the apps by name before any second POST.
  - In check mode it asks C(POST /v2/apps/propose) for the cost and sends no write.
  - I(operation=rollback) returns to the previous release with the platform's C(rollback/validate), then
    C(rollback) with C(skip_pin); where the platform refuses it PUTs the previous release's spec from
    berth's record in I(records_dir). A pinned app is committed first.
author: berth developers
options:
  app:
    description: The app's name (C(berth_app)), 2-32 lower-case letters, digits or C(-).
    type: str
    required: true
  services:
    description: The app services (C(berth_services)); with a port a routed service, without one a worker.
    type: dict
    default: {}
  accessories:
    description: Accessories (C(berth_accessories)), run as workers; they may not have volumes.
    type: dict
    default: {}
  env:
    description: Secret env per service (C(berth_env) or C(env_files_services)), sent as C(type=SECRET).
    type: dict
    default: {}
  hooks:
    description: Pre-switch hooks (C(berth_hooks)), each a C(PRE_DEPLOY) job in its service's image and env.
    type: list
    elements: dict
    default: []
  domain:
    description: The public host name (C(berth_domain)), the app's primary domain.
    type: str
    default: ""
  infra:
    description: The cloud layer's C(berth_infra); its C(databases) are attached by C(cluster_name).
    type: dict
    default: {}
  platform:
    description:
      - App Platform settings (C(berth_app_platform)) - C(region), C(instance_size), C(instance_count) or
        C(autoscaling) (C({min, max, cpu})), C(alerts) and per-service C(components) overrides.
    type: dict
    default: {}
  pinned:
    description: Image reference to pinned reference (from berth.ops.image_digest); references given
      with C(@sha256:...) need no entry.
    type: dict
    default: {}
  registries:
    description: Credentials per registry (C(berth_registries)); an image's registry credentials become its
      C(registry_credentials).
    type: dict
    default: {}
  registry:
    description: The registry of the one-registry shorthand (C(berth_registry)).
    type: str
    default: ghcr.io
  username:
    description: Registry user of the shorthand (C(berth_registry_username)).
    type: str
  password:
    description: Registry password or token of the shorthand (C(berth_registry_password)).
    type: str
  fingerprint_key:
    description:
      - Key of the HMACs that stand for the secrets (C(berth_app_platform_fingerprint_key), from a vault).
        Required when there is a secret. Changing it sends every secret once more.
    type: str
  operation:
    description: C(deploy) converges the app; C(rollback) returns to the previous release.
    type: str
    choices: [deploy, rollback]
    default: deploy
  deploy_timeout:
    description: Seconds a deployment may take to become ACTIVE.
    type: float
    default: 900.0
  records_dir:
    description: Directory on the controller where each release is recorded (one JSON file per attempt).
    type: path
  release_id:
    description: This attempt's id in the record (default - time and deployment id).
    type: str
    default: ""
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write; secrets and the API's defaults are not differences.
"""

EXAMPLES = r"""
- name: Converge the app on App Platform
  berth.ops.do_app:
    app: shop
    domain: shop.example.com
    services:
      web: {image: "ghcr.io/acme/web@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            port: 8000, health: {path: /healthz}}
    env: {web: {SECRET_KEY: "{{ vault_secret_key }}"}}
    fingerprint_key: "{{ vault_fingerprint_key }}"
    records_dir: .berth/app-platform/shop
  register: app

- name: Nothing differs the second time
  ansible.builtin.assert:
    that: not app.changed
"""

RETURN = r"""
live:
  description:
    - What is live after the task - app id, URL, active deployment id and phase, digests, images (pinned
      references).
  returned: always
  type: dict
differences:
  description: The spec paths that differed (secret values never shown).
  returned: always
  type: list
  elements: str
release:
  description: The release record written (id, status, deployment_id, digests, images, cause, seconds_to_active).
  returned: when a deployment ran
  type: dict
proposal:
  description: In check mode, the platform's answer to the proposed spec (C(app_cost), C(app_name_available)).
  returned: in check mode when something differs
  type: dict
actions:
  description: The writes sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
api_requests:
  description: HTTP requests sent.
  returned: always
  type: int
api_writes:
  description: Requests that changed something (propose and rollback validation only read).
  returned: always
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _app_spec, _records, _spec
from ansible_collections.berth.ops.plugins.module_utils._do_api import DOError
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, run

ENDED = ("ACTIVE", "ERROR", "CANCELED", "SUPERSEDED")


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "app": {"type": "str", "required": True},
        "services": {"type": "dict", "default": {}},
        "accessories": {"type": "dict", "default": {}},
        "env": {"type": "dict", "default": {}, "no_log": True},
        "hooks": {"type": "list", "elements": "dict", "default": []},
        "domain": {"type": "str", "default": ""},
        "infra": {"type": "dict", "default": {}},
        "platform": {"type": "dict", "default": {}},
        "pinned": {"type": "dict", "default": {}},
        "registries": {"type": "dict", "default": {}, "no_log": True},
        "registry": {"type": "str", "default": "ghcr.io"},
        "username": {"type": "str"},
        "password": {"type": "str", "no_log": True},
        "fingerprint_key": {"type": "str", "no_log": True},
        "operation": {"type": "str", "choices": ["deploy", "rollback"], "default": "deploy"},
        "deploy_timeout": {"type": "float", "default": 900.0},
        "records_dir": {"type": "path"},
        "release_id": {"type": "str", "default": ""},
    }


def _read_only(api, path: str, body: dict, what: str) -> dict:
    """A POST that only reads (propose, rollback validation): not counted as a write."""
    answer = api.send("POST", path, body, what=what)
    api.stats.writes -= 1
    return answer


def find_named_app(api, name: str) -> dict | None:
    return next((a for a in api.list("/v2/apps", "apps", what=f"app {name!r}")
                 if (a.get("spec") or {}).get("name") == name), None)


def _failed_step(deployment: dict) -> dict:
    """The first step that ended in ERROR, searched through nested steps."""
    todo = list((deployment.get("progress") or {}).get("steps") or [])
    while todo:
        step = todo.pop(0)
        if step.get("status") == "ERROR":
            return step
        todo[:0] = step.get("steps") or []
    return {}


def _wait(api, app: dict, deployment_id: str, timeout: float) -> tuple[dict, float]:
    """Poll the deployment until it ends; (deployment, seconds). Raises when not ACTIVE."""
    name = app["spec"]["name"]
    what = f"deployment {deployment_id} of app {name!r}"
    started = api.clock()
    while True:
        deployment = api.get(f"/v2/apps/{app['id']}/deployments/{deployment_id}", what=what)["deployment"]
        phase = deployment.get("phase", "UNKNOWN")
        seconds = round(api.clock() - started, 2)
        if phase == "ACTIVE":
            return deployment, seconds
        if phase in ENDED or api.clock() - started >= timeout:
            serving = api.get(f"/v2/apps/{app['id']}", what=f"app {name!r}")["app"].get("active_deployment") or {}
            still = f"deployment {serving['id']} is still serving" if serving else "no deployment is serving"
            if phase in ENDED:
                step = _failed_step(deployment)
                reason = step.get("reason") or {}
                at = (f" at step {step.get('name')!r} of component {step.get('component_name')!r}: "
                      f"{reason.get('message', 'no reason given')} ({reason.get('code', '-')})") if step else ""
                raise DOError("deployment_failed", f"{what} ended {phase}{at}; {still}")
            raise DOError("timeout", f"{what} did not become ACTIVE within {timeout:g} s (last phase {phase}); "
                                     f"{still}")
        api.sleep(api.poll_interval)


def _record(module, status: str, app: dict, deployment_id: str, **extra) -> dict | None:
    p = module.params
    spec = app.get("spec") or {}
    record = {"id": p["release_id"] or f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{deployment_id[:8]}",
              "status": status, "kind": p["operation"], "target": "app_platform", "app": p["app"],
              "app_id": app.get("id"), "deployment_id": deployment_id, "digests": _app_spec.digests(spec),
              "images": _app_spec.references(spec),
              "spec": spec, **extra}
    if not p["records_dir"]:
        return {k: v for k, v in record.items() if k != "spec"}
    written = _records.write(p["records_dir"], record)
    return {k: v for k, v in written.items() if k != "spec"}


def _live(api, app: dict | None) -> dict:
    if not app:
        return {}
    active = app.get("active_deployment") or {}
    return {"id": app.get("id"), "url": app.get("live_url", ""), "deployment_id": active.get("id", ""),
            "phase": active.get("phase", ""), "digests": _app_spec.digests(active.get("spec")),
            "images": _app_spec.references(active.get("spec"))}


def _deploy(module, api, app: dict, deployment_id: str, cause: str) -> dict:
    """Wait for the deployment and record it either way."""
    try:
        deployment, seconds = _wait(api, app, deployment_id, module.params["deploy_timeout"])
    except DOError as exc:
        _record(module, "failed", app, deployment_id, cause=cause, message=str(exc))
        raise
    app = api.get(f"/v2/apps/{app['id']}", what=f"app {app['spec']['name']!r}")["app"]
    release = _record(module, "succeeded", app, deployment_id, cause=deployment.get("cause") or cause,
                      seconds_to_active=seconds, phase=deployment["phase"])
    return {"live": _live(api, app), "release": release}


def _create(api, name: str, spec: dict) -> dict:
    """POST the app; after a 5xx or no answer, list by name before a second POST (at most two)."""
    what = f"app {name!r}"
    for attempt in range(2):
        try:
            return api.send("POST", "/v2/apps", {"spec": spec}, what=what)["app"]
        except DOError as exc:
            if exc.kind not in ("server_error", "deadline"):
                raise
            found = find_named_app(api, name)  # it may exist: the answer, not the create, may have been lost
            if found is not None:
                return found
            if attempt:
                raise
    raise AssertionError("unreachable")


def _deployment_of(app: dict) -> str:
    return ((app.get("pending_deployment") or app.get("in_progress_deployment") or {}).get("id") or "")


def converge(module, api, plan) -> dict:
    p = module.params
    desired, errors = _app_spec.render({
        "app": p["app"], "domain": p["domain"], "services": p["services"], "accessories": p["accessories"],
        "env": p["env"], "hooks": p["hooks"], "infra": p["infra"], "platform": p["platform"], "pinned": p["pinned"],
        "registries": p["registries"], "registry": p["registry"], "username": p["username"],
        "password": p["password"]})
    if not errors and _app_spec.has_secrets(desired) and not p["fingerprint_key"]:
        errors.append("berth_app_platform_fingerprint_key: (missing) is needed to compare secrets without "
                      "reading them back (a vault value)")
    if errors:
        module.fail_json(**_spec.refusal(errors, "no request was sent"))
    app = find_named_app(api, p["app"])
    if p["operation"] == "rollback":
        return _rollback(module, api, plan, app)
    sealed = _app_spec.seal(desired, (app or {}).get("spec"), p["fingerprint_key"] or "")
    differences = _app_spec.differences(sealed, (app or {}).get("spec"))
    active = (app or {}).get("active_deployment") or {}
    stale = app is not None and not differences and \
        _app_spec.digests(active.get("spec")) != _app_spec.digests(sealed)
    result = {"differences": differences, "live": _live(api, app)}
    if not differences and not stale:
        return result
    plan.compare("spec", _app_spec.redacted((app or {}).get("spec") or {}) or None, _app_spec.redacted(sealed))
    if app is None:
        plan.add(f"create app {p['app']}")
    elif differences:
        plan.add(f"update app {p['app']} ({', '.join(differences)})")
    else:
        plan.add(f"deploy app {p['app']} again (the active deployment does not run the spec's images)")
    if module.check_mode:
        body = {"spec": sealed, **({"app_id": app["id"]} if app else {})}
        proposal = _read_only(api, "/v2/apps/propose", body, f"app {p['app']!r} (propose)")
        return {**result, "proposal": {k: proposal.get(k) for k in ("app_cost", "app_name_available")}}
    if app is None:
        app = _create(api, p["app"], sealed)
        cause = "created"
    elif differences:
        app = api.send("PUT", f"/v2/apps/{app['id']}", {"spec": sealed}, what=f"app {p['app']!r}")["app"]
        cause = "spec updated"
    elif app.get("in_progress_deployment"):
        cause = "waited for the deployment in progress"
    else:
        made = api.send("POST", f"/v2/apps/{app['id']}/deployments", {}, what=f"app {p['app']!r}")
        app = {**app, "pending_deployment": made["deployment"]}
        cause = "redeployed: the active deployment ran other images"
    return {**result, **_deploy(module, api, app, _deployment_of(app), cause)}


def _previous(api, app: dict, records_dir: str | None) -> tuple[str, dict | None]:
    """The deployment to return to, and berth's record of that release (when there is one)."""
    record = _records.previous_good(_records.load(records_dir)) if records_dir else None
    if record and record.get("deployment_id"):
        return record["deployment_id"], record
    active = (app.get("active_deployment") or {}).get("id")
    for deployment in api.list(f"/v2/apps/{app['id']}/deployments", "deployments", what="deployments"):
        if deployment["id"] != active and deployment.get("phase") == "SUPERSEDED":
            return deployment["id"], None
    raise DOError("no_previous", f"app {app['spec']['name']!r}: no previous release to return to")


def _rollback(module, api, plan, app: dict | None) -> dict:
    p = module.params
    if app is None:
        raise DOError("not_found", f"app {p['app']!r} does not exist: nothing to roll back")
    what = f"app {p['app']!r} rollback"
    if app.get("pinned_deployment"):
        plan.add("commit the rollback the app is pinned to")
        if not module.check_mode:
            api.request("POST", f"/v2/apps/{app['id']}/rollback/commit", what=what)
    target, record = _previous(api, app, p["records_dir"])
    body = {"deployment_id": target, "skip_pin": True}
    verdict = {"valid": True} if module.check_mode and app.get("pinned_deployment") else \
        _read_only(api, f"/v2/apps/{app['id']}/rollback/validate", body, what)
    if verdict.get("valid"):
        plan.add(f"roll back to deployment {target}")
        if module.check_mode:
            return {"live": _live(api, app), "differences": []}
        deployment = api.send("POST", f"/v2/apps/{app['id']}/rollback", body, what=what)["deployment"]
        return {"differences": [], **_deploy(module, api, app, deployment["id"], "rollback")}
    refusal = verdict.get("error") or {}
    if not record or not record.get("spec"):
        raise DOError("rollback_refused", f"{what}: the platform refused ({refusal.get('code')}: "
                                          f"{refusal.get('message')}) and berth has no record of that release")
    plan.add(f"put back the spec of release {record['id']} (the platform refused: {refusal.get('code')})")
    if module.check_mode:
        return {"live": _live(api, app), "differences": []}
    app = api.send("PUT", f"/v2/apps/{app['id']}", {"spec": record["spec"]}, what=what)["app"]
    return {"differences": [], **_deploy(module, api, app, _deployment_of(app),
                                         f"rollback by spec ({refusal.get('code')})")}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

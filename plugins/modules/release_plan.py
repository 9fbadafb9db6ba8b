#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_plan
short_description: Read what is live on a host and decide what a deploy, rollback or switch must do
version_added: 0.3.0
description:
  - One read of everything the release layer needs on a host, and the decision made from it. Reads
    the app's public Traefik routes (the live colour is the one they send traffic to), the release
    records, the rendered release directories (spec and env of each release), the colours'
    containers and the deploy lock. Changes nothing.
  - For O(kind=deploy), compares the given spec and env with the live release by checksum. Equal
    checksums with the live colour's containers running is a no-op; anything else is a new release,
    and RV(differences) says what differs (env values never appear, only key names).
  - For O(kind=rollback), the target is O(target) or the previous good release (the newest succeeded
    one before the live one whose checksum differs); its spec and env come from its release directory.
  - For O(kind=switch), the target is the release the idle colour runs.
  - RV(adopt) is true when the live colour already runs exactly this release but no record says so (a run
    killed after its switch) - the deploy then records it instead of deploying it again.
  - RV(warm) is true when the idle colour already runs exactly the target release and that release
    went live before (a succeeded record names it), so it only has to answer its gate once and be
    switched to. Containers left by a run that was killed before its switch are not warm.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: It only reads.
  idempotent:
    support: full
    details: It only reads.
options:
  root:
    description: The app's directory, for example C(/opt/shop).
    type: path
    required: true
  dynamic_dir:
    description: Traefik's watched file-provider directory.
    type: path
    default: /opt/traefik/dynamic
  kind:
    description: What is being planned.
    type: str
    choices: [deploy, rollback, switch]
    default: deploy
  spec:
    description: For O(kind=deploy), the release spec from M(berth.ops.release_spec) with pinned images.
    type: dict
    default: {}
  env_digests:
    description:
      - For O(kind=deploy), each service's env values as HMACs under O(env_key) (from
        M(berth.ops.release_spec)); compared with the live release's values on the host, so no value
        travels and none is returned.
    type: dict
    default: {}
  env_key:
    description: The key of O(env_digests) (a random secret of this attempt).
    type: str
    default: ""
  target:
    description: For O(kind=rollback), the release id to return to; empty for the previous good release.
    type: str
    default: ""
  app:
    description: The app's name (compose projects C(<app>-blue), C(<app>-green)).
    type: str
    required: true
  overlap:
    description: >-
      Let the warm standby a new release replaces stop in the background, beside the new release, when
      MemAvailable covers both (RV(standby)); false stops it first, as C(docker compose up) in its project would.
    type: bool
    default: true
notes:
  - Needs the docker CLI on the host.
"""

EXAMPLES = r"""
- name: plan | Compare this release with what is live
  berth.ops.release_plan:
    root: /opt/shop
    app: shop
    spec: "{{ release.spec }}"
    env_digests: "{{ release.env_digests }}"
    env_key: "{{ env_key }}"
  register: plan

- name: plan | Say what would change
  ansible.builtin.debug:
    msg: "{{ plan.differences }}"
"""

RETURN = r"""
project:
  description: >-
    The compose project the target's services run in: C(<app>-<colour>) or C(<app>-<colour>-2), the one the
    standby does not run in (a rendered target's is in its compose file).
  returned: always
  type: str
live_project:
  description: The compose project of the live release's services (empty when nothing is live).
  returned: always
  type: str
standby:
  description: >-
    For a target rendered anew: C(retire), the compose projects of the standby it replaces (moved aside, off
    every network, before the start); C(overlap), whether they stop in the background after the start; C(why),
    when not, why the standby stops first.
  returned: always
  type: dict
live_colour:
  description: The colour public traffic goes to; empty before the first release.
  returned: always
  type: str
  sample: blue
colour:
  description: The colour this attempt puts live (the idle one).
  returned: always
  type: str
  sample: green
live:
  description: The live release's record (the newest succeeded one), or null.
  returned: always
  type: dict
live_checksum:
  description:
    - The live release's checksum as its release directory holds it (C(spec.json), written on the host), or
      empty. status.yml compares hosts by it.
  returned: always
  type: str
live_spec:
  description: The live release's spec (no secret values), or null.
  returned: always
  type: dict
target:
  description: For rollback and switch, the record of the release returned to.
  returned: always
  type: dict
noop:
  description: Whether the live release already is what was asked for.
  returned: always
  type: bool
differences:
  description: What differs from the live release, one line each; env values never appear.
  returned: always
  type: list
  elements: str
  sample: ["memory of web: none -> 256m", "env file of web: 1 key changed (SECRET_KEY)"]
adopt:
  description: >-
    For O(kind=deploy), whether the live colour already serves exactly this release, rendered by a run that
    never recorded it (killed after its switch). RV(colour) is then the live colour - it is gated once,
    confirmed and recorded, and nothing is switched.
  returned: always
  type: bool
fallback:
  description:
    - For an adopted release (RV(adopt)), where a failed gate or confirm returns users - C(colour) and
      C(release), the newest succeeded release of the other colour, live before the killed run's switch - and
      C(warm), whether that colour still runs every app service of it. Only then does the rescue put back
      the routes the killed run saved in its release directory, C(routes_from); otherwise C(routes_from) is
      empty and the adopted release stays live. Empty when not adopted.
  returned: always
  type: dict
  sample: {"colour": "blue", "release": "20261205T101500Z-1a2b", "warm": true, "routes_from": "20261205T102000Z-3c4d"}
warm:
  description: >-
    Whether the idle colour already runs exactly the target release and it went live before (no render,
    pull or start needed; one good answer passes its gate).
  returned: always
  type: bool
spec:
  description: The spec to put live (for rollback and switch, the target's).
  returned: always
  type: dict
rendered:
  description: The release directory the target's files are in, when they exist already (warm, switch); else empty.
  returned: always
  type: str
env_from:
  description: For a rollback that is not warm, the release directory whose env files to render again.
  returned: always
  type: str
images:
  description: Each service's and accessory's pinned image in the target release.
  returned: always
  type: dict
checksums:
  description: The target's checksums (per service, env file, routing, hooks, and C(release) overall).
  returned: always
  type: dict
containers:
  description: Per colour, per service, whether its container runs and which release it belongs to.
  returned: always
  type: dict
lock:
  description: The deploy lock as it is now, or null.
  returned: always
  type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _host, _lock, _records, _render


def argument_spec() -> dict:
    return {
        "root": {"type": "path", "required": True},
        "dynamic_dir": {"type": "path", "default": "/opt/traefik/dynamic"},
        "kind": {"type": "str", "choices": ["deploy", "rollback", "switch"], "default": "deploy"},
        "spec": {"type": "dict", "default": {}},
        "env_digests": {"type": "dict", "default": {}},
        "env_key": {"type": "str", "default": "", "no_log": True},
        "target": {"type": "str", "default": ""},
        "app": {"type": "str", "required": True},
        "overlap": {"type": "bool", "default": True},
    }


def project_of(root: str, rendered: str, default: str) -> str:
    """The compose project a release directory's compose file names."""
    document = _host.read_routes(os.path.join(_host.release_dir(root, rendered), "compose.yml")) if rendered else None
    return (document or {}).get("name") or default


def rendered_release(root: str, rendered: str | None) -> tuple[dict | None, dict, dict]:
    """(spec, env, checksums) of a release directory."""
    if not rendered:
        return None, {}, {}
    saved = _host.read_json(os.path.join(_host.release_dir(root, rendered), "spec.json")) or {}
    return saved.get("spec"), _host.release_env(root, rendered), saved.get("checksums") or {}


def same_release(root: str, rendered: str, spec: dict, digests: dict, key: str) -> bool:
    """Whether a release directory holds exactly this spec and these env values."""
    old_spec, old_env, _sums = rendered_release(root, rendered)
    return old_spec == spec and not _render.env_report(old_env, digests, key)


# The decision's parts live in _records (pure, unit-tested); these names stay for the module's callers.
rendered_of = _records.rendered_of
colour_release = _records.colour_release
went_live = _records.went_live


pick_target = _records.return_target


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    app, root = p["app"], p["root"]
    public = _host.read_routes(os.path.join(p["dynamic_dir"], f"{app}.yml"))
    live_colour = _render.live_colour(public, app)
    records = _records.load(os.path.join(root, "releases"))
    live = _records.live_record(records, live_colour)
    live_spec, live_env, live_sums = rendered_release(root, rendered_of(live))
    try:
        containers = _host.containers(module.run_command, app)
    except RuntimeError as exc:
        module.fail_json(msg=str(exc))
    colour = _render.other(live_colour) if live_colour else "blue"
    idle = containers[colour]
    result = {"changed": False, "live_colour": live_colour, "colour": colour, "live": live, "live_spec": live_spec,
              "containers": containers, "lock": _lock.read(os.path.join(root, "releases", ".deploy.lock")),
              "target": None, "rendered": "", "env_from": "", "checksums": {}, "adopt": False, "fallback": {},
              "live_checksum": live_sums.get("release", "")}
    key = p["env_key"]
    if p["kind"] == "deploy":
        spec, digests = p["spec"], p["env_digests"]
        differences = (_render.differences(live_spec, spec) + _render.env_report(live_env, digests, key)) \
            if live and live_spec else ["nothing is live yet"]
        state = {"live_colour": live_colour, "records": records, "containers": containers}
        decided = _records.plan_deploy(state, spec, differences,
                                        lambda rendered: same_release(root, rendered, spec, digests, key))
        result.update(spec=spec, **decided,
                      checksums=rendered_release(root, decided["rendered"])[2] if decided["rendered"] else {})
        if decided["adopt"]:
            result["fallback"] = _records.adopted_fallback(records, containers, live_colour, decided["rendered"],
                                                            lambda rendered: rendered_release(root, rendered)[0])
    else:
        state = {"records": records, "live": live, "live_sum": live_sums.get("release", ""), "idle": idle}
        decided = _records.plan_return(p["kind"], state, p["target"],
                                        lambda rendered: rendered_release(root, rendered)[0])
        if "refused" in decided:
            module.fail_json(msg=f"{p['kind']} refused: {decided['refused']}. Nothing was changed.", **result)
        spec, env, sums = rendered_release(root, rendered_of(decided["target"]))
        result.update(target=decided["target"], spec=spec, checksums=sums, noop=False, warm=decided["warm"],
                      differences=_render.differences(live_spec, spec) + _render.env_report(
                          live_env, _render.env_digests(env, "compare"), "compare"),
                      rendered=decided["rendered"], env_from=decided["env_from"])
    spec = result.get("spec") or {}
    base = _records.projects(app, colour)[0]
    if result["rendered"] or not spec.get("services") or result.get("noop"):
        result.update(project=project_of(root, result["rendered"], base), standby={})
    else:
        usage = _host.memory_usage(module.run_command, idle) if p["overlap"] and idle else {}
        result["standby"] = _records.standby_plan(app, colour, spec, idle, overlap=p["overlap"],
                                                   mem_available=_host.mem_available(), usage=usage)
        result["project"] = result["standby"]["project"]
    result["live_project"] = project_of(root, rendered_of(live), _records.projects(app, live_colour)[0]) \
        if live else ""
    result["images"] = {name: svc["image"] for group in ("services", "accessories")
                        for name, svc in spec.get(group, {}).items()}
    module.exit_json(**result)


if __name__ == "__main__":
    main()

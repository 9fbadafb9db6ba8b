#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_render
short_description: Write a release's files on a host, once, under the deploy lock
version_added: 0.3.0
description:
  - Renders a release into its own directory C(<root>/releases/<release_id>/) from its spec
    C(spec.json) with the checksums, the compose file of the colour it goes to, and one env file
    per app service (C(env/), root only, mode 0600, never shown).
  - Installs that colour's Traefik routes (its services and private gate routes) and keeps the
    previous bytes of that file in the release directory, so a failed attempt can put them back
    exactly. The public routes are not touched (see M(berth.ops.release_switch)).
  - Singletons (C(singleton) services) get C(singletons.yml) in the release directory, the compose project
    C(<app>-singletons) outside the colours; the release role starts it after the gate.
  - Accessories (not blue/green) get C(<root>/compose/accessories.yml) and C(<root>/env/<name>.env);
    RV(accessories_changed) names those whose definition or env changed, which the caller applies in place.
  - Every compose file is checked with C(docker compose config) before it is used. Each colour's network
    (C(<app>-blue), C(<app>-green)) is created when missing; on it the colour's services reach each other
    by service name, and the accessories, which join both, by theirs. No app service joins a network
    shared with another colour or app; Traefik's container (O(traefik_container)) is connected to both
    colour networks instead and reaches a routed service there as C(<app>-<colour>-<service>).
  - Keeps the directories of the newest O(keep) releases and of any release a container runs; removes older ones.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Reports what it would write and writes nothing.
  idempotent:
    support: none
    details: >-
      Each call renders a new attempt's release directory (the release role calls it only when the plan
      found a difference); with only accessories, a change is reported only when theirs differ.
options:
  root:
    description: The app's directory, for example C(/opt/shop).
    type: path
    required: true
  app:
    description: The app's name.
    type: str
    required: true
  dynamic_dir:
    description: Traefik's watched file-provider directory.
    type: path
    default: /opt/traefik/dynamic
  release_id:
    description: This attempt's id (the directory's name).
    type: str
    required: true
  colour:
    description: The colour this release goes to.
    type: str
    required: true
    choices: [blue, green]
  spec:
    description: The release spec (pinned images), from M(berth.ops.release_plan).
    type: dict
    required: true
  env:
    description: Each service's env values (secret).
    type: dict
    default: {}
  env_from:
    description: Take the env values from this earlier release's directory instead of O(env) (a rollback).
    type: str
    default: ""
  keep:
    description: How many release directories to keep.
    type: int
    default: 10
  project:
    description: >-
      The compose project of the colour's services (RV(berth.ops.release_plan#module:project)); empty means
      C(<app>-<colour>).
    type: str
    default: ""
  traefik_container:
    description:
      - Traefik's container (berth.ops.traefik's), connected to each colour network where it is not yet.
    type: str
    default: traefik-traefik-1
  accessories_only:
    description:
      - Write only the accessories' compose file and env files, from O(spec) and the env of the release
        directory O(env_from). For a target that is already rendered and running (a warm deploy, a
        rollback or a switch to the warm colour), whose release directory, colour and routes are there
        already; its accessories, shared by both colours, are put back as its release had them.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: render | Write release files for colour green
  berth.ops.release_render:
    root: /opt/shop
    app: shop
    release_id: "{{ release_id }}"
    colour: green
    spec: "{{ plan.spec }}"
    env: "{{ berth_env }}"
  no_log: true

- name: render | Put back the accessories of the release the warm colour runs
  berth.ops.release_render:
    root: /opt/shop
    app: shop
    release_id: "{{ release_id }}"
    colour: blue
    spec: "{{ plan.spec }}"
    env_from: "{{ plan.rendered }}"
    accessories_only: true
"""

RETURN = r"""
accessories_changed:
  description: Accessories whose definition or env changed (the caller applies them in place).
  returned: always
  type: list
  elements: str
checksums:
  description: The release's checksums.
  returned: always
  type: dict
pruned:
  description: How many old release directories were removed.
  returned: success
  type: int
"""

import json
import os
import shutil

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _host, _records, _render


def argument_spec() -> dict:
    return {
        **_host.release_arguments(),
        "spec": {"type": "dict", "required": True},
        "env": {"type": "dict", "default": {}, "no_log": True},
        "env_from": {"type": "str", "default": ""},
        "keep": {"type": "int", "default": 10},
        "project": {"type": "str", "default": ""},
        "accessories_only": {"type": "bool", "default": False},
        "traefik_container": {"type": "str", "default": "traefik-traefik-1"},
    }


def check_compose(module: AnsibleModule, path: str) -> None:
    rc, out, err = module.run_command(["docker", "compose", "-f", path, "config", "--quiet"])
    if rc != 0:
        module.fail_json(msg=f"render: docker compose rejects {path}: {(err or out).strip()[:600]}")


def ensure_network(module: AnsibleModule, name: str) -> None:
    """A colour's network (external to every project, so the accessories can join it before the colour runs)."""
    rc, _out, _err = module.run_command(["docker", "network", "inspect", name])
    if rc != 0:
        rc, out, err = module.run_command(["docker", "network", "create", "--label", "berth.app", name])
        if rc != 0:
            module.fail_json(msg=f"render: cannot create network {name}: {(err or out).strip()}")


def join_traefik(module: AnsibleModule, container: str, networks: list[str]) -> None:
    """Connect Traefik to each colour network it is not on (berth.ops.traefik joins them again whenever it
    recreates its container): the colour's routed services are on their own network only."""
    rc, out, err = module.run_command(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container])
    if rc != 0:
        module.fail_json(msg=f"render: Traefik's container {container} is not there to join the colour networks "
                             f"(run provision.yml first): {(err or out).strip()}")
    joined = json.loads(out or "null") or {}
    for name in networks:
        if name in joined:
            continue
        rc, out, err = module.run_command(["docker", "network", "connect", name, container])
        # Another app's deploy on this host may have connected it a moment ago.
        if rc != 0 and "already exists" not in (err or out):
            module.fail_json(msg=f"render: cannot connect {container} to network {name}: {(err or out).strip()}")


def prune(root: str, keep: int, keep_ids: set[str]) -> list[str]:
    directory = os.path.join(root, "releases")
    records = _records.load(directory)
    wanted = set(keep_ids)
    for record in records[:keep]:
        wanted.add(record.get("rendered") or record["id"])
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not name.startswith(".") and name not in wanted:
            shutil.rmtree(path)
            removed.append(name)
    return removed


def write_accessories(module: AnsibleModule, root: str, spec: dict, env: dict) -> list[str]:
    """Accessories' compose file and env files, in place; returns the names whose inputs changed."""
    path = os.path.join(root, "compose", "accessories.yml")
    old = (_host.read_routes(path) or {}).get("services") or {}
    document = _render.compose_accessories(spec, root)
    changed = []
    for name in spec["accessories"]:
        text = _render.env_file_text(env.get(name, {}))
        env_path = os.path.join(root, "env", f"{name}.env")
        # Not running counts as changed too: an earlier attempt may have written the file and failed.
        rc, out, _err = module.run_command(["docker", "inspect", "-f", "{{.State.Running}}",
                                            f"{spec['app']}-accessories-{name}-1"])
        running = rc == 0 and out.strip() == "true"
        if not running or _host.read_bytes(env_path) != text.encode() or old.get(name) != document["services"][name]:
            changed.append(name)
    if module.check_mode or not spec["accessories"]:
        return changed
    os.makedirs(os.path.join(root, "compose"), mode=0o750, exist_ok=True)
    os.makedirs(os.path.join(root, "env"), mode=0o700, exist_ok=True)
    for name in spec["accessories"]:
        _host.write_atomic(os.path.join(root, "env", f"{name}.env"), _render.env_file_text(env.get(name, {})), 0o600)
    candidate = path + ".new"
    _host.write_atomic(candidate, _render.dump(document), 0o640)
    check_compose(module, candidate)
    os.replace(candidate, path)
    return changed


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    root, app, colour, spec = p["root"], p["app"], p["colour"], p["spec"]
    rid = p["release_id"]
    if not _records.ID_PATTERN.match(rid):
        module.fail_json(msg=f"release_id: {rid!r} must be letters, digits, '.', '_' or '-'")
    env = _host.release_env(root, p["env_from"]) if p["env_from"] else p["env"]
    env = _render.env_values(env)
    sums = _render.checksums(spec, env)
    directory = _host.release_dir(root, rid)
    # Nothing returned holds a secret value (so Ansible's masking is turned off: _host.exit_unmasked).
    result = {"changed": True, "checksums": sums}
    if p["accessories_only"]:
        changed = write_accessories(module, root, spec, env)
        _host.exit_unmasked(module, changed=bool(changed), accessories_changed=changed, checksums=sums)
    if module.check_mode:
        _host.exit_unmasked(module, accessories_changed=write_accessories(module, root, spec, env), **result)
    os.makedirs(os.path.join(directory, "env"), mode=0o700, exist_ok=True)
    os.makedirs(os.path.join(directory, "previous"), mode=0o750, exist_ok=True)
    os.chmod(directory, 0o750)  # noqa: S103 root and the root group read records; env/ is 0700
    for name in list(spec["services"]) + list(spec["accessories"]):
        values = env.get(name, {})
        if name in spec["services"]:
            _host.write_atomic(os.path.join(directory, "env", f"{name}.env"), _render.env_file_text(values), 0o600)
        _host.write_atomic(os.path.join(directory, "env", f"{name}.json"), _render.dump(values), 0o600)
    _host.write_atomic(os.path.join(directory, "spec.json"),
                       _render.dump({"id": rid, "colour": colour, "spec": spec, "checksums": sums}), 0o640)
    compose = os.path.join(directory, "compose.yml")
    _host.write_atomic(compose, _render.dump(_render.compose_colour(spec, colour, rid, directory, sums["release"],
                                                                      project=p["project"])),
                       0o640)
    check_compose(module, compose)
    if _render.singletons(spec):
        path = os.path.join(directory, "singletons.yml")
        _host.write_atomic(path, _render.dump(_render.compose_singletons(spec, directory, sums)), 0o640)
        check_compose(module, path)
    for name in [*(_render.colour_network(app, c) for c in _render.COLOURS), f"{app}-internal"]:
        ensure_network(module, name)
    join_traefik(module, p["traefik_container"], [_render.colour_network(app, c) for c in _render.COLOURS])
    accessories_changed = write_accessories(module, root, spec, env)
    routes_path = os.path.join(p["dynamic_dir"], f"{app}-{colour}.yml")
    saved = os.path.join(directory, "previous", f"{app}-{colour}.yml")
    if not os.path.exists(saved):
        _host.write_atomic(saved, _host.read_bytes(routes_path) or _host.ABSENT, 0o640)
    routes = _render.colour_routes(spec, colour, env)
    if routes:
        # Basic auth users are secret: Traefik (root) reads the file, nobody else.
        _host.write_atomic(routes_path, _render.dump(routes), 0o600 if _render.has_secrets(routes) else 0o644)
    elif os.path.exists(routes_path):
        os.unlink(routes_path)
    running = {c.get("release") for by_colour in _host.containers(module.run_command, app).values()
               for c in by_colour.values()}
    removed = prune(root, p["keep"], running | {rid})
    _host.exit_unmasked(module, accessories_changed=accessories_changed, pruned=len(removed), **result)


if __name__ == "__main__":
    main()

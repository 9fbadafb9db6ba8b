#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_switch
short_description: Put a colour's release live in Traefik, or put back exactly what was live before
version_added: 0.3.0
description:
  - With O(state=live), replaces the app's public routes (C(<dynamic_dir>/<app>.yml) with hosts, rules,
    TLS and the weighted service whose only child is the new colour) in one rename, after keeping
    the previous bytes in the release directory. This is the moment users move to the new release,
    and the only one.
  - With O(state=restored), writes back the bytes kept by this release (the public routes and the
    colour's routes, or removes a file that did not exist before), which is what users saw before, byte for byte.
  - Either way it then waits until Traefik's API shows the routes it must now serve, so the caller
    knows when the old routing stopped receiving new requests.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Reports whether the routes would change and writes nothing.
  idempotent:
    support: full
    details: Routes already as wanted are not rewritten and no change is reported.
options:
  root:
    description: The app's directory.
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
    description: This attempt's id; its release directory keeps the previous bytes.
    type: str
    required: true
  colour:
    description: The colour to put live (O(state=live)), or whose routes to put back (O(state=restored)).
    type: str
    required: true
    choices: [blue, green]
  spec:
    description: The release spec, for its routing (O(state=live)).
    type: dict
    default: {}
  state:
    description: Put the colour live, or restore what was live before this attempt.
    type: str
    choices: [live, restored]
    default: live
  admin_url:
    description: Traefik's API, for example C(http://127.0.0.1:8082). Empty waits O(settle) seconds instead.
    type: str
    default: http://127.0.0.1:8082
  settle:
    description: Seconds to wait when there is no API to ask (Traefik's file provider throttle is 2 s).
    type: float
    default: 3.0
  timeout:
    description: Seconds to wait for Traefik to load the routes.
    type: float
    default: 30.0
"""

EXAMPLES = r"""
- name: switch | Put colour green live
  berth.ops.release_switch:
    root: /opt/shop
    app: shop
    release_id: "{{ release_id }}"
    colour: green
    spec: "{{ plan.spec }}"

- name: rescue | Put back what users saw before
  berth.ops.release_switch:
    root: /opt/shop
    app: shop
    release_id: "{{ release_id }}"
    colour: green
    state: restored
"""

RETURN = r"""
elapsed:
  description: Seconds from writing the routes until Traefik served them.
  returned: always
  type: float
files:
  description: The files written back or replaced.
  returned: always
  type: list
  elements: str
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _host, _render
from ansible_collections.berth.ops.plugins.module_utils._http import TransportError, make_transport


def argument_spec() -> dict:
    return {
        **_host.release_arguments(),
        "spec": {"type": "dict", "default": {}},
        "state": {"type": "str", "choices": ["live", "restored"], "default": "live"},
        "admin_url": {"type": "str", "default": "http://127.0.0.1:8082"},
        "settle": {"type": "float", "default": 3.0},
        "timeout": {"type": "float", "default": 30.0},
    }


def api_view(admin_url: str, expected: dict) -> dict:
    """What Traefik's API says of each router and service the routes name (None: not loaded yet, or no
    answer from the API yet)."""
    view = {}
    http = expected.get("http") or {}
    transport = make_transport(follow_redirects=False)
    for kind in ("routers", "services"):
        for name in http.get(kind) or {}:
            try:
                answer = transport("GET", f"{admin_url}/api/http/{kind}/{name}@file", {}, 2)
                view[f"{kind}/{name}"] = json.loads(answer.body) if answer.status == 200 else None
            except (TransportError, ValueError):
                view[f"{kind}/{name}"] = None
    return view


def wait_loaded(module: AnsibleModule, expected: dict) -> float:
    p = module.params
    started = time.monotonic()
    if not p["admin_url"]:
        time.sleep(p["settle"])
        return p["settle"]
    while not _render.loaded(expected, api_view(p["admin_url"], expected)):
        if time.monotonic() - started > p["timeout"]:
            module.fail_json(msg=f"switch: Traefik did not load the routes of {p['app']} within {p['timeout']:g} s "
                                 f"(asked {p['admin_url']}/api)")
        time.sleep(0.2)
    return round(time.monotonic() - started, 3)


def restore(path: str, saved: str) -> bool:
    data = _host.read_bytes(saved)
    if data is None:
        return False
    if data == _host.ABSENT:
        if os.path.exists(path):
            os.unlink(path)
            return True
        return False
    return _host.write_atomic(path, data, 0o644)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    app, colour = p["app"], p["colour"]
    public_path = os.path.join(p["dynamic_dir"], f"{app}.yml")
    directory = _host.release_dir(p["root"], p["release_id"])
    saved_public = os.path.join(directory, "previous", f"{app}.yml")
    if p["state"] == "live":
        document = _render.public_routes(p["spec"], colour)
        text = _render.dump(document).encode()
        changed = _host.read_bytes(public_path) != text
        if module.check_mode or not changed:
            module.exit_json(changed=changed, elapsed=0.0, files=[public_path] if changed else [])
        os.makedirs(os.path.dirname(saved_public), mode=0o750, exist_ok=True)
        if not os.path.exists(saved_public):
            _host.write_atomic(saved_public, _host.read_bytes(public_path) or _host.ABSENT, 0o640)
        _host.write_atomic(public_path, text, 0o644)
        module.exit_json(changed=True, elapsed=wait_loaded(module, document), files=[public_path])
    files = [(public_path, saved_public),
             (os.path.join(p["dynamic_dir"], f"{app}-{colour}.yml"),
              os.path.join(directory, "previous", f"{app}-{colour}.yml"))]
    if module.check_mode:
        module.exit_json(changed=any(os.path.exists(saved) for _path, saved in files), elapsed=0.0, files=[])
    written = [path for path, saved in files if restore(path, saved)]
    expected = _host.read_routes(public_path) or {}
    module.exit_json(changed=bool(written), elapsed=wait_loaded(module, expected) if written else 0.0, files=written)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lb_member
short_description: Take a host out of its load balancer's rotation, or put it back, through its health route
version_added: 0.3.0
description:
  - Writes the host's load-balancer health route (C(<dynamic_dir>/berth-lb.yml)) in one rename, the
    health path on Traefik's public entrypoints, for any Host, answered by Traefik's own C(/ping) (200) with
    O(state=in) and by a service without servers (503) with O(state=drained). The app is not touched.
  - Then waits, from the host's side, until the load balancer has acted on it, as no load balancer
    (DigitalOcean's included) can be asked per droplet. Drained - at least unhealthy x interval +
    timeout passed, the load balancer's checks were answered 503 at least C(unhealthy) times, and no
    other request started for two intervals (Traefik's access log). In rotation - healthy x interval
    passed and C(healthy) checks were answered 200. The clock starts when the file last changed, so a
    rerun after a kill waits only for what is left.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Reports whether the route would change; writes nothing and waits for nothing.
  idempotent:
    support: full
    details: A host already in the wanted state keeps its route file as it is and reports no change.
options:
  state:
    description: In rotation (health 200) or drained (health 503).
    type: str
    choices: [in, drained]
    required: true
  lb:
    description:
      - The load balancer's health-check contract (C(berth_lb)) - C(health_path), C(interval),
        C(timeout), C(unhealthy), C(healthy) (seconds and counts, as DigitalOcean's health check
        names them); C(min_in_rotation) is the controller's. Missing keys take berth's defaults.
    type: dict
    required: true
  dynamic_dir:
    description: Traefik's watched file-provider directory.
    type: path
    default: /opt/traefik/dynamic
  entrypoints:
    description: Traefik's public entrypoints the load balancer reaches.
    type: list
    elements: str
    default: [web, websecure]
  admin_url:
    description: Traefik's API, to wait until the route is served. Empty waits 3 s instead.
    type: str
    default: http://127.0.0.1:8082
  container:
    description: The Traefik container whose access log (stdout, JSON) shows the load balancer's requests.
    type: str
    default: traefik-traefik-1
  wait:
    description: Wait until the load balancer acted on the route (false - write it and return).
    type: bool
    default: true
  deadline:
    description: Seconds to wait at most (default - three times the minimum wait, plus 30).
    type: float
"""

EXAMPLES = r"""
- name: Drain | Take this host out of the load balancer's rotation
  berth.ops.lb_member:
    state: drained
    lb: {health_path: /.well-known/berth/lb, interval: 10, timeout: 5, unhealthy: 3, healthy: 5}

- name: Rejoin | Put it back
  berth.ops.lb_member:
    state: in
    lb: "{{ berth_lb }}"
"""

RETURN = r"""
file:
  description: The health route's file.
  returned: always
  type: str
waited:
  description: Seconds since the route changed when the load balancer was seen to act on it (0 when not waiting).
  returned: always
  type: float
checks:
  description: Health checks answered as the state wants (503 drained, 200 in) since the route changed.
  returned: always
  type: int
current:
  description:
    - The host's state before this task - C(in), C(drained), or empty when it has no health route (not
      behind a load balancer).
  returned: always
  type: str
  sample: drained
"""

import json
import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _host, _lb, _render
from ansible_collections.berth.ops.plugins.module_utils._http import Transport, TransportError, make_transport


def argument_spec() -> dict:
    return {
        "state": {"type": "str", "choices": list(_lb.STATES), "required": True},
        "lb": {"type": "dict", "required": True},
        "dynamic_dir": {"type": "path", "default": "/opt/traefik/dynamic"},
        "entrypoints": {"type": "list", "elements": "str", "default": ["web", "websecure"]},
        "admin_url": {"type": "str", "default": "http://127.0.0.1:8082"},
        "container": {"type": "str", "default": "traefik-traefik-1"},
        "wait": {"type": "bool", "default": True},
        "deadline": {"type": "float"},
    }


def served(admin_url: str, document: dict, transport: Transport | None = None) -> bool:
    """Whether Traefik's API shows the health router with this rule and service (no answer, another status
    or a body that is not a JSON object: not yet)."""
    if not admin_url:
        time.sleep(3)
        return True
    router = document["http"]["routers"][_lb.ROUTER]
    transport = transport or make_transport(follow_redirects=False)
    try:
        answer = transport("GET", f"{admin_url}/api/http/routers/{_lb.ROUTER}@file", {}, 2)
        got = json.loads(answer.body) if answer.status == 200 else None
    except (TransportError, ValueError):
        return False
    return isinstance(got, dict) and got.get("rule") == router["rule"] \
        and str(got.get("service", "")).removesuffix("@file") == router["service"]


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    contract, errors = _lb.check(p["lb"])
    if errors:
        module.fail_json(msg="; ".join(errors))
    path = os.path.join(p["dynamic_dir"], "berth-lb.yml")
    document = _lb.routes(contract, p["state"], p["entrypoints"])
    text = _render.dump(document).encode()
    before = _host.read_bytes(path)
    current = _lb.state_of(before)
    changed = before != text
    if module.check_mode:
        module.exit_json(changed=changed, file=path, waited=0.0, checks=0, current=current)
    _host.write_atomic(path, text, 0o644)
    deadline = p["deadline"] or 3 * _lb.minimum_wait(contract, p["state"]) + 30
    started = time.monotonic()
    while not served(p["admin_url"], document):
        if time.monotonic() - started > 30:
            module.fail_json(msg=f"Traefik did not serve {path} within 30 s (asked {p['admin_url']}/api)", file=path)
        time.sleep(0.2)
    if not p["wait"]:
        module.exit_json(changed=changed, file=path, waited=0.0, checks=0, current=current)
    since = os.stat(path).st_mtime
    while True:
        log = module.run_command(["docker", "logs", "--since", f"{since - 1:.3f}", p["container"]], check_rc=True)
        verdict = _lb.judge(_lb.entries(log[1]), contract, p["state"], since, time.time())
        if verdict["done"]:
            module.exit_json(changed=changed, file=path, waited=verdict["waited"], checks=verdict["checks"],
                             current=current)
        if time.time() - since > deadline:
            what = "left the rotation" if p["state"] == "drained" else "rejoined"
            module.fail_json(msg=f"the load balancer did not show within {deadline:g} s that this host {what} "
                                 f"(health path {contract['health_path']}): {verdict['why']}", file=path,
                             waited=verdict["waited"], checks=verdict["checks"])
        time.sleep(_lb.next_look(contract, p["state"], since, time.time()))


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_drain
short_description: Drain the colour a switch left, within each service's drain, then close what is still open
version_added: 0.3.0
description:
  - After a switch no new request reaches the colour that was live, but requests in flight and long-lived
    connections (server-sent events, websockets) go on there. This waits until each routed service of that
    colour has no established connection left, or until its C(drain) has passed since the switch.
  - A service with connections still open when its drain passed is closed gracefully - with O(restart), its
    containers get their SIGTERM (the app says its own goodbye, within its C(stop_grace_period); clients
    reconnect, to the live release) and are started again, so the colour stays warm for a switch back.
    Without O(restart) the caller stops the colour itself (berth_keep_warm false).
  - Connections are counted in each container's network namespace (C(/proc/<pid>/net/tcp) and C(tcp6)), the
    established ones on the service's port.
  - Never fails after a good switch for what it finds; a container it cannot read or restart is a warning.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Counts the connections open now and says what it would close; waits for nothing, closes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A drained colour has nothing open, so a second run closes nothing.
options:
  app:
    description: The app's name (containers labelled C(berth.app)).
    type: str
    required: true
  colour:
    description: The colour the switch left.
    type: str
    required: true
    choices: [blue, green]
  spec:
    description: The spec of the release going live (its services' C(drain)).
    type: dict
    default: {}
  old_spec:
    description: The spec of the release the colour runs (its routed services and ports).
    type: dict
    default: {}
  routes:
    description:
      - The public routes file the switch replaced (C(<dynamic_dir>/<app>.yml)). The drain counts from when it
        was written plus O(switch_elapsed), on the host's own clock.
    type: path
  switch_elapsed:
    description: Seconds Traefik took to serve the routes once written (M(berth.ops.release_switch)'s C(elapsed)).
    type: float
    default: 0
  since_switch:
    description: Seconds since the switch, when O(routes) is not given or gone.
    type: float
    default: 0
  restart:
    description: Close a service still serving connections when its drain passed by restarting its containers.
    type: bool
    default: true
  poll:
    description: Seconds between two counts.
    type: float
    default: 0.25
"""

EXAMPLES = r"""
- name: Drain | Drain colour blue
  berth.ops.release_drain:
    app: shop
    colour: blue
    spec: "{{ plan.spec }}"
    old_spec: "{{ plan.live_spec }}"
    routes: /opt/traefik/dynamic/shop.yml
    switch_elapsed: "{{ switched.elapsed }}"
  register: drained
"""

RETURN = r"""
open:
  description: Connections still open when the drain passed, all services together.
  returned: always
  type: int
services:
  description: Per routed service, C(open) (at its deadline), C(waited) (seconds this module waited), C(drain).
  returned: always
  type: dict
closed:
  description: The containers restarted to close their connections.
  returned: always
  type: list
  elements: str
elapsed:
  description: Seconds this module waited and closed.
  returned: always
  type: float
msg:
  description: One line for the report.
  returned: always
  type: str
"""

import os
import subprocess
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _drain, _host


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": ["blue", "green"]},
        "spec": {"type": "dict", "default": {}},
        "old_spec": {"type": "dict", "default": {}},
        "routes": {"type": "path"},
        "switch_elapsed": {"type": "float", "default": 0},
        "since_switch": {"type": "float", "default": 0},
        "restart": {"type": "bool", "default": True},
        "poll": {"type": "float", "default": 0.25},
    }


def colour_containers(module: AnsibleModule, app: str, colour: str) -> dict[str, list[tuple[str, str]]]:
    """{service: [(container, pid)]} of the colour's running containers."""
    rc, out, err = module.run_command(["docker", "ps", "--filter", f"label=berth.app={app}", "--filter",
                                       f"label=berth.colour={colour}", "--format",
                                       '{{.Names}}\t{{.Label "com.docker.compose.service"}}'])
    if rc != 0:
        module.warn(f"drain: docker ps failed: {(err or out).strip()}")
        return {}
    found: dict[str, list[tuple[str, str]]] = {}
    for line in out.splitlines():
        name, _tab, service = line.partition("\t")
        if _host.RETIRED in name:
            continue
        rc, pid, _err = module.run_command(["docker", "inspect", "-f", "{{.State.Pid}}", name])
        if rc == 0 and pid.strip() not in ("", "0"):
            found.setdefault(service, []).append((name, pid.strip()))
    return found


def since_switch(p: dict) -> float:
    """Seconds since Traefik served the switched routes, on this host's clock (the routes file's mtime is
    when the switch wrote it: it is renamed into place)."""
    try:
        written = os.stat(p["routes"]).st_mtime if p["routes"] else None
    except OSError:
        written = None
    if written is None:
        return p["since_switch"]
    return max(0.0, time.time() - written - p["switch_elapsed"])


def count(containers: list[tuple[str, str]], port: int) -> int:
    total = 0
    for _name, pid in containers:
        tables = []
        for table in ("tcp", "tcp6"):
            try:
                with open(f"/proc/{pid}/net/{table}", encoding="ascii") as fh:
                    tables.append(fh.read())
            except OSError:
                continue  # exited meanwhile, or no IPv6
        total += _drain.open_connections(tables, port)
    return total


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    watched = _drain.services(p["spec"], p["old_spec"])
    containers = colour_containers(module, p["app"], p["colour"]) if watched else {}
    watched = {name: svc for name, svc in watched.items() if containers.get(name)}
    left = _drain.deadlines(watched, since_switch(p))
    restart = p["restart"] and not module.check_mode
    started = time.monotonic()
    result: dict[str, dict] = {}
    closing: list[tuple[list[str], subprocess.Popen]] = []
    pending = set(watched)
    while pending:
        waited = time.monotonic() - started
        for name in sorted(pending):
            now_open = count(containers[name], watched[name]["port"])
            passed = waited >= left[name] or module.check_mode
            if now_open and not passed:
                continue
            pending.discard(name)
            result[name] = {"open": now_open, "waited": round(waited, 1), "drain": watched[name]["drain"]}
            if now_open and restart:
                names = [container for container, _pid in containers[name]]
                # docker restart: SIGTERM, the container's own stop timeout (stop_grace_period), then start.
                closing.append((names, subprocess.Popen(["docker", "restart", *names], stdout=subprocess.PIPE,
                                                        stderr=subprocess.STDOUT, text=True)))
        if pending:
            time.sleep(p["poll"])
    closed = []
    for names, proc in closing:
        out, _err = proc.communicate()
        if proc.returncode == 0:
            closed.extend(names)
        else:
            module.warn(f"drain: docker restart {' '.join(names)} failed: {out.strip()[:300]}")
    module.exit_json(changed=bool(closed) or (module.check_mode and any(r["open"] for r in result.values())),
                     open=sum(r["open"] for r in result.values()), services=result, closed=closed,
                     elapsed=round(time.monotonic() - started, 2),
                     msg=_drain.summary(p["colour"], result, p["restart"]))


if __name__ == "__main__":
    main()

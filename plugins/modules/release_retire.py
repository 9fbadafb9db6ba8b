#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: release_retire
short_description: Move the warm standby a new release replaces out of its way, and stop it with its grace period
version_added: 0.3.0
description:
  - The colour a new release starts in may still run the release before last (the warm standby). Each of
    the standby's containers (those of the compose projects O(projects) labelled with O(app) and O(colour))
    is renamed C(<name>-retired-<release_id>) and disconnected from every network, so its name and
    aliases are free for the new release and never resolve to it again; then it is stopped, each within
    its own C(stop_grace_period) (C(docker stop) without C(-t)), and removed.
  - With O(wait=false) the stop and removal run in the background, in their own session, so the new
    release starts at once and an app that ignores SIGTERM costs the deploy nothing; with O(wait=true)
    this returns once they are gone (the host lacks the memory for both, or berth_standby_overlap is false).
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists the containers it would move aside and changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: full
    details: A standby moved aside is no longer in its colour; a second run finds nothing.
options:
  app:
    description: The app's name (containers labelled C(berth.app)).
    type: str
    required: true
  colour:
    description: The colour the new release starts in.
    type: str
    required: true
    choices: [blue, green]
  projects:
    description: The compose projects of the standby (RV(berth.ops.release_plan#module:standby.retire)).
    type: list
    elements: str
    default: []
  release_id:
    description: The attempt whose start retires the standby (in the new names).
    type: str
    required: true
  wait:
    description: Wait until the containers stopped and were removed, instead of stopping them in the background.
    type: bool
    default: false
notes:
  - Needs the docker CLI on the host.
"""

EXAMPLES = r"""
- name: Start | Move the warm standby aside
  berth.ops.release_retire:
    app: shop
    colour: blue
    projects: [shop-blue]
    release_id: 20260101T000000Z-abcd
"""

RETURN = r"""
retired:
  description: The containers' new names.
  returned: always
  type: list
  elements: str
msg:
  description: One line for the report.
  returned: always
  type: str
"""

import shlex
import subprocess

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _host


def standby(module: AnsibleModule, app: str, colour: str, projects: list[str]) -> list[dict]:
    """[{name, networks}] of the colour's containers in `projects` (every replica), not yet retired."""
    try:
        found = _host.labelled(module.run_command, app)
    except RuntimeError as exc:
        module.fail_json(msg=f"retire: {exc}")
    return sorted(({"name": c["name"], "networks": c["networks"]} for c in found
                   if c["labels"].get("berth.colour") == colour
                   and c["labels"].get("com.docker.compose.project") in projects and _host.RETIRED not in c["name"]),
                  key=lambda c: c["name"])


def argument_spec() -> dict:
    return {
        "app": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": ["blue", "green"]},
        "projects": {"type": "list", "elements": "str", "default": []},
        "release_id": {"type": "str", "required": True},
        "wait": {"type": "bool", "default": False},
    }


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    containers = standby(module, p["app"], p["colour"], p["projects"]) if p["projects"] else []
    retired = [f"{c['name']}{_host.RETIRED}{p['release_id']}" for c in containers]
    if not containers or module.check_mode:
        module.exit_json(changed=bool(containers), retired=retired, msg=f"would retire {len(retired)} containers")
    for container, name in zip(containers, retired, strict=True):
        rc, out, err = module.run_command(["docker", "rename", container["name"], name])
        if rc != 0:
            module.fail_json(msg=f"retire: cannot rename {container['name']}: {(err or out).strip()}")
        for network in container["networks"]:
            rc, out, err = module.run_command(["docker", "network", "disconnect", "--force", network, name])
            if rc != 0:
                module.fail_json(msg=f"retire: cannot disconnect {name} from {network}: {(err or out).strip()}")
    stop = ["docker", "stop", *retired]
    remove = ["docker", "rm", "--force", *retired]
    if p["wait"]:
        for argv in (stop, remove):
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(msg=f"retire: {' '.join(argv[:2])} failed: {(err or out).strip()}")
        module.exit_json(changed=True, retired=retired, msg=f"stopped {len(retired)} standby containers first")
    # Its own session and no inherited descriptors: the SSH connection closes without waiting for it.
    subprocess.Popen(["sh", "-c", f"{shlex.join(stop)} >/dev/null 2>&1; {shlex.join(remove)} >/dev/null 2>&1"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True, cwd="/")
    module.exit_json(changed=True, retired=retired,
                     msg=f"{len(retired)} standby containers stop in the background, each within its grace period")


if __name__ == "__main__":
    main()

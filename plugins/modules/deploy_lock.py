#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_lock
short_description: Take, release or read a host's deploy lock
version_added: 0.2.0
description:
  - One deploy at a time per host and app. The lock is a file created atomically (C(O_EXCL)) that
    records who holds it, since when, and when it expires.
  - O(state=present) takes the lock, or fails naming the holder when another token holds it. A lock
    past its TTL is stale (its deploy died) and is broken and taken; the result says so. The lock's
    directory is created (mode 0750) when missing, as for a new app's first deploy.
  - O(state=absent) releases the lock when O(token) holds it; O(force=true) breaks anyone's lock.
  - O(state=query) only reads.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Reports what it would do; a lock held by someone else still fails.
  idempotent:
    support: full
    details: Taking a lock this token already holds, or releasing one no longer held, changes nothing.
options:
  path:
    description: The lock file, for example C(/opt/myapp/releases/.deploy.lock).
    type: path
    required: true
  state:
    description: Take (V(present)), release (V(absent)) or read (V(query)) the lock.
    type: str
    default: present
    choices: [present, absent, query]
  holder:
    description: Who takes the lock, shown to anyone refused (for example C(alice@laptop pid 4242)).
    type: str
  token:
    description: This deploy's unique id; required for V(present), and for V(absent) unless O(force).
    type: str
  ttl:
    description: Seconds after which the lock counts as stale.
    type: int
    default: 1800
  force:
    description: With V(absent), release the lock whoever holds it.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Take the deploy lock
  berth.ops.deploy_lock:
    path: /opt/myapp/releases/.deploy.lock
    holder: "{{ lookup('ansible.builtin.env', 'USER') }}@{{ lookup('ansible.builtin.pipe', 'hostname') }}"
    token: "{{ release_id }}"
    ttl: 900

- name: Release it
  berth.ops.deploy_lock:
    path: /opt/myapp/releases/.deploy.lock
    state: absent
    token: "{{ release_id }}"
"""

RETURN = r"""
lock:
  description: The lock as it is after the task (null when nobody holds it).
  returned: always
  type: dict
  sample: {holder: "alice@laptop pid 4242", token: "20261124T101500Z-3f2a", acquired: "2026-11-24T10:15:00Z",
           ttl: 900, expires_at: 1795515600.0}
broken:
  description: A stale lock that was broken to take this one, or the lock a forced release removed.
  returned: always
  type: dict
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils import _lock


def argument_spec() -> dict:
    return {
        "path": {"type": "path", "required": True},
        "state": {"type": "str", "default": "present", "choices": ["present", "absent", "query"]},
        "holder": {"type": "str"},
        "token": {"type": "str"},
        "ttl": {"type": "int", "default": 1800},
        "force": {"type": "bool", "default": False},
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "present", ("holder", "token"))],
        supports_check_mode=True,
    )
    p = module.params
    if p["ttl"] <= 0:
        module.fail_json(msg=f"ttl: must be more than 0 seconds, got {p['ttl']}")
    if p["state"] == "absent" and not p["token"] and not p["force"]:
        module.fail_json(msg="token: required to release a lock (or force=true to break anyone's)")
    current = _lock.read(p["path"])

    if p["state"] == "query":
        module.exit_json(changed=False, lock=current, broken=None)

    if p["state"] == "absent":
        mine = current is not None and (p["force"] or current.get("token") == p["token"])
        if module.check_mode or not mine:
            module.exit_json(changed=mine, lock=None if mine else current, broken=current if mine else None)
        removed = _lock.release(p["path"], p["token"] or "", force=p["force"])
        module.exit_json(changed=removed is not None, lock=None, broken=removed if p["force"] else None)

    if module.check_mode:
        if current and current.get("token") != p["token"] and current.get("expires_at", 0) > time.time():
            module.fail_json(msg=str(_lock.LockHeldError(current, time.time())), lock=current)
        module.exit_json(changed=not current or current.get("token") != p["token"], lock=current, broken=None)
    try:
        # A new app's first deploy: its releases directory does not exist yet.
        os.makedirs(os.path.dirname(p["path"]) or ".", mode=0o750, exist_ok=True)
        lock, broken = _lock.acquire(p["path"], p["holder"], p["token"], p["ttl"])
    except _lock.LockHeldError as exc:
        module.fail_json(msg=str(exc), lock=exc.lock)
    except OSError as exc:
        module.fail_json(msg=f"path: cannot create the lock file {p['path']}: {exc}")
    module.exit_json(changed=broken is not None or current is None or current.get("token") != p["token"],
                     lock=lock, broken=broken)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_ssh_key
short_description: Register or remove an SSH public key in a DigitalOcean account
version_added: 0.2.0
description:
  - Finds the key by its fingerprint (the key itself, comment ignored); registers it when missing,
    renames it when I(name) drifted, deletes it with I(state=absent).
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  name:
    description: Name shown in the account.
    type: str
    required: true
  public_key:
    description: OpenSSH public key line, for example the content of C(~/.ssh/id_ed25519.pub).
    type: str
    required: true
  state:
    description: Whether the key should be registered.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Register the deploy key
  berth.ops.do_ssh_key:
    name: berth-deploy
    public_key: "{{ lookup('ansible.builtin.file', '~/.ssh/id_ed25519.pub') }}"
  register: key
"""

RETURN = r"""
ssh_key:
  description: The key as the API describes it (id, fingerprint, name, public_key).
  returned: always
  type: dict
actions:
  description: The writes sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
api_requests:
  description: HTTP requests this task sent.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, delete, run
from ansible_collections.berth.ops.plugins.module_utils._do_normalize import ssh_fingerprint


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "public_key": {"type": "str", "required": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"SSH key {p['name']!r}"
    try:
        fingerprint = ssh_fingerprint(p["public_key"])
    except (IndexError, ValueError):
        module.fail_json(msg=f"public_key of {what} is not an OpenSSH public key line")
    # A list, not GET by fingerprint: the spec marks the fingerprint read-only in the path.
    keys = api.list("/v2/account/keys", "ssh_keys", what=what)
    current = next((k for k in keys if k["fingerprint"] == fingerprint), None)
    if p["state"] == "absent":
        if current:
            delete(module, api, plan, current, key="ssh_key", label=f"SSH key {current['name']}",
                   path="/v2/account/keys", what=what)
        return {"ssh_key": {}}
    if current is None:
        body = {"name": p["name"], "public_key": p["public_key"].strip()}
        plan.compare("ssh_key", None, {"name": p["name"], "fingerprint": fingerprint})
        plan.add(f"create SSH key {p['name']}")
        if module.check_mode:
            return {"ssh_key": {**body, "fingerprint": fingerprint}}
        return {"ssh_key": api.send("POST", "/v2/account/keys", body, what=what)["ssh_key"]}
    if plan.compare("name", current["name"], p["name"]):
        plan.add(f"rename SSH key {current['name']} to {p['name']}")
        if not module.check_mode:
            current = api.send("PUT", f"/v2/account/keys/{current['id']}", {"name": p["name"]}, what=what)["ssh_key"]
    return {"ssh_key": current}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_vpc
short_description: Create, correct or delete a DigitalOcean VPC
version_added: 0.2.0
description:
  - Finds the VPC by I(name); creates it when missing, corrects its description when it drifted,
    deletes it with I(state=absent).
  - The region and IP range of an existing VPC cannot change; a difference fails with a message
    instead of silently keeping the old network.
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  name:
    description: VPC name, unique in the account.
    type: str
    required: true
  region:
    description: Region slug, for example C(nyc3). Required to create.
    type: str
  ip_range:
    description: Private network in CIDR notation; the API picks one when not given.
    type: str
  description:
    description: Free text.
    type: str
    default: ""
  state:
    description: Whether the VPC should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Create the environment's private network
  berth.ops.do_vpc:
    name: prod-net
    region: nyc3
    ip_range: 10.10.0.0/20
  register: vpc
"""

RETURN = r"""
vpc:
  description: The VPC as the API describes it (empty after deletion).
  returned: always
  type: dict
  sample: {id: 5a4981aa-9653-4bd1-bef5-d6bff52042e4, name: prod-net, ip_range: 10.10.0.0/20}
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
from ansible_collections.berth.ops.plugins.module_utils._do_api import DOError
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, delete, find_named, run


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "region": {"type": "str"},
        "ip_range": {"type": "str"},
        "description": {"type": "str", "default": ""},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"VPC {p['name']!r}"
    current = find_named(api, "/v2/vpcs", "vpcs", p["name"], what)
    if p["state"] == "absent":
        delete(module, api, plan, current, key="vpc", label=f"VPC {p['name']}",
               path="/v2/vpcs", what=what)
        return {"vpc": {}}
    if current is None:
        if not p["region"]:
            module.fail_json(msg=f"{what} does not exist: region is required to create it")
        body = {"name": p["name"], "region": p["region"], "description": p["description"]}
        if p["ip_range"]:
            body["ip_range"] = p["ip_range"]
        plan.compare("vpc", None, body)
        plan.add(f"create VPC {p['name']}")
        if module.check_mode:
            return {"vpc": body}
        return {"vpc": api.send("POST", "/v2/vpcs", body, what=what)["vpc"]}
    for key in ("region", "ip_range"):
        if p[key] and current.get(key) != p[key]:
            raise DOError("immutable", f"{what}: {key} is {current.get(key)!r}, wanted {p[key]!r}; a VPC's "
                                       f"{key} cannot change (delete it first)")
    if plan.compare("description", current.get("description", ""), p["description"]):
        plan.add(f"update VPC {p['name']} description")
        if not module.check_mode:
            current = api.send("PATCH", f"/v2/vpcs/{current['id']}", {"description": p["description"]},
                               what=what)["vpc"]
    return {"vpc": current}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_firewall
short_description: Converge a DigitalOcean cloud firewall, rules and targets
version_added: 0.2.0
description:
  - Finds the firewall by I(name); creates it when missing; when its rules, tags or droplets differ
    from the wanted ones, sends one PUT with the whole firewall; deletes it with I(state=absent).
  - Rules compare after normalization, so a firewall that matches settles on the first run. Rule and
    address order do not count; C(all), C(0), C(1-65535) and an empty port all mean every port;
    ICMP rules have no ports (the API stores both as C(0)).
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  name:
    description: Firewall name, unique in the account.
    type: str
    required: true
  inbound_rules:
    description:
      - Each C({protocol, ports, sources}); I(protocol) is C(tcp), C(udp) or C(icmp); I(ports) a port,
        a range C(8000-9000) or C(all); I(sources) has C(addresses) (CIDRs), C(tags), C(droplet_ids),
        C(load_balancer_uids).
    type: list
    elements: dict
    default: []
  outbound_rules:
    description: Like I(inbound_rules), with C(destinations) in place of C(sources).
    type: list
    elements: dict
    default: []
  tags:
    description: Droplet tags the firewall applies to.
    type: list
    elements: str
    default: []
  droplet_ids:
    description: Droplet ids the firewall applies to.
    type: list
    elements: int
    default: []
  state:
    description: Whether the firewall should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Web open, SSH from the office, internal ports only inside the VPC
  berth.ops.do_firewall:
    name: prod-web
    tags: [berth-prod]
    inbound_rules:
      - {protocol: tcp, ports: "80", sources: {addresses: [0.0.0.0/0, "::/0"]}}
      - {protocol: tcp, ports: "443", sources: {addresses: [0.0.0.0/0, "::/0"]}}
      - {protocol: tcp, ports: "22", sources: {addresses: [198.51.100.7/32]}}
      - {protocol: tcp, ports: all, sources: {addresses: [10.10.0.0/20]}}
      - {protocol: icmp, sources: {addresses: [10.10.0.0/20]}}
    outbound_rules:
      - {protocol: tcp, ports: all, destinations: {addresses: [0.0.0.0/0, "::/0"]}}
      - {protocol: udp, ports: all, destinations: {addresses: [0.0.0.0/0, "::/0"]}}
      - {protocol: icmp, destinations: {addresses: [0.0.0.0/0, "::/0"]}}
"""

RETURN = r"""
firewall:
  description: The firewall as the API describes it.
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
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, delete, find_named, run
from ansible_collections.berth.ops.plugins.module_utils._do_normalize import rules


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "inbound_rules": {"type": "list", "elements": "dict", "default": []},
        "outbound_rules": {"type": "list", "elements": "dict", "default": []},
        "tags": {"type": "list", "elements": "str", "default": []},
        "droplet_ids": {"type": "list", "elements": "int", "default": []},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def wanted_body(p: dict) -> dict:
    return {"name": p["name"], "inbound_rules": rules(p["inbound_rules"], "sources"),
            "outbound_rules": rules(p["outbound_rules"], "destinations"),
            "tags": sorted(set(p["tags"])), "droplet_ids": sorted(set(p["droplet_ids"]))}


def current_body(fw: dict) -> dict:
    return {"name": fw["name"], "inbound_rules": rules(fw.get("inbound_rules"), "sources"),
            "outbound_rules": rules(fw.get("outbound_rules"), "destinations"),
            "tags": sorted(set(fw.get("tags") or [])), "droplet_ids": sorted(set(fw.get("droplet_ids") or []))}


def validate(module) -> None:
    for side, target in (("inbound_rules", "sources"), ("outbound_rules", "destinations")):
        for index, entry in enumerate(module.params[side]):
            if entry.get("protocol") not in ("tcp", "udp", "icmp"):
                module.fail_json(msg=f"{side}[{index}].protocol is {entry.get('protocol')!r}: tcp, udp or icmp")
            if not any((entry.get(target) or {}).values()):
                module.fail_json(msg=f"{side}[{index}] has no {target}")


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"firewall {p['name']!r}"
    validate(module)
    current = find_named(api, "/v2/firewalls", "firewalls", p["name"], what)
    if p["state"] == "absent":
        delete(module, api, plan, current, key="firewall", label=f"firewall {p['name']}",
               path="/v2/firewalls", what=what)
        return {"firewall": {}}
    wanted = wanted_body(p)
    if current is None:
        plan.compare("firewall", None, wanted)
        plan.add(f"create firewall {p['name']}")
        if module.check_mode:
            return {"firewall": wanted}
        return {"firewall": api.send("POST", "/v2/firewalls", wanted, what=what)["firewall"]}
    now = current_body(current)
    differs = [plan.compare(key, now[key], wanted[key]) for key in wanted]
    if any(differs):
        plan.add(f"update firewall {p['name']}")
        if not module.check_mode:
            current = api.send("PUT", f"/v2/firewalls/{current['id']}", wanted, what=what)["firewall"]
    return {"firewall": current}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

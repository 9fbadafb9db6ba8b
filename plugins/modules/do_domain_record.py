#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_domain_record
short_description: Converge DNS records of a DigitalOcean domain
version_added: 0.2.0
description:
  - Creates the domain when missing (I(state=present)); each record in I(records) is found by its
    type and name; created when missing, updated (data, TTL, priority...) when it differs.
  - Records not listed are left alone. With I(state=absent) the listed records are deleted, and the
    domain too when I(records) is empty.
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  domain:
    description: The zone, for example C(example.com).
    type: str
    required: true
  records:
    description:
      - Each C({type, name, data, ttl}) and for MX/SRV/CAA C(priority), C(port), C(weight), C(flags), C(tag).
        I(name) is relative to the zone, C(@) for the apex.
      - C(ttl) defaults to 1800; a TTL below 30 (DigitalOcean's minimum) fails before any request,
        it is never changed silently.
    type: list
    elements: dict
    default: []
  state:
    description: Whether the records should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Point the site at the load balancer
  berth.ops.do_domain_record:
    domain: example.com
    records:
      - {type: A, name: "@", data: "{{ lb.load_balancer.ip }}", ttl: 300}
      - {type: CNAME, name: www, data: "example.com.", ttl: 300}
"""

RETURN = r"""
records:
  description: The listed records as the API describes them.
  returned: always
  type: list
  elements: dict
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
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, run
from ansible_collections.berth.ops.plugins.module_utils._do_normalize import (
    record,
    record_differs,
    record_key,
    record_problems,
)


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "domain": {"type": "str", "required": True},
        "records": {"type": "list", "elements": "dict", "default": []},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def wanted_records(module) -> list[dict]:
    """The records in the API's form; fails before any request on one the API would refuse."""
    p = module.params
    wanted = []
    for index, entry in enumerate(p["records"]):
        if not entry.get("type") or ("data" not in entry and p["state"] == "present"):
            module.fail_json(msg=f"records[{index}] is {entry!r}: needs type and data")
        try:
            wanted.append(record({"data": "", **entry}))
        except (TypeError, ValueError):
            module.fail_json(msg=f"records[{index}].ttl is {entry.get('ttl')!r}: a whole number of seconds")
        problems = record_problems(wanted[-1]) if p["state"] == "present" else []
        if problems:
            module.fail_json(msg=f"records[{index}]: " + "; ".join(problems))
    return wanted


def converge(module, api, plan) -> dict:  # noqa: PLR0912 - present/absent of domain and records
    p = module.params
    zone = p["domain"]
    what = f"domain {zone}"
    wanted = wanted_records(module)
    keys = [record_key(w) for w in wanted]
    if len(set(keys)) != len(keys):
        module.fail_json(msg=f"{what}: two records share a type and name: {keys}")
    exists = api.get_or_none(f"/v2/domains/{zone}", what=what) is not None
    current = api.list(f"/v2/domains/{zone}/records", "domain_records", what=what) if exists else []
    by_key = {}
    for entry in current:
        by_key.setdefault(record_key(entry), entry)
    if p["state"] == "absent":
        for key in keys:
            if key in by_key:
                plan.compare(f"{key[0]} {key[1]}", by_key[key].get("data"), None)
                plan.add(f"delete record {key[0]} {key[1]}.{zone}")
                if not module.check_mode:
                    api.request("DELETE", f"/v2/domains/{zone}/records/{by_key[key]['id']}",
                                what=f"record {key[0]} {key[1]}.{zone}")
        if not p["records"] and exists:
            plan.add(f"delete domain {zone}")
            if not module.check_mode:
                api.request("DELETE", f"/v2/domains/{zone}", what=what)
        return {"records": []}
    if not exists:
        plan.add(f"create domain {zone}")
        if not module.check_mode:
            api.request("POST", "/v2/domains", {"name": zone}, what=what)
    out = []
    for key, want in zip(keys, wanted, strict=True):
        label = f"record {key[0]} {key[1]}.{zone}"
        have = by_key.get(key)
        if have is None:
            plan.compare(f"{key[0]} {key[1]}", None, want)
            plan.add(f"create {label}")
            out.append(want if module.check_mode else
                       api.send("POST", f"/v2/domains/{zone}/records", want, what=label)["domain_record"])
        elif record_differs(have, want):
            plan.compare(f"{key[0]} {key[1]}", {k: have.get(k) for k in want}, want)
            plan.add(f"update {label}")
            out.append(want if module.check_mode else
                       api.send("PUT", f"/v2/domains/{zone}/records/{have['id']}", want, what=label)["domain_record"])
        else:
            out.append(have)
    return {"records": out}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

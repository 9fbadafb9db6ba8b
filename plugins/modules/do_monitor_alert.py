#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_monitor_alert
short_description: Converge a DigitalOcean droplet alert policy (CPU, memory, disk, load)
version_added: 0.3.0
description:
  - Finds the alert policy by I(description) (the API's only name for it); creates it when missing; when
    its metric, comparison, value, window, droplets, tags, recipients or I(enabled) differ, sends one PUT
    with the whole policy; deletes it with I(state=absent). A rerun with the same inputs sends no write.
  - The droplet agent (C(monitoring) on the droplet) measures, DigitalOcean evaluates and notifies, so the
    alert still arrives when the droplet's own monitoring stack is down.
  - Every input is checked before the first request; a bad one fails naming the option and its value.
    A policy with neither I(tags) nor I(droplet_ids) would watch every droplet of the account - refused.
author: berth developers
options:
  description:
    description: The policy's name, unique in the account (berth names them C(<env> <metric>)).
    type: str
    required: true
    aliases: [name]
  metric:
    description:
      - C(cpu), C(memory), C(disk) (percent used, of the droplet's disks) or C(load_1), C(load_5), C(load_15).
      - The API's type C(v1/insights/droplet/<...>).
    type: str
    choices: [cpu, memory, disk, load_1, load_5, load_15]
  compare:
    description: Alert when the measure is above (C(GreaterThan)) or below (C(LessThan)) I(value).
    type: str
    choices: [GreaterThan, LessThan]
    default: GreaterThan
  value:
    description: The threshold (percent for cpu, memory and disk).
    type: float
  window:
    description: How long the condition must hold.
    type: str
    choices: [5m, 10m, 30m, 1h]
    default: 5m
  tags:
    description: Droplet tags the policy watches.
    type: list
    elements: str
    default: []
  droplet_ids:
    description: Droplet ids the policy watches.
    type: list
    elements: str
    default: []
  email:
    description: Email addresses to notify (verified in the account).
    type: list
    elements: str
    default: []
  slack:
    description: Slack channels to notify.
    type: list
    elements: dict
    default: []
    suboptions:
      channel:
        description: The channel's name.
        type: str
        required: true
      url:
        description: The incoming webhook URL (a credential - never shown, a diff shows a digest of it).
        type: str
        required: true
  enabled:
    description: Whether the policy is active.
    type: bool
    default: true
  state:
    description: Whether the policy should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write; tag, droplet and recipient order do not count, 90 equals 90.0.
"""

EXAMPLES = r"""
- name: Page when a production droplet's memory stays above 90 %
  berth.ops.do_monitor_alert:
    description: prod memory
    metric: memory
    value: 90
    window: 5m
    tags: [berth-prod]
    email: [ops@example.com]
  register: memory

- name: Remove it again
  berth.ops.do_monitor_alert:
    description: prod memory
    state: absent
"""

RETURN = r"""
policy:
  description: The alert policy as the API describes it (empty after deletion; Slack URLs hidden).
  returned: always
  type: dict
  sample: {uuid: 78b3da62-27e5-49ba-ac70-5db0b5935c64, description: prod memory,
           type: v1/insights/droplet/memory_utilization_percent, compare: GreaterThan, value: 90.0,
           window: 5m, tags: [berth-prod], entities: [], enabled: true}
actions:
  description: The writes sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["create alert policy prod memory"]
api_requests:
  description: HTTP requests this task sent.
  returned: always
  type: int
api_writes:
  description: Writes (POST, PUT, DELETE) among them; 0 on a rerun that changed nothing.
  returned: always
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, run
from ansible_collections.berth.ops.plugins.module_utils._do_monitoring import (
    METRICS,
    masked,
    policy_body,
    policy_problems,
)


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "description": {"type": "str", "required": True, "aliases": ["name"]},
        "metric": {"type": "str", "choices": list(METRICS)},
        "compare": {"type": "str", "choices": ["GreaterThan", "LessThan"], "default": "GreaterThan"},
        "value": {"type": "float"},
        "window": {"type": "str", "choices": ["5m", "10m", "30m", "1h"], "default": "5m"},
        "tags": {"type": "list", "elements": "str", "default": []},
        "droplet_ids": {"type": "list", "elements": "str", "default": []},
        "email": {"type": "list", "elements": "str", "default": []},
        "slack": {"type": "list", "elements": "dict", "default": [],
                  "options": {"channel": {"type": "str", "required": True},
                              "url": {"type": "str", "required": True, "no_log": True}}},
        "enabled": {"type": "bool", "default": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def wanted_entry(p: dict) -> dict:
    return {"description": p["description"], "metric": p["metric"], "compare": p["compare"], "value": p["value"],
            "window": p["window"], "tags": p["tags"], "entities": p["droplet_ids"], "email": p["email"],
            "slack": p["slack"], "enabled": p["enabled"]}


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"alert policy {p['description']!r}"
    if p["state"] == "present":
        found = (["metric: missing, needs one of " + ", ".join(METRICS)] if not p["metric"]
                 else policy_problems(wanted_entry(p)))
        if found:
            module.fail_json(msg=f"{what}: " + "; ".join(found), errors=found)
    policies = api.list("/v2/monitoring/alerts", "policies", what=what)
    current = next((x for x in policies if x.get("description") == p["description"]), None)
    if p["state"] == "absent":
        if current:
            plan.compare("policy", masked(policy_body(current)), None)
            plan.add(f"delete alert policy {p['description']}")
            if not module.check_mode:
                api.request("DELETE", f"/v2/monitoring/alerts/{current['uuid']}", what=what)
        return {"policy": {}}
    wanted = policy_body(wanted_entry(p))
    if current is None:
        plan.compare("policy", None, masked(wanted))
        plan.add(f"create alert policy {p['description']}")
        if not module.check_mode:
            current = api.send("POST", "/v2/monitoring/alerts", wanted, what=what)["policy"]
        return {"policy": masked(current or wanted)}
    now = policy_body(current)
    # Masked: a Slack URL compares (and shows) by its digest, so a new URL is a difference the diff never prints.
    if any([plan.compare(key, masked(now[key]), masked(wanted[key])) for key in wanted]):
        plan.add(f"update alert policy {p['description']}")
        if not module.check_mode:
            current = api.send("PUT", f"/v2/monitoring/alerts/{current['uuid']}", wanted, what=what)["policy"]
    return {"policy": masked(current)}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_uptime_check
short_description: Converge a DigitalOcean uptime check and its alerts (down, latency, TLS expiry)
version_added: 0.3.0
description:
  - Finds the uptime check by I(name); creates it when missing; when its type, target, regions or
    I(enabled) differ, sends one PUT; deletes it (and with it its alerts) with I(state=absent).
  - Converges the check's alerts by name - creates the missing ones, sends one PUT for each that differs,
    and deletes those not listed (with I(purge_alerts)). A rerun with the same inputs sends no write.
  - DigitalOcean probes the target from outside, so it still pages when a droplet or the monitoring
    host itself is down - the outside layer next to berth's own Prometheus.
  - Every input is checked before the first request; a bad one fails naming the option and its value.
author: berth developers
options:
  name:
    description: The check's name, unique in the account (berth names them C(<env>-uptime-<host>)).
    type: str
    required: true
  target:
    description:
      - What to probe - an C(https://) (or C(http://)) URL, or a host for I(type=ping).
      - Required unless I(state=absent).
    type: str
  type:
    description: How to probe.
    type: str
    choices: [https, http, ping]
    default: https
  regions:
    description: Where to probe from (C(us_east), C(us_west), C(eu_west), C(se_asia)); order does not count.
    type: list
    elements: str
    default: [us_east, us_west, eu_west, se_asia]
  enabled:
    description: Whether the check runs.
    type: bool
    default: true
  email:
    description: Email addresses every alert notifies unless the alert names its own (verified in the account).
    type: list
    elements: str
    default: []
  slack:
    description: Slack channels every alert notifies unless the alert names its own.
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
  alerts:
    description:
      - The check's alerts, each found by its I(name) (default - its I(type)).
      - C(down) (any region) and C(down_global) (every region) have no threshold; C(latency) has a
        I(threshold) in milliseconds (default comparison C(greater_than)); C(ssl_expiry) a I(threshold) in
        days (default comparison C(less_than) - the certificate expires within that many days).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: The alert's name, unique in the check.
        type: str
      type:
        description: C(down), C(down_global), C(latency) or C(ssl_expiry).
        type: str
        required: true
      threshold:
        description: Milliseconds (C(latency)) or days (C(ssl_expiry)).
        type: int
      comparison:
        description: C(greater_than) or C(less_than).
        type: str
      period:
        description: How long the condition must hold - C(2m), C(3m), C(5m), C(10m), C(15m), C(30m), C(1h).
        type: str
        default: 2m
      email:
        description: This alert's email addresses (default - the module's I(email)).
        type: list
        elements: str
      slack:
        description: This alert's Slack channels (default - the module's I(slack)).
        type: list
        elements: dict
        suboptions:
          channel:
            description: The channel's name.
            type: str
            required: true
          url:
            description: The incoming webhook URL.
            type: str
            required: true
  purge_alerts:
    description: Delete the check's alerts that I(alerts) does not name.
    type: bool
    default: true
  state:
    description: Whether the check should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write; region, recipient and alert order do not count.
"""

EXAMPLES = r"""
- name: Page when the site is down, slow or its certificate is about to expire
  berth.ops.do_uptime_check:
    name: prod-uptime-shop.example.com
    target: https://shop.example.com/
    regions: [us_east, eu_west]
    email: [ops@example.com]
    slack:
      - {channel: "#ops", url: "{{ vault_slack_webhook }}"}
    alerts:
      - {type: down, period: 2m}
      - {type: latency, threshold: 1000, period: 5m}
      - {type: ssl_expiry, threshold: 14}
  register: uptime

- name: The same again sends no write
  berth.ops.do_uptime_check:
    name: prod-uptime-shop.example.com
    target: https://shop.example.com/
    regions: [eu_west, us_east]
    email: [ops@example.com]
    slack:
      - {channel: "#ops", url: "{{ vault_slack_webhook }}"}
    alerts:
      - {type: down, period: 2m}
      - {type: latency, threshold: 1000, period: 5m}
      - {type: ssl_expiry, threshold: 14}
  register: again

- name: Nothing was written the second time
  ansible.builtin.assert:
    that: not again.changed and again.api_writes == 0
"""

RETURN = r"""
check:
  description: The check as the API describes it (empty after deletion).
  returned: always
  type: dict
  sample: {id: 5a4981aa-9653-4bd1-bef5-d6bff52042e4, name: prod-uptime-shop.example.com, type: https,
           target: "https://shop.example.com/", regions: [eu_west, us_east], enabled: true}
alerts:
  description: The check's alerts as the API describes them (Slack URLs hidden).
  returned: always
  type: list
  elements: dict
actions:
  description: The writes sent (or, in check mode, that would be sent).
  returned: always
  type: list
  elements: str
  sample: ["create uptime check prod-uptime-shop.example.com", "create alert down", "update alert latency"]
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
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, delete, find_named, run
from ansible_collections.berth.ops.plugins.module_utils._do_monitoring import (
    REGIONS,
    alert_body,
    alert_problems,
    check_body,
    check_problems,
    masked,
)

SLACK = {"type": "list", "elements": "dict",
         "options": {"channel": {"type": "str", "required": True},
                     "url": {"type": "str", "required": True, "no_log": True}}}


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "target": {"type": "str"},
        "type": {"type": "str", "choices": ["https", "http", "ping"], "default": "https"},
        "regions": {"type": "list", "elements": "str", "default": list(REGIONS)},
        "enabled": {"type": "bool", "default": True},
        "email": {"type": "list", "elements": "str", "default": []},
        "slack": {**SLACK, "default": []},
        "alerts": {"type": "list", "elements": "dict", "default": [], "options": {
            "name": {"type": "str"}, "type": {"type": "str", "required": True},
            "threshold": {"type": "int"}, "comparison": {"type": "str"},
            "period": {"type": "str", "default": "2m"},
            "email": {"type": "list", "elements": "str"}, "slack": SLACK}},
        "purge_alerts": {"type": "bool", "default": True},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def problems(p: dict) -> list[str]:
    """Every bad input, one line each naming the option and the value (nothing is sent when any)."""
    if p["state"] == "absent":
        return []
    if not p["target"]:
        return ["target: missing, needs the URL (or host, for type ping) to probe"]
    found = check_problems(p)
    names: dict[str, int] = {}
    for index, entry in enumerate(p["alerts"]):
        found += alert_problems(index, entry, p["email"], p["slack"])
        name = entry.get("name") or entry.get("type")
        if name in names:
            found.append(f"alerts[{index}].name is {name!r}: also the name of alerts[{names[name]}]")
        names.setdefault(name, index)
    return found


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"uptime check {p['name']!r}"
    found = problems(p)
    if found:
        module.fail_json(msg=f"{what}: " + "; ".join(found), errors=found)
    current = find_named(api, "/v2/uptime/checks", "checks", p["name"], what)
    if p["state"] == "absent":
        delete(module, api, plan, current, key="check", label=f"uptime check {p['name']}",
               path="/v2/uptime/checks", what=what)
        return {"check": {}, "alerts": []}
    wanted = check_body(p)
    if current is None:
        plan.compare("check", None, wanted)
        plan.add(f"create uptime check {p['name']}")
        if not module.check_mode:
            current = api.send("POST", "/v2/uptime/checks", wanted, what=what)["check"]
    else:
        now = check_body(current)
        if any([plan.compare(key, now[key], wanted[key]) for key in wanted]):
            plan.add(f"update uptime check {p['name']}")
            if not module.check_mode:
                current = api.send("PUT", f"/v2/uptime/checks/{current['id']}", wanted, what=what)["check"]
    alerts = converge_alerts(module, api, plan, current, what)
    return {"check": current or wanted, "alerts": masked(alerts)}


def converge_alerts(module, api, plan, check: dict | None, what: str) -> list[dict]:
    """Create, correct and (with purge_alerts) delete the check's alerts, by name."""
    p = module.params
    ident = (check or {}).get("id")
    have = api.list(f"/v2/uptime/checks/{ident}/alerts", "alerts", what=what) if ident else []
    by_name = {a["name"]: a for a in have}
    out = []
    for entry in p["alerts"]:
        wanted = alert_body(entry, p["email"], p["slack"])
        name = wanted["name"]
        current = by_name.pop(name, None)
        base = f"/v2/uptime/checks/{ident}/alerts"
        if current is None:
            plan.compare(f"alert {name}", None, masked(wanted))
            plan.add(f"create alert {name}")
            if not module.check_mode:
                current = api.send("POST", base, wanted, what=f"{what} alert {name!r}")["alert"]
        elif alert_body(current) != wanted:
            plan.compare(f"alert {name}", masked(alert_body(current)), masked(wanted))
            plan.add(f"update alert {name}")
            if not module.check_mode:
                current = api.send("PUT", f"{base}/{current['id']}", wanted, what=f"{what} alert {name!r}")["alert"]
        out.append(current or wanted)
    for name, current in by_name.items():
        if not p["purge_alerts"]:
            out.append(current)
            continue
        plan.compare(f"alert {name}", masked(alert_body(current)), None)
        plan.add(f"delete alert {name}")
        if not module.check_mode:
            api.request("DELETE", f"/v2/uptime/checks/{ident}/alerts/{current['id']}", what=f"{what} alert {name!r}")
    return out


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_infra_spec
short_description: Check every input of berth_infra on the controller, before any DigitalOcean request
version_added: 0.3.0
description:
  - Runs on the controller only (an action plugin); it sends no request to the API and touches no host.
  - Checks the whole C(berth_infra) tree that C(playbooks/infra.yml) converges (docs/infra.md lists
    every key and its range) and fails once with one line per bad input, naming the variable path and
    the value (see RV(errors)).
  - A key that is not a setting anywhere in the tree is refused, so nothing is silently dropped.
  - Applies the ranges the real API enforces and its OpenAPI spec does not state, such as load
    balancer health checks (interval and timeout 3-300 s, thresholds 2-10) and DNS TTLs (at least 30 s).
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: It only reads its arguments.
  diff_mode:
    support: none
  platform:
    platforms: posix
  idempotent:
    support: full
    details: It only reads its arguments.
options:
  infra:
    description: The C(berth_infra) tree.
    type: dict
    required: true
  api:
    description: C(berth_infra_api), where the API is (checked like C(berth_infra.api)).
    type: dict
"""

EXAMPLES = r"""
- name: Check every input of berth_infra before any request
  berth.ops.do_infra_spec:
    infra: "{{ berth_infra }}"
    api: "{{ berth_infra_api | default(omit) }}"
"""

RETURN = r"""
monitoring:
  description:
    - What C(berth_infra.monitoring) asks for, its defaults applied - C(uptime_checks) (the options of
      M(berth.ops.do_uptime_check) but recipients, one per public host) and C(alert_policies) (those of
      M(berth.ops.do_monitor_alert) but recipients, one per metric). Both empty without C(monitoring).
    - Recipients are not in it; Slack webhook URLs are secrets that C(infra.yml) passes to the modules itself.
  returned: success
  type: dict
  sample: {uptime_checks: [{name: prod-uptime-example.com, target: "https://example.com/", type: https,
           regions: [eu_west, se_asia, us_east, us_west], alerts: [{type: down, period: 2m}]}],
           alert_policies: [{description: prod cpu, metric: cpu, value: 90, window: 10m, compare: GreaterThan,
           tags: [berth-prod], state: present}]}
errors:
  description: One line per bad input.
  returned: failure
  type: list
  elements: str
  sample: ["berth_infra.load_balancer.health_check.check_interval_seconds: 2 must be a whole number of seconds
    between 3 and 300"]
"""


def argument_spec() -> dict:
    return {
        "infra": {"type": "dict", "required": True},
        "api": {"type": "dict"},
    }

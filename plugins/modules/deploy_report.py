#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: deploy_report
short_description: Write one JSON report of a deploy, rollback or switch on the controller
version_added: 0.3.0
description:
  - Runs on the controller only (an action plugin); it never contacts a managed host.
  - Builds one report of the attempt O(release_id) over every host in O(hosts) from what each host's
    release left behind, and writes it to O(path) (replaced atomically; a later batch of the same
    play rewrites it with every host so far).
  - Per host it reads these variables, each optional (a host the play never reached has none of them);
    C(berth_app) (the app's name), C(release_plan) (M(berth.ops.release_plan)'s result),
    C(release_record) (M(berth.ops.release_log)'s result when the attempt was recorded),
    C(release_gate) and C(release_confirm) (M(berth.ops.health_gate)'s results), C(berth_failed)
    (C({task, msg}), the task that failed on this host and its message, set by the playbook's rescue).
  - A host's result is V(succeeded), V(unchanged) (nothing differed), V(planned) (check mode),
    V(refused) (stopped in step C(spec), C(plan) or C(lock), before anything changed on it),
    V(failed) (with the step, the message and what was restored) or V(not_reached). The report's
    result sums them up; its schema is C(docs/report.schema.json) (schema_version 1.0).
  - Only messages berth built are copied (they name keys, never secret values); never a whole result.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: In check mode the report is written too (it is output, not a change), with result V(planned).
  diff_mode:
    support: none
  platform:
    platforms: posix
  idempotent:
    support: full
    details: Always reports no change (the report is output, written again under the attempt's name).
options:
  release_id:
    description: The attempt's id (C(release_id) of C(playbooks/tasks/controller.yml)).
    type: str
    required: true
  kind:
    description: What the attempt did.
    type: str
    required: true
    choices: [deploy, rollback, switch]
  hosts:
    description: The hosts the attempt was for, in order. Default C(ansible_play_hosts_all).
    type: list
    elements: str
  path:
    description:
      - Where to write the report, relative to the directory ansible-playbook runs in.
      - Default C(.berth/reports/<release_id>.json).
    type: path
  operator:
    description: Who started the attempt. Default the first host record's operator, else C($BERTH_OPERATOR) or C($USER).
    type: str
  git_sha:
    description: The commit the attempt deploys. Default the first host record's C(git_sha) (C(berth_git_sha)).
    type: str
  platform:
    description:
      - Where the hosts' releases went. V(droplet) reads the release role's variables (above);
        V(app_platform) reads, per inventory host of C(playbooks/app_platform.yml), C(berth_app_platform_result)
        (M(berth.ops.do_app)'s result) and C(berth_failed). An App Platform failure that sent no write is
        V(refused); its timings hold C(total), the seconds until the deployment was ACTIVE.
    type: str
    choices: [droplet, app_platform]
    default: droplet
"""

EXAMPLES = r"""
- name: Report | Write the deploy report on the controller
  berth.ops.deploy_report:
    release_id: "{{ release_id }}"
    kind: deploy
    path: "{{ berth_report_path | default(omit) }}"
  run_once: true
  register: report

- name: Report | Show what went live where
  ansible.builtin.debug:
    msg: "{{ report.summary }}"
  run_once: true
"""

RETURN = r"""
path:
  description: Where the report was written.
  returned: success
  type: str
  sample: .berth/reports/20261205T101500Z-3f2a.json
report:
  description: The report as written (docs/report.schema.json).
  returned: success
  type: dict
summary:
  description:
    - The report as a short table, one line each; what went live where and each step's seconds, or
      what failed and what was restored.
  returned: success
  type: list
  elements: str
  sample:
    - "berth deploy 20261205T101500Z-3f2a: FAILED in 31.0 s"
    - "target     app     result          colour  pull  start  gate  switch  confirm  total"
    - "droplet-1  sample  failed at gate  green   -     -      15.2  -       -        -"
"""


def argument_spec() -> dict:
    return {
        "release_id": {"type": "str", "required": True},
        "kind": {"type": "str", "required": True, "choices": ["deploy", "rollback", "switch"]},
        "hosts": {"type": "list", "elements": "str"},
        "path": {"type": "path"},
        "operator": {"type": "str"},
        "git_sha": {"type": "str"},
        "platform": {"type": "str", "choices": ["droplet", "app_platform"], "default": "droplet"},
    }

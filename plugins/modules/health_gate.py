#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: health_gate
short_description: Wait for N consecutive good HTTP answers before a deadline
version_added: 0.1.0
description:
  - Probes a URL until it has given O(successes) good answers in a row, and fails as soon as the
    answers cannot get there. A good answer has a status in O(status_codes) and, when given, a body
    that matches O(body_regex) and every path of O(json_match).
  - Wrong answers and connection failures (refused, timed out, TLS) have separate budgets,
    O(max_bad_answers) and O(max_connection_errors), so a service that is still starting (refused
    connections) is told apart from one that answers wrongly.
  - Each request has its own O(timeout), shorter than the O(interval) between probes, and the whole
    gate has an absolute O(deadline).
  - With O(container), the gate fails at once when that container exits, disappears or turns
    C(unhealthy), instead of waiting out the deadline.
  - Runs wherever the task runs. Delegate it to the target host to probe ports that only the host
    can reach (for example a colour's private route through Traefik with a C(Host) header).
  - It only reads, so it never reports a change and runs the same in check mode.
author: berth developers
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.host_module
attributes:
  check_mode:
    support: full
    details: Probing changes nothing, so check mode runs the gate in full.
options:
  url:
    description: URL to probe.
    type: str
    required: true
  method:
    description: HTTP method of each probe.
    type: str
    default: GET
    choices: [GET, HEAD]
  headers:
    description: Request headers, for example C(Host) to reach one colour through Traefik.
    type: dict
    default: {}
  status_codes:
    description: Statuses that count as good.
    type: list
    elements: int
    default: [200]
  body_regex:
    description: A regular expression the body must contain (Python C(re.search)).
    type: str
  json_match:
    description:
      - Dotted paths into the JSON body and the value each must have, for example
        C({"status" = "ok", "checks.db" = "up"}) written as a YAML dict.
    type: dict
  successes:
    description: Good answers needed in a row.
    type: int
    default: 3
  max_bad_answers:
    description: Wrong answers (status, body) tolerated before the gate fails.
    type: int
    default: 10
  max_connection_errors:
    description: Refused, timed-out or failed connections tolerated before the gate fails.
    type: int
    default: 30
  interval:
    description: Seconds from the start of one probe to the start of the next.
    type: float
    default: 1.0
  timeout:
    description: Seconds each request may take; must be shorter than O(interval).
    type: float
    default: 0.8
  deadline:
    description: Seconds for the whole gate.
    type: float
    default: 60.0
  validate_certs:
    description: Verify the TLS certificate of an https URL.
    type: bool
    default: true
  ca_path:
    description: PEM file of CA certificates to trust in addition to the system's.
    type: path
  container:
    description: Name of a container whose exit or C(unhealthy) state fails the gate at once.
    type: str
  docker_cli:
    description: The docker command used to inspect O(container).
    type: path
    default: docker
notes:
  - Needs only ansible-core where it runs; O(container) also needs the docker CLI there.
"""

EXAMPLES = r"""
- name: Gate the green colour through its private route before it gets any traffic
  berth.ops.health_gate:
    url: http://127.0.0.1:8081/health
    headers:
      Host: shop-green.internal
    successes: 5
    interval: 1
    timeout: 0.5
    deadline: 60
    container: shop-green-web-1
  delegate_to: "{{ inventory_hostname }}"

- name: Wait for a JSON health document to say the database is up
  berth.ops.health_gate:
    url: https://shop.example.com/healthz
    json_match:
      status: ok
      checks.db: up
  delegate_to: localhost
"""

RETURN = r"""
passed:
  description: Whether the gate passed.
  returned: always
  type: bool
elapsed:
  description: Seconds the gate took.
  returned: always
  type: float
  sample: 4.012
attempts:
  description: Probes sent.
  returned: always
  type: int
  sample: 5
successes_in_a_row:
  description: Good answers in a row when the gate ended.
  returned: always
  type: int
bad_answers:
  description: Wrong answers seen.
  returned: always
  type: int
connection_errors:
  description: Connection failures seen.
  returned: always
  type: int
probes:
  description: One entry per probe.
  returned: always
  type: list
  elements: dict
  sample:
    - {t: 0.0, error: "refused: [Errno 111] Connection refused", latency_ms: 0.4, ok: false}
    - {t: 1.0, status: 200, latency_ms: 3.1, ok: true}
reason:
  description: Which condition failed the gate (deadline, bad answers, connection errors, container); null on a pass.
  returned: always
  type: str
  sample: "bad answers: 11 (budget 10); last: status 500 not in [200]"
"""

import json
import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils._gate import Gate, Policy
from ansible_collections.berth.ops.plugins.module_utils._http import make_transport


def argument_spec() -> dict:
    return {
        "url": {"type": "str", "required": True},
        "method": {"type": "str", "default": "GET", "choices": ["GET", "HEAD"]},
        "headers": {"type": "dict", "default": {}},
        "status_codes": {"type": "list", "elements": "int", "default": [200]},
        "body_regex": {"type": "str"},
        "json_match": {"type": "dict"},
        "successes": {"type": "int", "default": 3},
        "max_bad_answers": {"type": "int", "default": 10},
        "max_connection_errors": {"type": "int", "default": 30},
        "interval": {"type": "float", "default": 1.0},
        "timeout": {"type": "float", "default": 0.8},
        "deadline": {"type": "float", "default": 60.0},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "container": {"type": "str"},
        "docker_cli": {"type": "path", "default": "docker"},
    }


def validate(module: AnsibleModule) -> None:
    p = module.params
    if not p["url"].startswith(("http://", "https://")):
        module.fail_json(msg=f"url: {p['url']!r} must start with http:// or https://")
    for name in ("successes", "interval", "timeout", "deadline"):
        if p[name] <= 0:
            module.fail_json(msg=f"{name}: must be more than 0, got {p[name]}")
    for name in ("max_bad_answers", "max_connection_errors"):
        if p[name] < 0:
            module.fail_json(msg=f"{name}: must be 0 or more, got {p[name]}")
    if p["timeout"] >= p["interval"]:
        module.fail_json(msg=f"timeout ({p['timeout']:g} s) must be shorter than interval ({p['interval']:g} s)")
    if p["body_regex"] is not None:
        try:
            re.compile(p["body_regex"])
        except re.error as exc:
            module.fail_json(msg=f"body_regex: {exc}")


def container_checker(module: AnsibleModule, name: str):
    def state() -> str | None:
        rc, out, err = module.run_command([module.params["docker_cli"], "inspect", "--format",
                                           "{{json .State}}", name])
        if rc != 0:
            return f"{name} not found ({err.strip() or out.strip()})"
        current = json.loads(out)
        if current.get("Status") in ("exited", "dead") or not current.get("Running", True):
            return f"{name} {current.get('Status')} with exit code {current.get('ExitCode')}"
        health = current.get("Health") or {}
        if health.get("Status") == "unhealthy":
            last = (health.get("Log") or [{}])[-1].get("Output", "").strip()[:200]
            return f"{name} is unhealthy ({last})" if last else f"{name} is unhealthy"
        return None

    return state


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    validate(module)
    p = module.params
    transport = make_transport(p["validate_certs"], p["ca_path"], follow_redirects=False)
    headers = {str(k): str(v) for k, v in p["headers"].items()}
    policy = Policy(successes=p["successes"], max_bad_answers=p["max_bad_answers"],
                    max_connection_errors=p["max_connection_errors"], interval=p["interval"],
                    timeout=p["timeout"], deadline=p["deadline"], expected_status=tuple(p["status_codes"]),
                    body_regex=p["body_regex"], json_match=p["json_match"])
    gate = Gate(policy, lambda timeout: transport(p["method"], p["url"], headers, timeout),
                container_checker(module, p["container"]) if p["container"] else None)
    result = gate.run()
    if not result["passed"]:
        last = [e.get("status", e.get("error")) for e in result["probes"][-3:]]
        module.fail_json(msg=f"health gate failed for {p['url']}: {result['reason']}; last answers: {last}",
                         changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()

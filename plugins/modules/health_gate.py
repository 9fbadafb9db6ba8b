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
  idempotent:
    support: full
    details: It only probes.
options:
  url:
    description: URL to probe. Required unless O(checks) is given.
    type: str
  name:
    description: A name for this check in messages (for example the service).
    type: str
  checks:
    description:
      - Several gates run at once (one thread each), for example one per service of a release.
        Each item takes the options of this module (O(url), O(name), O(headers), O(status_codes),
        O(body_regex), O(json_match), O(successes), O(interval), O(timeout), O(start_timeout),
        O(deadline), O(max_bad_answers), O(max_connection_errors), O(container)); options not in an
        item come from the module's own. The task passes when every check passes.
    type: list
    elements: dict
    default: []
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
  start_timeout:
    description:
      - Seconds a starting service has to give its first good answer. Until then refused
        connections and statuses not in O(expected_status) (a 5xx, a proxy's 404) mean "not ready
        yet" and count against nothing else; after it, O(max_bad_answers) and
        O(max_connection_errors) apply. An expected status with a body or JSON that does not match
        is a started service answering wrongly, and spends O(max_bad_answers) from the first probe.
        Unset, the budgets apply from the first probe (confirming a service that is already warm).
    type: float
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
    description:
      - Seconds each request may take. When it is longer than O(interval), a slow answer is followed
        by the next probe at once.
    type: float
    default: 0.8
  deadline:
    description:
      - Seconds for the whole gate. Defaults to 60, or with O(start_timeout) to that plus the time
        the budgets allow.
    type: float
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

- name: Gate two services of a release at once; a slow starter has two minutes to become ready
  berth.ops.health_gate:
    checks:
      - name: web
        url: http://127.0.0.1:8081/health
        headers: {Host: web.green.shop.gate}
        container: shop-green-web-1
      - {name: api, url: "http://127.0.0.1:8081/up", headers: {Host: api.green.shop.gate}, timeout: 3}
    start_timeout: 120

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
  description:
    - Which condition failed the gate (start timeout, deadline, bad answers, connection errors,
      container); null on a pass.
  returned: always
  type: str
  sample: "bad answers: 11 (budget 10); last: status 500 not in [200]"
ready_after:
  description: Seconds until the first good answer (null when there was none).
  returned: always
  type: float
checks:
  description:
    - With O(checks), one result per check (the keys above plus C(name) and C(url)); the top-level
      keys then describe the slowest or first failed check.
  returned: when O(checks) is given
  type: list
  elements: dict
"""

import json
import re
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.ops.plugins.module_utils._gate import CHECK_DEFAULTS, DEFAULT_DEADLINE, Gate, Policy
from ansible_collections.berth.ops.plugins.module_utils._http import make_transport

CHECK_KEYS = ("url", "name", "headers", "status_codes", "body_regex", "json_match", "successes", "interval",
              "timeout", "start_timeout", "deadline", "max_bad_answers", "max_connection_errors", "container")


def argument_spec() -> dict:
    return {
        "url": {"type": "str"},
        "name": {"type": "str"},
        "checks": {"type": "list", "elements": "dict", "default": []},
        "method": {"type": "str", "default": "GET", "choices": ["GET", "HEAD"]},
        "headers": {"type": "dict", "default": {}},
        "status_codes": {"type": "list", "elements": "int", "default": list(CHECK_DEFAULTS["status_codes"])},
        "body_regex": {"type": "str"},
        "json_match": {"type": "dict"},
        "successes": {"type": "int", "default": CHECK_DEFAULTS["successes"]},
        "start_timeout": {"type": "float"},
        "max_bad_answers": {"type": "int", "default": CHECK_DEFAULTS["max_bad_answers"]},
        "max_connection_errors": {"type": "int", "default": CHECK_DEFAULTS["max_connection_errors"]},
        "interval": {"type": "float", "default": CHECK_DEFAULTS["interval"]},
        "timeout": {"type": "float", "default": CHECK_DEFAULTS["timeout"]},
        "deadline": {"type": "float"},
        "validate_certs": {"type": "bool", "default": True},
        "ca_path": {"type": "path"},
        "container": {"type": "str"},
        "docker_cli": {"type": "path", "default": "docker"},
    }


def check_problems(check: dict) -> list[str]:
    """What is wrong with one check's settings (named after the option and the check)."""
    where = f" (check {check.get('name') or check.get('url')})" if check.get("name") or check.get("url") else ""
    problems = []
    if not str(check.get("url") or "").startswith(("http://", "https://")):
        problems.append(f"url: {check.get('url')!r} must start with http:// or https://{where}")
    for name in ("successes", "interval", "timeout", "deadline", "start_timeout"):
        if check.get(name) is not None and float(check[name]) <= 0:
            problems.append(f"{name}: must be more than 0, got {check[name]}{where}")
    for name in ("max_bad_answers", "max_connection_errors"):
        if int(check[name]) < 0:
            problems.append(f"{name}: must be 0 or more, got {check[name]}{where}")
    if check.get("body_regex") is not None:
        try:
            re.compile(check["body_regex"])
        except re.error as exc:
            problems.append(f"body_regex: {exc}{where}")
    return problems


def policy_of(check: dict) -> Policy:
    start = float(check["start_timeout"]) if check.get("start_timeout") is not None else None
    deadline = check.get("deadline")
    if deadline is None:
        budget = (int(check["successes"]) + int(check["max_bad_answers"]) + int(check["max_connection_errors"]) + 2)
        step = max(float(check["interval"]), float(check["timeout"]))
        deadline = start + budget * step if start else DEFAULT_DEADLINE
    return Policy(successes=int(check["successes"]), max_bad_answers=int(check["max_bad_answers"]),
                  max_connection_errors=int(check["max_connection_errors"]), interval=float(check["interval"]),
                  timeout=float(check["timeout"]), deadline=float(deadline),
                  expected_status=tuple(int(s) for s in check["status_codes"]),
                  body_regex=check.get("body_regex"), json_match=check.get("json_match") or None,
                  start_timeout=start)


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


def run_check(module: AnsibleModule, check: dict) -> dict:
    transport = make_transport(module.params["validate_certs"], module.params["ca_path"], follow_redirects=False)
    headers = {str(k): str(v) for k, v in (check.get("headers") or {}).items()}
    method = module.params["method"]
    gate = Gate(policy_of(check), lambda timeout: transport(method, check["url"], headers, timeout),
                container_checker(module, check["container"]) if check.get("container") else None)
    return {"name": check.get("name") or check["url"], "url": check["url"], **gate.run()}


def describe(result: dict) -> str:
    last = [e.get("status", e.get("error")) for e in result["probes"][-3:]]
    return f"{result['name']} ({result['url']}): {result['reason']}; last answers: {last}"


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_one_of=[("url", "checks")])
    p = module.params
    base = {key: p[key] for key in CHECK_KEYS}
    checks = [{**base, **{k: v for k, v in item.items() if v is not None}} for item in p["checks"]] or [base]
    problems = [problem for check in checks for problem in check_problems(check)]
    unknown = sorted({key for item in p["checks"] for key in item} - set(CHECK_KEYS))
    if unknown:
        problems.append(f"checks: unknown keys {unknown} (known: {list(CHECK_KEYS)})")
    if problems:
        module.fail_json(msg="; ".join(problems))
    with ThreadPoolExecutor(max_workers=len(checks)) as pool:
        results = list(pool.map(lambda check: run_check(module, check), checks))
    failed = [r for r in results if not r["passed"]]
    summary = dict(failed[0] if failed else max(results, key=lambda r: r["elapsed"]))
    if p["checks"]:
        summary["checks"] = results
    if failed:
        module.fail_json(msg="health gate failed for " + "; ".join(describe(r) for r in failed),
                         changed=False, **summary)
    module.exit_json(changed=False, **summary)


if __name__ == "__main__":
    main()

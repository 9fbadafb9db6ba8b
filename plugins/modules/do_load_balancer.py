#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_load_balancer
short_description: Converge a DigitalOcean load balancer, health check and forwarding rules included
version_added: 0.2.0
description:
  - Finds the load balancer by I(name); creates it when missing; when any managed field differs,
    sends one PUT with every field (the API resets each field a PUT omits); deletes it with
    I(state=absent).
  - Compares after filling in the API's defaults, so an unchanged load balancer sends no write.
  - Validates the health check on the controller with the ranges the real API enforces
    (interval and timeout 3-300 s, thresholds 2-10, timeout not above interval).
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  name:
    description: Load balancer name, unique in the account.
    type: str
    required: true
  region:
    description: Region slug. Required.
    type: str
    required: true
  size_unit:
    description: Number of nodes (1-100).
    type: int
    default: 1
  vpc_uuid:
    description: VPC of the load balancer and its droplets.
    type: str
  tag:
    description: Send traffic to the droplets carrying this tag (mutually exclusive with I(droplet_ids)).
    type: str
  droplet_ids:
    description: Send traffic to these droplets.
    type: list
    elements: int
  forwarding_rules:
    description:
      - Each C({entry_protocol, entry_port, target_protocol, target_port}), optionally
        C(certificate_id) and C(tls_passthrough).
    type: list
    elements: dict
    required: true
  health_check:
    description:
      - C(protocol) (http, https, tcp), C(port), C(path), C(check_interval_seconds),
        C(response_timeout_seconds), C(unhealthy_threshold), C(healthy_threshold). Omitted keys take
        the API's defaults (http, 80, /, 10, 5, 3, 5); every key is always sent.
    type: dict
    default: {}
  sticky_sessions:
    description: C(type=none), or C(type=cookies) with C(cookie_name) and C(cookie_ttl_seconds).
    type: dict
    default: {type: none}
  algorithm:
    description: Balancing algorithm (deprecated by the API for new sizes, still stored).
    type: str
    choices: [round_robin, least_connections]
    default: round_robin
  redirect_http_to_https:
    description: Redirect port 80 to 443.
    type: bool
    default: false
  enable_proxy_protocol:
    description: Send the PROXY protocol header to the droplets.
    type: bool
    default: false
  enable_backend_keepalive:
    description: Keep connections to the droplets open.
    type: bool
    default: false
  http_idle_timeout_seconds:
    description: Idle timeout of HTTP connections (30-600).
    type: int
    default: 60
  disable_lets_encrypt_dns_records:
    description: Do not let the load balancer create DNS records for Let's Encrypt (set when berth owns DNS).
    type: bool
    default: false
  wait:
    description: Wait until a new load balancer is active.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a new load balancer.
    type: float
    default: 600.0
  state:
    description: Whether the load balancer should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Public entry point for the web droplets
  berth.ops.do_load_balancer:
    name: prod-lb
    region: nyc3
    vpc_uuid: "{{ vpc.vpc.id }}"
    tag: berth-prod-web
    forwarding_rules:
      - {entry_protocol: tcp, entry_port: 443, target_protocol: tcp, target_port: 443}
      - {entry_protocol: tcp, entry_port: 80, target_protocol: tcp, target_port: 80}
    health_check: {protocol: http, port: 80, path: /lb-health, check_interval_seconds: 5,
                   response_timeout_seconds: 3, unhealthy_threshold: 2, healthy_threshold: 2}
    disable_lets_encrypt_dns_records: true
"""

RETURN = r"""
load_balancer:
  description: The load balancer as the API describes it (C(ip) is its public address).
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
from ansible_collections.berth.ops.plugins.module_utils._do_normalize import (
    forwarding_rules,
    health_check,
    health_check_problems,
    sticky_sessions,
)

SCALARS = ("algorithm", "redirect_http_to_https", "enable_proxy_protocol", "enable_backend_keepalive",
           "http_idle_timeout_seconds", "disable_lets_encrypt_dns_records", "size_unit")


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "region": {"type": "str", "required": True},
        "size_unit": {"type": "int", "default": 1},
        "vpc_uuid": {"type": "str"},
        "tag": {"type": "str"},
        "droplet_ids": {"type": "list", "elements": "int"},
        "forwarding_rules": {"type": "list", "elements": "dict", "required": True},
        "health_check": {"type": "dict", "default": {}},
        "sticky_sessions": {"type": "dict", "default": {"type": "none"}},
        "algorithm": {"type": "str", "choices": ["round_robin", "least_connections"], "default": "round_robin"},
        "redirect_http_to_https": {"type": "bool", "default": False},
        "enable_proxy_protocol": {"type": "bool", "default": False},
        "enable_backend_keepalive": {"type": "bool", "default": False},
        "http_idle_timeout_seconds": {"type": "int", "default": 60},
        "disable_lets_encrypt_dns_records": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "float", "default": 600.0},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def wanted_body(p: dict) -> dict:
    body = {"name": p["name"], "region": p["region"], "forwarding_rules": forwarding_rules(p["forwarding_rules"]),
            "health_check": health_check(p["health_check"]), "sticky_sessions": sticky_sessions(p["sticky_sessions"])}
    body.update({key: p[key] for key in SCALARS})
    if p["vpc_uuid"]:
        body["vpc_uuid"] = p["vpc_uuid"]
    if p["tag"]:
        body["tag"] = p["tag"]
    else:
        body["droplet_ids"] = sorted(p["droplet_ids"] or [])
    return body


def current_body(lb: dict, wanted: dict) -> dict:
    body = {"name": lb["name"], "region": (lb.get("region") or {}).get("slug"),
            "forwarding_rules": forwarding_rules(lb.get("forwarding_rules")),
            "health_check": health_check(lb.get("health_check")),
            "sticky_sessions": sticky_sessions(lb.get("sticky_sessions"))}
    body.update({key: lb.get(key) for key in SCALARS})
    for key in ("vpc_uuid", "tag"):
        if key in wanted:
            body[key] = lb.get(key)
    if "droplet_ids" in wanted:
        body["droplet_ids"] = sorted(lb.get("droplet_ids") or [])
    return body


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"load balancer {p['name']!r}"
    if p["tag"] and p["droplet_ids"]:
        module.fail_json(msg=f"{what}: give tag or droplet_ids, not both")
    problems = health_check_problems(health_check(p["health_check"]))
    if problems:
        module.fail_json(msg=f"{what}: " + "; ".join(problems))
    current = find_named(api, "/v2/load_balancers", "load_balancers", p["name"], what)
    if p["state"] == "absent":
        delete(module, api, plan, current, key="load_balancer", label=f"load balancer {p['name']}",
               path="/v2/load_balancers", what=what)
        return {"load_balancer": {}}
    wanted = wanted_body(p)
    if current is None:
        plan.compare("load_balancer", None, wanted)
        plan.add(f"create load balancer {p['name']}")
        if module.check_mode:
            return {"load_balancer": wanted}
        current = api.send("POST", "/v2/load_balancers", wanted, what=what)["load_balancer"]
        if p["wait"]:
            current = api.wait_status(f"/v2/load_balancers/{current['id']}", "load_balancer", ("active",),
                                      what=what, timeout=p["wait_timeout"])
        return {"load_balancer": current}
    now = current_body(current, wanted)
    if any([plan.compare(key, now.get(key), wanted[key]) for key in wanted]):
        plan.add(f"update load balancer {p['name']}")
        if not module.check_mode:
            current = api.send("PUT", f"/v2/load_balancers/{current['id']}", wanted, what=what)["load_balancer"]
    return {"load_balancer": current}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_database
short_description: Converge a DigitalOcean managed database cluster, its trusted sources, users and databases
version_added: 0.2.0
description:
  - Finds the cluster by I(name); creates it when missing and waits until it is online.
  - Trusted sources (the cluster's firewall) converge to exactly I(trusted_sources) with one
    C(PUT /v2/databases/{uuid}/firewall) when they differ; an empty list is left alone unless
    I(trusted_sources) is given as C([]) explicitly.
  - I(users) and I(databases) that are missing are created; others are never dropped (data lives there).
  - Engine, version, region, size and node count of an existing cluster are reported in C(drift)
    (resizing and upgrades are deliberate operations, not a side effect of a converge).
  - The result carries connection URIs with passwords; give the task C(no_log=true).
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  name:
    description: Cluster name, unique in the account.
    type: str
    required: true
  engine:
    description: Database engine.
    type: str
    choices: [pg, redis, valkey, mysql]
    default: pg
  version:
    description: Engine major version, for example C(16) (the API's default when not given).
    type: str
  region:
    description: Region slug. Required to create.
    type: str
  size:
    description: Node size slug, for example C(db-s-1vcpu-1gb). Required to create.
    type: str
  num_nodes:
    description: Number of nodes.
    type: int
    default: 1
  private_network_uuid:
    description: VPC the cluster joins.
    type: str
  tags:
    description: Tags of the cluster.
    type: list
    elements: str
    default: []
  trusted_sources:
    description:
      - Who may connect, each C({type, value}) with I(type) C(droplet), C(tag), C(ip_addr), C(k8s) or
        C(app). Not given means leave the firewall as it is.
    type: list
    elements: dict
  users:
    description: Database users that must exist.
    type: list
    elements: str
    default: []
  databases:
    description: Databases that must exist (PostgreSQL and MySQL).
    type: list
    elements: str
    default: []
  wait:
    description: Wait until a new cluster is online.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for a new cluster.
    type: float
    default: 1800.0
  state:
    description: Whether the cluster should exist. C(absent) deletes it with all its data.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: PostgreSQL reachable only from the environment's droplets
  berth.ops.do_database:
    name: prod-pg
    engine: pg
    version: "16"
    region: nyc3
    size: db-s-1vcpu-1gb
    private_network_uuid: "{{ vpc.vpc.id }}"
    trusted_sources: [{type: tag, value: berth-prod}]
    users: [app]
    databases: [app]
  no_log: true
  register: pg
"""

RETURN = r"""
database:
  description: The cluster as the API describes it, C(connection) and C(private_connection) included.
  returned: always
  type: dict
users:
  description: The cluster's users with their passwords (secret).
  returned: success
  type: list
  elements: dict
drift:
  description: Differences that need a deliberate resize or upgrade.
  returned: always
  type: list
  elements: str
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
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, delete, run
from ansible_collections.berth.ops.plugins.module_utils._do_normalize import trusted_sources


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "engine": {"type": "str", "choices": ["pg", "redis", "valkey", "mysql"], "default": "pg"},
        "version": {"type": "str"},
        "region": {"type": "str"},
        "size": {"type": "str"},
        "num_nodes": {"type": "int", "default": 1},
        "private_network_uuid": {"type": "str"},
        "tags": {"type": "list", "elements": "str", "default": []},
        "trusted_sources": {"type": "list", "elements": "dict"},
        "users": {"type": "list", "elements": "str", "default": []},
        "databases": {"type": "list", "elements": "str", "default": []},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "float", "default": 1800.0},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def converge(module, api, plan) -> dict:  # noqa: PLR0912 - one branch per sub-resource reads best in order
    p = module.params
    what = f"database cluster {p['name']!r}"
    for index, source in enumerate(p["trusted_sources"] or []):
        if source.get("type") not in ("droplet", "tag", "ip_addr", "k8s", "app") or not source.get("value"):
            module.fail_json(msg=f"trusted_sources[{index}] is {source!r}: needs type "
                                 "(droplet, tag, ip_addr, k8s, app) and value")
    clusters = api.get("/v2/databases", what=what).get("databases") or []
    current = next((d for d in clusters if d["name"] == p["name"]), None)
    if p["state"] == "absent":
        delete(module, api, plan, current, key="database", label=f"database cluster {p['name']}",
               path="/v2/databases", what=what)
        return {"database": {}, "drift": []}
    drift: list[str] = []
    if current is None:
        current = _create(module, api, plan, what)
        if current is None:  # check mode
            for name in p["users"]:
                plan.add(f"create user {name}")
            for name in p["databases"]:
                plan.add(f"create database {name}")
            if p["trusted_sources"] is not None:
                plan.add(f"set trusted sources of {p['name']}")
            return {"database": {"name": p["name"]}, "drift": drift}
        rules_now: list[dict] = []
    else:
        drift = _drift(current, p)
        for message in drift:
            module.warn(message)
        rules_now = api.get(f"/v2/databases/{current['id']}/firewall", what=what).get("rules") or []
    uuid = current["id"]
    if p["trusted_sources"] is not None:
        wanted = trusted_sources(p["trusted_sources"])
        if plan.compare("trusted_sources", trusted_sources(rules_now), wanted):
            plan.add(f"set trusted sources of {p['name']}")
            if not module.check_mode:
                api.request("PUT", f"/v2/databases/{uuid}/firewall", {"rules": wanted}, what=what)
    users = current.get("users") or []
    have = {u["name"] for u in users}
    for name in p["users"]:
        if name not in have:
            plan.add(f"create user {name}")
            if not module.check_mode:
                users.append(api.send("POST", f"/v2/databases/{uuid}/users", {"name": name},
                                      what=f"{what} user {name}")["user"])
    dbs = set(current.get("db_names") or [])
    for name in p["databases"]:
        if name not in dbs:
            plan.add(f"create database {name}")
            if not module.check_mode:
                api.request("POST", f"/v2/databases/{uuid}/dbs", {"name": name}, what=f"{what} database {name}")
    return {"database": current, "users": users, "drift": drift}


def _create(module, api, plan, what: str) -> dict | None:
    p = module.params
    for key in ("region", "size"):
        if not p[key]:
            module.fail_json(msg=f"{what} does not exist: {key} is required to create it")
    body = {"name": p["name"], "engine": p["engine"], "region": p["region"], "size": p["size"],
            "num_nodes": p["num_nodes"], "tags": p["tags"]}
    if p["version"]:
        body["version"] = p["version"]
    if p["private_network_uuid"]:
        body["private_network_uuid"] = p["private_network_uuid"]
    plan.compare("database", None, body)
    plan.add(f"create database cluster {p['name']}")
    if module.check_mode:
        return None
    created = api.send("POST", "/v2/databases", body, what=what)["database"]
    if p["wait"]:
        online = api.wait_status(f"/v2/databases/{created['id']}", "database", ("online",), what=what,
                                 timeout=p["wait_timeout"])
        created.update({k: v for k, v in online.items() if v is not None})
    return created


def _drift(current: dict, p: dict) -> list[str]:
    found = []
    for key in ("engine", "version", "region", "size", "num_nodes"):
        if p[key] is not None and str(current.get(key)) != str(p[key]):
            found.append(f"database cluster {p['name']}: {key} is {current.get(key)}, wanted {p[key]} "
                         "(resize or upgrade it deliberately)")
    return found


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

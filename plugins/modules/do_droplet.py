#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_droplet
short_description: Converge a named group of DigitalOcean droplets that share a tag
version_added: 0.2.0
description:
  - The group is every droplet carrying I(group_tag). Droplets named in I(names) that are missing
    are created (one request for up to ten), droplets of the group not named are deleted, so the
    count follows the list of names.
  - Existing droplets missing one of I(tags) get it (through the tags API). Size, image, region,
    VPC, user data and SSH keys of an existing droplet cannot change in place; a difference is
    reported in C(drift) and warned about, never silently ignored.
  - Waits until every new droplet is C(active) and returns its public and private IPv4 addresses.
  - With I(state=absent), deletes the droplets of the group named in I(names) (all of the group when
    I(names) is empty).
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  names:
    description: Droplet names, unique within the group.
    type: list
    elements: str
    default: []
  group_tag:
    description: Tag that marks the group berth owns; it is added to every droplet it creates.
    type: str
    required: true
  tags:
    description: Further tags (the inventory groups hosts by them).
    type: list
    elements: str
    default: []
  region:
    description: Region slug. Required to create.
    type: str
  size:
    description: Size slug, for example C(s-1vcpu-1gb). Required to create.
    type: str
  image:
    description: Image slug or id, for example C(debian-13-x64). Required to create.
    type: str
  ssh_keys:
    description: SSH key ids or fingerprints to install for root.
    type: list
    elements: str
    default: []
  user_data:
    description: cloud-init user data.
    type: str
  vpc_uuid:
    description: VPC to place the droplets in.
    type: str
  monitoring:
    description: Install the DigitalOcean metrics agent.
    type: bool
    default: true
  ipv6:
    description: Enable IPv6.
    type: bool
    default: false
  wait:
    description: Wait until new droplets are active.
    type: bool
    default: true
  wait_timeout:
    description: Seconds to wait for new droplets.
    type: float
    default: 300.0
  state:
    description: Whether the named droplets should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Two web droplets in the VPC
  berth.ops.do_droplet:
    names: [prod-web-1, prod-web-2]
    group_tag: berth-prod-web
    tags: [berth-prod, web]
    region: nyc3
    size: s-1vcpu-1gb
    image: debian-13-x64
    ssh_keys: ["{{ key.ssh_key.fingerprint }}"]
    vpc_uuid: "{{ vpc.vpc.id }}"
  register: web
"""

RETURN = r"""
droplets:
  description: The group's droplets after the change, by name.
  returned: always
  type: list
  elements: dict
  sample: [{id: 1001, name: prod-web-1, public_ipv4: 203.0.113.10, private_ipv4: 10.10.0.2, tags: [web]}]
drift:
  description: Differences that cannot be corrected in place (replace the droplet to apply them).
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
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, run


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "names": {"type": "list", "elements": "str", "default": []},
        "group_tag": {"type": "str", "required": True},
        "tags": {"type": "list", "elements": "str", "default": []},
        "region": {"type": "str"},
        "size": {"type": "str"},
        "image": {"type": "str"},
        "ssh_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
        "user_data": {"type": "str"},
        "vpc_uuid": {"type": "str"},
        "monitoring": {"type": "bool", "default": True},
        "ipv6": {"type": "bool", "default": False},
        "wait": {"type": "bool", "default": True},
        "wait_timeout": {"type": "float", "default": 300.0},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def summary(droplet: dict) -> dict:
    nets = droplet.get("networks", {}).get("v4", [])
    address = {n["type"]: n["ip_address"] for n in nets}
    return {"id": droplet["id"], "name": droplet["name"], "status": droplet.get("status"),
            "public_ipv4": address.get("public"), "private_ipv4": address.get("private"),
            "tags": droplet.get("tags", []), "region": (droplet.get("region") or {}).get("slug"),
            "size": droplet.get("size_slug"), "vpc_uuid": droplet.get("vpc_uuid")}


def drift_of(droplet: dict, p: dict) -> list[str]:
    found = []
    image = droplet.get("image") or {}
    checks = (("size", droplet.get("size_slug"), p["size"]),
              ("region", (droplet.get("region") or {}).get("slug"), p["region"]),
              ("vpc_uuid", droplet.get("vpc_uuid"), p["vpc_uuid"]),
              ("image", {str(image.get("slug")), str(image.get("id"))}, p["image"]))
    for key, now, wanted in checks:
        if wanted is None:
            continue
        if (wanted not in now) if isinstance(now, set) else (now != wanted):
            found.append(f"droplet {droplet['name']}: {key} is {now if not isinstance(now, set) else image.get('slug')}"
                         f", wanted {wanted} (replace the droplet to change it)")
    return found


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"droplets tagged {p['group_tag']}"
    group = api.list("/v2/droplets", "droplets", what=what, query={"tag_name": p["group_tag"]})
    by_name = {d["name"]: d for d in group}
    if len(by_name) != len(group):
        module.fail_json(msg=f"{what}: two droplets share a name; berth cannot tell them apart")
    if p["state"] == "absent":
        doomed = [d for d in group if not p["names"] or d["name"] in p["names"]]
        return {"droplets": [summary(d) for d in _delete(module, api, plan, doomed)], "drift": []}
    tags = list(dict.fromkeys([p["group_tag"], *p["tags"]]))
    missing = [n for n in p["names"] if n not in by_name]
    extra = [d for d in group if d["name"] not in p["names"]]
    drift: list[str] = []
    for name in p["names"]:
        if name in by_name:
            drift.extend(drift_of(by_name[name], p))
    for message in drift:
        module.warn(message)
    plan.compare("names", sorted(by_name), sorted(p["names"]))
    kept = [by_name[n] for n in p["names"] if n in by_name]
    _tag(module, api, plan, kept, tags)
    _delete(module, api, plan, extra)
    created = _create(module, api, plan, missing, tags) if missing else []
    after = [*kept, *created]
    if module.check_mode:
        after = [*kept, *({"id": None, "name": n, "tags": tags} for n in missing)]
    return {"droplets": [summary(d) for d in sorted(after, key=lambda d: p["names"].index(d["name"]))],
            "drift": drift}


def _create(module, api, plan, names: list[str], tags: list[str]) -> list[dict]:
    p = module.params
    for key in ("region", "size", "image"):
        if not p[key]:
            module.fail_json(msg=f"droplets {', '.join(names)} do not exist: {key} is required to create them")
    body = {"region": p["region"], "size": p["size"], "image": p["image"], "tags": tags,
            "monitoring": p["monitoring"], "ipv6": p["ipv6"],
            "ssh_keys": [int(k) if k.isdigit() else k for k in p["ssh_keys"]]}
    if p["user_data"]:
        body["user_data"] = p["user_data"]
    if p["vpc_uuid"]:
        body["vpc_uuid"] = p["vpc_uuid"]
    made = []
    for start in range(0, len(names), 10):  # the API creates at most ten per request
        chunk = names[start:start + 10]
        plan.add(f"create droplets {', '.join(chunk)}")
        if module.check_mode:
            continue
        answer = api.send("POST", "/v2/droplets", {**body, "names": chunk}, what=f"droplets {', '.join(chunk)}")
        made.extend(answer["droplets"])
    if module.check_mode or not p["wait"]:
        return made
    return [api.wait_status(f"/v2/droplets/{d['id']}", "droplet", ("active",), what=f"droplet {d['name']}",
                            timeout=p["wait_timeout"]) for d in made]


def _delete(module, api, plan, droplets: list[dict]) -> list[dict]:
    for droplet in droplets:
        plan.add(f"delete droplet {droplet['name']}")
        if not module.check_mode:
            api.request("DELETE", f"/v2/droplets/{droplet['id']}", what=f"droplet {droplet['name']}")
    return droplets


def _tag(module, api, plan, droplets: list[dict], tags: list[str]) -> None:
    for tag in tags:
        lacking = [d for d in droplets if tag not in d.get("tags", [])]
        if not lacking:
            continue
        plan.compare(f"tag {tag}", sorted(d["name"] for d in droplets if tag in d.get("tags", [])),
                     sorted(d["name"] for d in droplets))
        plan.add(f"tag droplets {', '.join(d['name'] for d in lacking)} with {tag}")
        if module.check_mode:
            continue
        api.request("POST", "/v2/tags", {"name": tag}, what=f"tag {tag}", ok=(200, 201, 422))
        api.request("POST", f"/v2/tags/{tag}/resources",
                    {"resources": [{"resource_id": str(d["id"]), "resource_type": "droplet"} for d in lacking]},
                    what=f"tag {tag}")
        for droplet in lacking:
            droplet.setdefault("tags", []).append(tag)


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

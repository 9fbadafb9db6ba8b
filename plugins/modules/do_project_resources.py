#!/usr/bin/python
# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
module: do_project_resources
short_description: Converge a DigitalOcean project and the resources assigned to it
version_added: 0.2.0
description:
  - Finds the project by I(name); creates it when missing; assigns the I(resources) it lacks in one
    request (a resource belongs to one project, so assigning moves it).
  - Resources assigned but not listed stay (they can only leave by joining another project).
  - With I(state=absent) deletes the project; the API refuses while resources are still assigned.
author: berth developers
attributes:
  idempotent:
    support: full
    details: A rerun with the same inputs sends no write.
options:
  name:
    description: Project name.
    type: str
    required: true
  purpose:
    description: The project's purpose, as the control panel shows it.
    type: str
    default: Web Application
  environment:
    description: Project environment.
    type: str
    choices: [Development, Staging, Production]
    default: Production
  description:
    description: Free text.
    type: str
    default: ""
  resources:
    description:
      - Resource URNs, for example C(do:droplet:1001), C(do:loadbalancer:UUID), C(do:dbaas:UUID),
        C(do:domain:example.com).
    type: list
    elements: str
    default: []
  state:
    description: Whether the project should exist.
    type: str
    choices: [present, absent]
    default: present
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - berth.ops.do
"""

EXAMPLES = r"""
- name: Group the environment in one project
  berth.ops.do_project_resources:
    name: berth-prod
    environment: Production
    resources: "{{ web.droplets | map(attribute='id') | map('regex_replace', '^', 'do:droplet:') | list }}"
"""

RETURN = r"""
project:
  description: The project as the API describes it.
  returned: always
  type: dict
resources:
  description: URNs assigned to the project after the change.
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
from ansible_collections.berth.ops.plugins.module_utils._do_module import base_module_arguments, delete, find_named, run


def argument_spec() -> dict:
    return {
        **base_module_arguments(),
        "name": {"type": "str", "required": True},
        "purpose": {"type": "str", "default": "Web Application"},
        "environment": {"type": "str", "choices": ["Development", "Staging", "Production"], "default": "Production"},
        "description": {"type": "str", "default": ""},
        "resources": {"type": "list", "elements": "str", "default": []},
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
    }


def converge(module, api, plan) -> dict:
    p = module.params
    what = f"project {p['name']!r}"
    project = find_named(api, "/v2/projects", "projects", p["name"], what)
    if p["state"] == "absent":
        delete(module, api, plan, project, key="project", label=f"project {p['name']}",
               path="/v2/projects", what=what)
        return {"project": {}, "resources": []}
    assigned: list[str] = []
    if project is None:
        body = {"name": p["name"], "purpose": p["purpose"], "environment": p["environment"],
                "description": p["description"]}
        plan.compare("project", None, body)
        plan.add(f"create project {p['name']}")
        project = body if module.check_mode else api.send("POST", "/v2/projects", body, what=what)["project"]
    else:
        assigned = [r["urn"] for r in api.list(f"/v2/projects/{project['id']}/resources", "resources", what=what)]
    missing = [urn for urn in dict.fromkeys(p["resources"]) if urn not in assigned]
    if missing:
        plan.compare("resources", sorted(assigned), sorted({*assigned, *missing}))
        plan.add(f"assign {', '.join(missing)} to project {p['name']}")
        if not module.check_mode:
            api.request("POST", f"/v2/projects/{project['id']}/resources", {"resources": missing}, what=what)
    return {"project": project, "resources": sorted({*assigned, *missing})}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    run(module, converge)


if __name__ == "__main__":
    main()

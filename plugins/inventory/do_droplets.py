# Copyright: berth developers
# Apache License 2.0
from __future__ import annotations

DOCUMENTATION = r"""
---
name: do_droplets
short_description: DigitalOcean droplets as hosts, grouped by tag
version_added: 0.2.0
description:
  - Lists the droplets of a DigitalOcean account (optionally only those with I(tag)) and adds each
    as a host named after the droplet, in a group per tag (dashes become underscores) and in
    I(all_group), so C(provision.yml) and C(deploy.yml) run on them as they are.
  - The inventory file's name must end with C(do_droplets.yml) or C(do_droplets.yaml).
  - C(ansible_host) is the droplet's public (default) or private IPv4 address.
author: berth developers
options:
  plugin:
    description: The name of this plugin.
    type: str
    required: true
    choices: [berth.ops.do_droplets]
  api_token:
    description:
      - DigitalOcean API token; when not given, the first set of C(DIGITALOCEAN_TOKEN), C(DO_API_TOKEN),
        C(DO_API_KEY), C(OAUTH_TOKEN).
    type: str
    env:
      - name: DIGITALOCEAN_TOKEN
      - name: DO_API_TOKEN
      - name: DO_API_KEY
      - name: OAUTH_TOKEN
  api_base_url:
    description: Base URL of the API.
    type: str
    default: https://api.digitalocean.com
    env:
      - name: DIGITALOCEAN_API_URL
  ca_path:
    description: PEM file of CA certificates to trust in addition to the system's.
    type: path
  validate_certs:
    description: Verify the API's TLS certificate.
    type: bool
    default: true
  tag:
    description: Only droplets carrying this tag (for example C(berth-prod), all of one environment).
    type: str
  address:
    description: Which address becomes C(ansible_host).
    type: str
    choices: [public, private]
    default: public
  all_group:
    description: Group that holds every listed droplet (berth's playbooks target C(droplets)).
    type: str
    default: droplets
  group_prefix:
    description: Prefix of the per-tag group names.
    type: str
    default: ""
"""

EXAMPLES = r"""
# inventory/prod.do_droplets.yml
plugin: berth.ops.do_droplets
tag: berth-prod
all_group: droplets
"""

from ansible.errors import AnsibleError
from ansible.plugins.inventory import BaseInventoryPlugin
from ansible_collections.berth.ops.plugins.module_utils._do_api import (
    Client,
    DOError,
    make_transport,
    token_from_env,
)


class InventoryModule(BaseInventoryPlugin):
    NAME = "berth.ops.do_droplets"

    def verify_file(self, path: str) -> bool:
        return super().verify_file(path) and path.endswith(("do_droplets.yml", "do_droplets.yaml"))

    def parse(self, inventory, loader, path, cache=True) -> None:
        super().parse(inventory, loader, path, cache)
        self._read_config_data(path)
        token = self.get_option("api_token")
        source = "the api_token option"
        if not token:
            token, name = token_from_env()
            source = f"the {name} environment variable"
        if not token:
            raise AnsibleError("berth.ops.do_droplets: no token; set DIGITALOCEAN_TOKEN or api_token")
        api = Client(make_transport(self.get_option("validate_certs"), self.get_option("ca_path")), token,
                     token_source=source, base_url=self.get_option("api_base_url"), deadline=120)
        query = {"tag_name": self.get_option("tag")} if self.get_option("tag") else None
        try:
            droplets = api.list("/v2/droplets", "droplets", what="droplets", query=query)
        except DOError as exc:
            raise AnsibleError(f"berth.ops.do_droplets: {exc}") from exc
        all_group = self.inventory.add_group(self.get_option("all_group"))
        for droplet in sorted(droplets, key=lambda d: d["name"]):
            self._add(droplet, all_group)

    def _add(self, droplet: dict, all_group: str) -> None:
        host = self.inventory.add_host(droplet["name"], group=all_group)
        nets = {n["type"]: n["ip_address"] for n in droplet.get("networks", {}).get("v4", [])}
        self.inventory.set_variable(host, "ansible_host", nets.get(self.get_option("address")))
        for key, value in (("do_id", droplet["id"]), ("do_public_ipv4", nets.get("public")),
                           ("do_private_ipv4", nets.get("private")), ("do_tags", droplet.get("tags", [])),
                           ("do_region", (droplet.get("region") or {}).get("slug")),
                           ("do_size", droplet.get("size_slug")), ("do_vpc_uuid", droplet.get("vpc_uuid"))):
            self.inventory.set_variable(host, key, value)
        for tag in droplet.get("tags", []):
            group = self.inventory.add_group(self._sanitize_group(self.get_option("group_prefix") + tag))
            self.inventory.add_child(group, host)

    @staticmethod
    def _sanitize_group(name: str) -> str:
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

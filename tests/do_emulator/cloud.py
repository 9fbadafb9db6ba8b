"""The emulated cloud: resources in memory and the v2 operations berth's modules use.

Mimics what the real API does and the spec does not say: firewall ports for "all" stored as
"0", a load balancer PUT resets every omitted field to its default, droplets/LBs start "new"
and databases "creating" and turn active/online after ``settle`` reads.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import itertools
import re
import secrets
import threading
import uuid
from datetime import UTC, datetime


class ApiError(Exception):
    def __init__(self, status: int, ident: str, message: str) -> None:
        super().__init__(message)
        self.status, self.ident, self.message = status, ident, message


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


REGION = {"name": "Emulated", "slug": "", "features": ["private_networking", "monitoring"],
          "available": True, "sizes": ["s-1vcpu-1gb", "s-2vcpu-4gb"]}
LB_DEFAULTS = {
    "algorithm": "round_robin", "redirect_http_to_https": False, "enable_proxy_protocol": False,
    "enable_backend_keepalive": False, "http_idle_timeout_seconds": 60, "disable_lets_encrypt_dns_records": False,
    "sticky_sessions": {"type": "none"}, "size_unit": 1, "size": "lb-small", "droplet_ids": [],
    "health_check": {"protocol": "http", "port": 80, "path": "/", "check_interval_seconds": 10,
                     "response_timeout_seconds": 5, "healthy_threshold": 5, "unhealthy_threshold": 3},
    "firewall": {"allow": [], "deny": []},
}
ENGINE_PORTS = {"pg": 25060, "redis": 25061, "valkey": 25061, "mysql": 25060}


class Cloud:
    def __init__(self, address_pool: list[str] | None = None, settle: int = 1) -> None:
        self.lock = threading.RLock()
        self.settle = settle
        self.address_pool = list(address_pool or [])
        self.reset()

    def reset(self) -> None:
        self.ids = itertools.count(1000)
        self.vpcs: dict[str, dict] = {}
        self.keys: dict[int, dict] = {}
        self.droplets: dict[int, dict] = {}
        self.firewalls: dict[str, dict] = {}
        self.lbs: dict[str, dict] = {}
        self.dbs: dict[str, dict] = {}
        self.domains: dict[str, dict] = {}
        self.records: dict[str, dict[int, dict]] = {}
        self.projects: dict[str, dict] = {}
        self.actions: dict[int, dict] = {}
        self.reads: dict[str, int] = {}
        self.public_net = itertools.count(10)
        from .apps import Apps  # noqa: PLC0415 - apps.py imports this module's ApiError

        self.apps = Apps(self.settle)
        from .monitoring import Monitoring  # noqa: PLC0415 - monitoring.py imports this module's ApiError

        self.monitoring = Monitoring()

    def counts(self) -> dict:
        return {"vpcs": len(self.vpcs), "ssh_keys": len(self.keys), "droplets": len(self.droplets),
                "firewalls": len(self.firewalls), "load_balancers": len(self.lbs), "databases": len(self.dbs),
                "domains": len(self.domains), "domain_records": sum(len(r) for r in self.records.values()),
                "projects": len(self.projects),
                "project_resources": sum(len(p["_resources"]) for p in self.projects.values())}

    # -- helpers ---------------------------------------------------------------------------------

    def _settle(self, key: str, item: dict, field: str, pending: str, ready: str) -> None:
        if item.get(field) == pending:
            self.reads[key] = self.reads.get(key, 0) + 1
            if self.reads[key] > self.settle:
                item[field] = ready

    def _action(self, kind: str, resource_id: int, resource_type: str = "droplet") -> dict:
        action = {"id": next(self.ids), "status": "in-progress", "type": kind, "started_at": now(),
                  "resource_id": resource_id, "resource_type": resource_type,
                  "region": {**REGION, "slug": "nyc3", "name": "nyc3"}, "region_slug": "nyc3"}
        self.actions[action["id"]] = action
        return action

    @staticmethod
    def _get(table: dict, key, what: str) -> dict:
        if key not in table:
            raise ApiError(404, "not_found", f"The resource you were accessing could not be found ({what}).")
        return table[key]

    # -- actions ---------------------------------------------------------------------------------

    def get_action(self, action_id: int) -> dict:
        action = self._get(self.actions, action_id, "action")
        self._settle(f"action{action_id}", action, "status", "in-progress", "completed")
        if action["status"] == "completed" and not action.get("completed_at"):
            action["completed_at"] = now()
        return {"action": action}

    # -- VPCs ------------------------------------------------------------------------------------

    def list_vpcs(self) -> list[dict]:
        return list(self.vpcs.values())

    def create_vpc(self, body: dict) -> dict:
        if any(v["name"] == body["name"] for v in self.vpcs.values()):
            raise ApiError(422, "unprocessable_entity", "A VPC with this name already exists.")
        ident = str(uuid.uuid4())
        ip_range = body.get("ip_range") or f"10.{len(self.vpcs) + 100}.0.0/20"
        vpc = {"id": ident, "urn": f"do:vpc:{ident}", "name": body["name"], "description": body.get("description", ""),
               "region": body["region"], "ip_range": ip_range, "default": False, "created_at": now()}
        self.vpcs[ident] = vpc
        return vpc

    def update_vpc(self, ident: str, body: dict) -> dict:
        vpc = self._get(self.vpcs, ident, "vpc")
        vpc.update({k: body[k] for k in ("name", "description") if k in body})
        return vpc

    def delete_vpc(self, ident: str) -> None:
        self._get(self.vpcs, ident, "vpc")
        if any(d["vpc_uuid"] == ident for d in self.droplets.values()):
            raise ApiError(409, "conflict", "Can not delete VPC with members")
        del self.vpcs[ident]

    # -- SSH keys --------------------------------------------------------------------------------

    def create_key(self, body: dict) -> dict:
        parts = body["public_key"].split()
        if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-")):
            raise ApiError(422, "unprocessable_entity", "Key invalid type")
        digest = hashlib.md5(base64.b64decode(parts[1])).hexdigest()
        key = {"id": next(self.ids), "name": body["name"], "public_key": body["public_key"],
               "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2))}
        self.keys[key["id"]] = key
        return key

    def find_key(self, ident: str) -> dict:
        for key in self.keys.values():
            if str(key["id"]) == ident or key["fingerprint"] == ident:
                return key
        raise ApiError(404, "not_found", "The resource you were accessing could not be found.")

    # -- droplets --------------------------------------------------------------------------------

    def _droplet(self, body: dict, name: str) -> dict:
        ident = next(self.ids)
        vpc_uuid = body.get("vpc_uuid") or self._default_vpc(body["region"])
        net = ipaddress.ip_network(self.vpcs[vpc_uuid]["ip_range"])
        used = {d["_private"] for d in self.droplets.values() if d["vpc_uuid"] == vpc_uuid}
        private = next(str(h) for h in itertools.islice(net.hosts(), 1, None) if str(h) not in used)
        public = self.address_pool.pop(0) if self.address_pool else f"203.0.113.{next(self.public_net)}"
        size = body["size"]
        return {
            "id": ident, "name": name, "memory": 1024, "vcpus": 1, "disk": 25, "locked": False, "status": "new",
            "created_at": now(), "features": ["monitoring"] if body.get("monitoring") else [], "backup_ids": [],
            "next_backup_window": None, "snapshot_ids": [], "volume_ids": [],
            "image": {"id": 1, "name": str(body["image"]), "distribution": "Debian", "slug": str(body["image"]),
                      "public": True, "regions": [body["region"]], "created_at": now(), "type": "base",
                      "min_disk_size": 10, "size_gigabytes": 2.0, "description": "", "tags": [], "status": "available"},
            "size": {"slug": size, "memory": 1024, "vcpus": 1, "disk": 25, "transfer": 1.0, "price_monthly": 6.0,
                     "price_hourly": 0.009, "regions": [body["region"]], "available": True, "description": "Basic"},
            "size_slug": size,
            "networks": {"v4": [{"ip_address": public, "netmask": "255.255.255.0", "gateway": "203.0.113.1",
                                 "type": "public"},
                                {"ip_address": private, "netmask": str(net.netmask), "gateway": str(net[1]),
                                 "type": "private"}], "v6": []},
            "region": {**REGION, "slug": body["region"], "name": body["region"]},
            "tags": list(body.get("tags") or []), "vpc_uuid": vpc_uuid, "kernel": None,
            "_private": private, "_user_data": body.get("user_data"), "_ssh_keys": list(body.get("ssh_keys") or []),
        }

    def _default_vpc(self, region: str) -> str:
        for vpc in self.vpcs.values():
            if vpc["region"] == region and vpc["default"]:
                return vpc["id"]
        vpc = self.create_vpc({"name": f"default-{region}", "region": region, "ip_range": "10.200.0.0/16"})
        vpc["default"] = True
        return vpc["id"]

    def create_droplets(self, body: dict) -> tuple[list[dict], list[dict]]:
        names = body.get("names") or [body["name"]]
        for ident in body.get("ssh_keys") or []:
            self.find_key(str(ident))
        if body.get("vpc_uuid") and body["vpc_uuid"] not in self.vpcs:
            raise ApiError(422, "unprocessable_entity", "vpc_uuid is not a VPC of this account")
        made = []
        for name in names:
            droplet = self._droplet(body, name)
            self.droplets[droplet["id"]] = droplet
            made.append(droplet)
        return made, [self._action("create", d["id"]) for d in made]

    def list_droplets(self, tag: str | None) -> list[dict]:
        found = [d for d in self.droplets.values() if tag is None or tag in d["tags"]]
        for droplet in found:
            self._settle(f"droplet{droplet['id']}", droplet, "status", "new", "active")
        return found

    def get_droplet(self, ident: int) -> dict:
        droplet = self._get(self.droplets, ident, "droplet")
        self._settle(f"droplet{ident}", droplet, "status", "new", "active")
        return droplet

    def delete_droplet(self, ident: int) -> None:
        self._get(self.droplets, ident, "droplet")
        del self.droplets[ident]
        for fw in self.firewalls.values():
            fw["droplet_ids"] = [i for i in fw["droplet_ids"] if i != ident]
        for project in self.projects.values():
            project["_resources"].discard(f"do:droplet:{ident}")

    def tag_resources(self, tag: str, body: dict) -> None:
        for res in body["resources"]:
            if res["resource_type"] == "droplet":
                droplet = self._get(self.droplets, int(res["resource_id"]), "droplet")
                if tag not in droplet["tags"]:
                    droplet["tags"].append(tag)

    def untag_resources(self, tag: str, body: dict) -> None:
        for res in body["resources"]:
            if res["resource_type"] == "droplet":
                droplet = self._get(self.droplets, int(res["resource_id"]), "droplet")
                droplet["tags"] = [t for t in droplet["tags"] if t != tag]

    # -- firewalls -------------------------------------------------------------------------------

    @staticmethod
    def _store_rules(rules: list[dict], side: str) -> list[dict]:
        stored = []
        for given in rules or []:
            rule = copy.deepcopy(given)
            ports = str(rule.get("ports", ""))
            if rule["protocol"] == "icmp" or ports in ("all", "", "0"):
                rule["ports"] = "0"  # what the API gives back for "all ports" and for ICMP
            elif not re.fullmatch(r"\d+(-\d+)?", ports):
                raise ApiError(422, "unprocessable_entity", f"invalid ports {ports!r}")
            targets = rule.get(side) or {}
            rule[side] = {k: v for k, v in targets.items() if v}
            stored.append(rule)
        return stored

    def _firewall_body(self, fw: dict, body: dict) -> None:
        fw["name"] = body["name"]
        fw["inbound_rules"] = self._store_rules(body.get("inbound_rules"), "sources")
        fw["outbound_rules"] = self._store_rules(body.get("outbound_rules"), "destinations")
        fw["droplet_ids"] = list(body.get("droplet_ids") or [])
        fw["tags"] = list(body.get("tags") or [])

    def create_firewall(self, body: dict) -> dict:
        fw = {"id": str(uuid.uuid4()), "status": "succeeded", "created_at": now(), "pending_changes": []}
        self._firewall_body(fw, body)
        self.firewalls[fw["id"]] = fw
        return fw

    def update_firewall(self, ident: str, body: dict) -> dict:
        fw = self._get(self.firewalls, ident, "firewall")
        self._firewall_body(fw, body)  # PUT replaces the whole firewall
        return fw

    # -- load balancers --------------------------------------------------------------------------

    def _lb_body(self, lb: dict, body: dict) -> None:
        for key, default in LB_DEFAULTS.items():  # a PUT resets what it omits
            lb[key] = copy.deepcopy(body.get(key, default))
        if "health_check" in body:
            lb["health_check"] = {**LB_DEFAULTS["health_check"], **body["health_check"]}
        for key in ("name", "region", "forwarding_rules", "vpc_uuid", "tag"):
            if key in body:
                lb[key] = copy.deepcopy(body[key])
        if body.get("tag"):
            lb["droplet_ids"] = [d["id"] for d in self.droplets.values() if body["tag"] in d["tags"]]
        lb["region"] = {**REGION, "slug": body["region"], "name": body["region"]}

    def create_lb(self, body: dict) -> dict:
        lb = {"id": str(uuid.uuid4()), "ip": f"198.51.100.{len(self.lbs) + 10}", "status": "new",
              "created_at": now(), "tag": ""}
        self._lb_body(lb, body)
        self.lbs[lb["id"]] = lb
        return lb

    def get_lb(self, ident: str) -> dict:
        lb = self._get(self.lbs, ident, "load balancer")
        self._settle(f"lb{ident}", lb, "status", "new", "active")
        return lb

    def update_lb(self, ident: str, body: dict) -> dict:
        lb = self._get(self.lbs, ident, "load balancer")
        self._lb_body(lb, body)
        return lb

    # -- databases -------------------------------------------------------------------------------

    def _connection(self, db: dict, host: str, user: str, password: str, database: str) -> dict:
        port = ENGINE_PORTS.get(db["engine"], 25060)
        scheme = {"pg": "postgresql", "redis": "rediss", "valkey": "rediss"}.get(db["engine"], db["engine"])
        path = f"/{database}?sslmode=require" if db["engine"] == "pg" else ""
        return {"uri": f"{scheme}://{user}:{password}@{host}:{port}{path}", "database": database, "host": host,
                "port": port, "user": user, "password": password, "ssl": True}

    def create_db(self, body: dict) -> dict:
        if any(d["name"] == body["name"] for d in self.dbs.values()):
            raise ApiError(422, "unprocessable_entity", "name is already in use")
        ident = str(uuid.uuid4())
        password = secrets.token_urlsafe(12)
        db = {"id": ident, "name": body["name"], "engine": body["engine"], "version": body.get("version", "16"),
              "num_nodes": body["num_nodes"], "size": body["size"], "region": body["region"], "status": "creating",
              "created_at": now(), "private_network_uuid": body.get("private_network_uuid", ""),
              "tags": list(body.get("tags") or []), "db_names": ["defaultdb"] if body["engine"] == "pg" else None,
              "users": [{"name": "doadmin", "role": "primary", "password": password}],
              "maintenance_window": {"day": "tuesday", "hour": "01:00:00", "pending": False, "description": []},
              "_rules": []}
        user = "doadmin" if body["engine"] == "pg" else "default"
        db["users"][0]["name"] = user
        host = f"{body['name']}-do-user-1-0.db.ondigitalocean.test"
        db["connection"] = self._connection(db, host, user, password, "defaultdb")
        db["private_connection"] = self._connection(db, "private-" + host, user, password, "defaultdb")
        self.dbs[ident] = db
        return db

    def get_db(self, ident: str) -> dict:
        db = self._get(self.dbs, ident, "database cluster")
        self._settle(f"db{ident}", db, "status", "creating", "online")
        return db

    def put_db_firewall(self, ident: str, body: dict) -> None:
        db = self._get(self.dbs, ident, "database cluster")
        rules = []
        for rule in body["rules"]:
            if rule["type"] == "ip_addr":
                try:
                    ipaddress.ip_network(rule["value"], strict=False)
                except ValueError as exc:
                    raise ApiError(422, "unprocessable_entity", f"invalid ip_addr {rule['value']!r}") from exc
            rules.append({"uuid": str(uuid.uuid4()), "cluster_uuid": ident, "type": rule["type"],
                          "value": rule["value"], "created_at": now()})
        db["_rules"] = rules

    def add_db_user(self, ident: str, body: dict) -> dict:
        db = self._get(self.dbs, ident, "database cluster")
        if any(u["name"] == body["name"] for u in db["users"]):
            raise ApiError(422, "unprocessable_entity", "user already exists")
        user = {"name": body["name"], "role": "normal", "password": secrets.token_urlsafe(12)}
        db["users"].append(user)
        return user

    def add_db_name(self, ident: str, body: dict) -> dict:
        db = self._get(self.dbs, ident, "database cluster")
        if body["name"] in (db["db_names"] or []):
            raise ApiError(422, "unprocessable_entity", "database already exists")
        db["db_names"] = [*(db["db_names"] or []), body["name"]]
        return {"name": body["name"]}

    # -- domains ---------------------------------------------------------------------------------

    def create_domain(self, body: dict) -> dict:
        if body["name"] in self.domains:
            raise ApiError(422, "unprocessable_entity", "Name already exists")
        domain = {"name": body["name"], "ttl": 1800, "zone_file": ""}
        self.domains[body["name"]] = domain
        self.records[body["name"]] = {}
        for kind, data in (("SOA", "1800"), ("NS", "ns1.digitalocean.com")):
            rid = next(self.ids)
            self.records[body["name"]][rid] = {"id": rid, "type": kind, "name": "@", "data": data, "ttl": 1800,
                                               "priority": None, "port": None, "weight": None, "flags": None,
                                               "tag": None}
        return domain

    def create_record(self, domain: str, body: dict) -> dict:
        table = self._get(self.records, domain, "domain")
        rid = next(self.ids)
        record = {"id": rid, "type": body["type"], "name": body.get("name", "@"), "data": body.get("data", ""),
                  "ttl": body.get("ttl") or 1800, "priority": body.get("priority"), "port": body.get("port"),
                  "weight": body.get("weight"), "flags": body.get("flags"), "tag": body.get("tag")}
        table[rid] = record
        return record

    def update_record(self, domain: str, rid: int, body: dict) -> dict:
        record = self._get(self._get(self.records, domain, "domain"), rid, "domain record")
        record.update({k: v for k, v in body.items() if k in record and k != "id"})
        return record

    # -- projects --------------------------------------------------------------------------------

    def create_project(self, body: dict) -> dict:
        ident = str(uuid.uuid4())
        project = {"id": ident, "owner_uuid": str(uuid.uuid4()), "owner_id": 1, "name": body["name"],
                   "description": body.get("description", ""), "purpose": body["purpose"],
                   "environment": body.get("environment", "Production"), "is_default": False,
                   "created_at": now(), "updated_at": now(), "_resources": set()}
        self.projects[ident] = project
        return project

    def known_urn(self, urn: str) -> bool:
        kind, _, ident = urn.removeprefix("do:").partition(":")
        table = {"droplet": self.droplets, "loadbalancer": self.lbs, "dbaas": self.dbs, "domain": self.domains,
                 "vpc": self.vpcs}.get(kind)
        if table is None:
            return False
        return (int(ident) if kind == "droplet" and ident.isdigit() else ident) in table

    def assign(self, ident: str, body: dict) -> list[dict]:
        project = self._get(self.projects, ident, "project")
        out = []
        for urn in body.get("resources") or []:
            if not self.known_urn(urn):
                raise ApiError(422, "unprocessable_entity", f"resource {urn} not found")
            for other in self.projects.values():
                other["_resources"].discard(urn)
            project["_resources"].add(urn)
            out.append({"urn": urn, "assigned_at": now(), "status": "ok",
                        "links": {"self": f"/v2/projects/{ident}/resources"}})
        return out

    def forget(self, urn: str) -> None:
        for project in self.projects.values():
            project["_resources"].discard(urn)

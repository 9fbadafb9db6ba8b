"""URL routing of the emulated v2 API onto ``Cloud`` operations, with paged lists."""

from __future__ import annotations

import re
from urllib.parse import urlencode

from . import apps as appsmod
from . import monitoring as monmod
from .cloud import ApiError, Cloud

PER_PAGE_DEFAULT = 20
PER_PAGE_MAX = 200


def _public(value):
    if isinstance(value, dict):
        return {k: _public(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_public(v) for v in value]
    return value


def paged(items: list, key: str, query: dict, base: str, path: str, extra: dict | None = None):
    per_page = min(PER_PAGE_MAX, int((query.get("per_page") or [PER_PAGE_DEFAULT])[0]))
    page = max(1, int((query.get("page") or ["1"])[0]))
    last = max(1, -(-len(items) // per_page))
    keep = {k: v[0] for k, v in query.items() if k not in ("page", "per_page")}

    def link(number: int) -> str:
        return f"{base}{path}?{urlencode({**keep, 'page': number, 'per_page': per_page})}"

    pages = {}
    if page < last:
        pages.update(next=link(page + 1), last=link(last))
    if page > 1:
        pages.update(first=link(1), prev=link(page - 1))
    body = {key: _public(items[(page - 1) * per_page:page * per_page]), "links": {"pages": pages},
            "meta": {"total": len(items)}}
    body.update(extra or {})
    return 200, body, {}


def _one(key: str, item, status: int = 200):
    return status, {key: _public(item)}, {}


NO_CONTENT = (204, None, {})


def dispatch(cloud: Cloud, method: str, path: str, query: dict, body: dict, base: str):  # noqa: PLR0911, PLR0912
    c = cloud
    m = re.fullmatch
    tag = (query.get("tag_name") or [None])[0]
    if path.startswith("/v2/apps"):
        return appsmod.dispatch(c.apps, method, path, query, body,
                                lambda items, key, q, p: paged(items, key, q, base, p))
    if path.startswith(("/v2/uptime/", "/v2/monitoring/alerts")):
        return monmod.dispatch(c.monitoring, method, path, query, body,
                               lambda items, key, q, p: paged(items, key, q, base, p))
    if (g := m(r"/v2/actions/(\d+)", path)) and method == "GET":
        return 200, c.get_action(int(g[1])), {}
    # VPCs
    if path == "/v2/vpcs":
        if method == "GET":
            return paged(c.list_vpcs(), "vpcs", query, base, path)
        return _one("vpc", c.create_vpc(body), 201)
    if g := m(r"/v2/vpcs/([\w-]+)", path):
        if method == "GET":
            return _one("vpc", c._get(c.vpcs, g[1], "vpc"))
        if method in ("PUT", "PATCH"):
            return _one("vpc", c.update_vpc(g[1], body))
        if method == "DELETE":
            c.delete_vpc(g[1])
            return NO_CONTENT
    # SSH keys
    if path == "/v2/account/keys":
        if method == "GET":
            return paged(list(c.keys.values()), "ssh_keys", query, base, path)
        return _one("ssh_key", c.create_key(body), 201)
    if g := m(r"/v2/account/keys/([\w:]+)", path):
        key = c.find_key(g[1])
        if method == "GET":
            return _one("ssh_key", key)
        if method == "PUT":
            key["name"] = body.get("name", key["name"])
            return _one("ssh_key", key)
        if method == "DELETE":
            del c.keys[key["id"]]
            return NO_CONTENT
    # droplets and tags
    if path == "/v2/droplets":
        if method == "GET":
            return paged(c.list_droplets(tag), "droplets", query, base, path)
        made, actions = c.create_droplets(body)
        links = {"actions": [{"id": a["id"], "rel": "create", "href": f"{base}/v2/actions/{a['id']}"}
                             for a in actions]}
        if "names" in body:
            return 202, {"droplets": _public(made), "links": links}, {}
        return 202, {"droplet": _public(made[0]), "links": links}, {}
    if g := m(r"/v2/droplets/(\d+)", path):
        if method == "GET":
            return _one("droplet", c.get_droplet(int(g[1])))
        if method == "DELETE":
            c.delete_droplet(int(g[1]))
            return NO_CONTENT
    if path == "/v2/tags" and method == "POST":
        return 201, {"tag": {"name": body["name"], "resources": {"count": 0}}}, {}
    if (g := m(r"/v2/tags/([\w:\-.]+)/resources", path)) and method in ("POST", "DELETE"):
        (c.tag_resources if method == "POST" else c.untag_resources)(g[1], body)
        return NO_CONTENT
    # firewalls
    if path == "/v2/firewalls":
        if method == "GET":
            return paged(list(c.firewalls.values()), "firewalls", query, base, path)
        return _one("firewall", c.create_firewall(body), 202)
    if g := m(r"/v2/firewalls/([\w-]+)", path):
        if method == "GET":
            return _one("firewall", c._get(c.firewalls, g[1], "firewall"))
        if method == "PUT":
            return _one("firewall", c.update_firewall(g[1], body))
        if method == "DELETE":
            c._get(c.firewalls, g[1], "firewall")
            del c.firewalls[g[1]]
            return NO_CONTENT
    # load balancers
    if path == "/v2/load_balancers":
        if method == "GET":
            return paged([c.get_lb(i) for i in list(c.lbs)], "load_balancers", query, base, path)
        return _one("load_balancer", c.create_lb(body), 202)
    if g := m(r"/v2/load_balancers/([\w-]+)", path):
        if method == "GET":
            return _one("load_balancer", c.get_lb(g[1]))
        if method == "PUT":
            return _one("load_balancer", c.update_lb(g[1], body))
        if method == "DELETE":
            c._get(c.lbs, g[1], "load balancer")
            del c.lbs[g[1]]
            c.forget(f"do:loadbalancer:{g[1]}")
            return NO_CONTENT
    # databases
    if path == "/v2/databases":
        if method == "GET":
            found = [c.get_db(i) for i in list(c.dbs) if tag is None or tag in c.dbs[i]["tags"]]
            return 200, {"databases": _public(found)}, {}
        return _one("database", c.create_db(body), 201)
    if g := m(r"/v2/databases/([\w-]+)", path):
        if method == "GET":
            return _one("database", c.get_db(g[1]))
        if method == "DELETE":
            c._get(c.dbs, g[1], "database cluster")
            del c.dbs[g[1]]
            c.forget(f"do:dbaas:{g[1]}")
            return NO_CONTENT
    if g := m(r"/v2/databases/([\w-]+)/firewall", path):
        if method == "GET":
            return 200, {"rules": _public(c._get(c.dbs, g[1], "database cluster")["_rules"])}, {}
        if method == "PUT":
            c.put_db_firewall(g[1], body)
            return NO_CONTENT
    if g := m(r"/v2/databases/([\w-]+)/users", path):
        db = c._get(c.dbs, g[1], "database cluster")
        if method == "GET":
            return 200, {"users": _public(db["users"])}, {}
        return _one("user", c.add_db_user(g[1], body), 201)
    if (g := m(r"/v2/databases/([\w-]+)/users/([\w.-]+)", path)) and method == "DELETE":
        db = c._get(c.dbs, g[1], "database cluster")
        db["users"] = [u for u in db["users"] if u["name"] != g[2]]
        return NO_CONTENT
    if g := m(r"/v2/databases/([\w-]+)/dbs", path):
        db = c._get(c.dbs, g[1], "database cluster")
        if method == "GET":
            return 200, {"dbs": [{"name": n} for n in db["db_names"] or []]}, {}
        return _one("db", c.add_db_name(g[1], body), 201)
    if (g := m(r"/v2/databases/([\w-]+)/dbs/([\w.-]+)", path)) and method == "DELETE":
        db = c._get(c.dbs, g[1], "database cluster")
        db["db_names"] = [n for n in db["db_names"] or [] if n != g[2]]
        return NO_CONTENT
    # domains
    if path == "/v2/domains":
        if method == "GET":
            return paged(list(c.domains.values()), "domains", query, base, path)
        return _one("domain", c.create_domain(body), 201)
    if g := m(r"/v2/domains/([\w.-]+)", path):
        if method == "GET":
            return _one("domain", c._get(c.domains, g[1], "domain"))
        if method == "DELETE":
            c._get(c.domains, g[1], "domain")
            del c.domains[g[1]]
            del c.records[g[1]]
            c.forget(f"do:domain:{g[1]}")
            return NO_CONTENT
    if g := m(r"/v2/domains/([\w.-]+)/records", path):
        if method == "GET":
            records = list(c._get(c.records, g[1], "domain").values())
            return paged(records, "domain_records", query, base, path)
        return _one("domain_record", c.create_record(g[1], body), 201)
    if g := m(r"/v2/domains/([\w.-]+)/records/(\d+)", path):
        records = c._get(c.records, g[1], "domain")
        if method == "GET":
            return _one("domain_record", c._get(records, int(g[2]), "domain record"))
        if method in ("PUT", "PATCH"):
            return _one("domain_record", c.update_record(g[1], int(g[2]), body))
        if method == "DELETE":
            c._get(records, int(g[2]), "domain record")
            del records[int(g[2])]
            return NO_CONTENT
    # projects
    if path == "/v2/projects":
        if method == "GET":
            return paged(list(c.projects.values()), "projects", query, base, path)
        return _one("project", c.create_project(body), 201)
    if g := m(r"/v2/projects/([\w-]+)", path):
        project = c._get(c.projects, g[1], "project")
        if method == "GET":
            return _one("project", project)
        if method == "DELETE":
            if project["_resources"]:
                raise ApiError(412, "precondition_failed", "cannot delete a project with resources")
            del c.projects[g[1]]
            return NO_CONTENT
    if g := m(r"/v2/projects/([\w-]+)/resources", path):
        project = c._get(c.projects, g[1], "project")
        if method == "GET":
            items = [{"urn": u, "assigned_at": project["created_at"], "status": "ok",
                      "links": {"self": f"{base}{path}"}} for u in sorted(project["_resources"])]
            return paged(items, "resources", query, base, path)
        return 200, {"resources": c.assign(g[1], body)}, {}
    raise ApiError(404, "not_found", f"the emulator does not serve {method} {path}")

"""Each example system (inventory/examples/<system>/, docs/examples/<system>.md) passes the controller-side
spec as ansible-playbook would run it: the inventory loaded by Ansible with its vault (the documented lab
password), the role's defaults under it, the release_spec task's arguments templated, the action plugin
run (the registry faked). What each system needs is then checked in the spec and its rendered routes."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import VaultSecret
from ansible.template import Templar
from ansible.vars.manager import VariableManager
from ansible_collections.berth.ops.plugins.action import release_spec as release_spec_action
from ansible_collections.berth.ops.plugins.module_utils import _render
from test_spec_refusals import DEFAULTS, ENV_KEY, MAIN_TASKS, fake_task, the_task

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "inventory" / "examples"
PASSWORD = (EXAMPLES / "lab-vault-password").read_bytes().strip()


class Registry:
    def __init__(self, *_args, **_kwargs) -> None:
        pass

    def resolve(self, image: str) -> dict:
        return {"pinned": image + "@sha256:" + "e" * 64}


def spec_of(system: str) -> dict:
    loader = DataLoader()
    loader.set_vault_secrets([("default", VaultSecret(PASSWORD))])
    inventory = InventoryManager(loader=loader, sources=[str(EXAMPLES / system / "hosts.yml")])
    host = inventory.list_hosts()[0]
    user = VariableManager(loader=loader, inventory=inventory).get_vars(host=host)
    # The lab's state (credentials, CA) is not needed to check a stack: the registry is faked.
    user.update(berth_lab_state="/lab", __berth_lab_credentials={"pull_user": "reader", "pull_password": "unused"})
    variables = {**DEFAULTS, **user, "__release_env_key": ENV_KEY}
    templar = Templar(loader=loader, variables=variables)
    args = templar.template(the_task(MAIN_TASKS, "berth.ops.release_spec")["berth.ops.release_spec"])
    action = release_spec_action.ActionModule(fake_task(args, "berth.ops.release_spec"), mock.MagicMock(),
                                              mock.MagicMock(), loader, templar)
    with mock.patch.object(release_spec_action, "Client", Registry):
        result = action.run(task_vars=variables)
    assert not result.get("failed"), result.get("msg")
    return {**result, "env": templar.template(variables["release_env"])}


def test_every_example_has_hosts_a_stack_an_encrypted_vault_and_a_doc():
    systems = sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir())
    assert systems == ["platform", "science-tool", "simulation", "three-tier", "web-forum"]
    for system in systems:
        assert (EXAMPLES / system / "group_vars" / "all" / "vault.yml").read_text().startswith("$ANSIBLE_VAULT;1.1;")
        assert (ROOT / "docs" / "examples" / f"{system}.md").exists()


def test_the_web_app_with_forum_routes_api_forum_and_front_as_the_system_needs():
    result = spec_of("web-forum")
    spec = result["spec"]
    assert spec["routers"] == {"front": "Host(`berth.test`)",
                               "api": "Host(`berth.test`) && PathPrefix(`/api`)",
                               "forum": "Host(`forum.berth.test`)",
                               "forum-r2": "Host(`forum.berth.test`) && PathPrefix(`/admin`)"}
    routes = _render.colour_routes(spec, "blue", result["env"])["http"]["middlewares"]
    assert routes["acme-api-blue-1-strip-prefix"] == {"stripPrefix": {"prefixes": ["/api"]}}
    assert routes["acme-api-blue-2-headers"]["headers"]["accessControlAllowOriginList"] == ["https://berth.test"]
    assert routes["acme-forum-r2-blue-1-basic-auth"]["basicAuth"]["users"][0].startswith("admin:{SHA}")
    api = spec["services"]["api"]
    assert api["user"] == "10001:10001" and api["cpus"] == "1.0" and api["memory"] == "256m"
    assert set(result["env"]["api"]) == {"SECRET_KEY", "JWT_SECRET_KEY", "DATABASE_PASSWORD"}
    # Secrets from the vault reach the env files, never the spec.
    assert result["env"]["api"]["JWT_SECRET_KEY"] not in str(spec)


def test_the_science_tool_waits_for_its_slow_start_and_reads_its_data():
    spec = spec_of("science-tool")["spec"]
    app = spec["services"]["app"]
    assert app["port"] == 8501 and app["health"]["path"] == "/healthz" and app["health"]["start_timeout"] == 300
    assert app["memory"] == "4g" and app["volumes"] == ["/opt/science/data:/data:ro"]
    assert app["env"]["STREAMLIT_SERVER_HEADLESS"] == "true"
    assert spec["routers"] == {"app": "Host(`science.berth.test`)"}


def test_the_platform_checks_its_migration_health_path_and_managed_data_urls():
    result = spec_of("platform")
    spec = result["spec"]
    backend = spec["services"]["backend"]
    assert backend["health"]["path"] == "/api/v1/utils/health-check/"
    # The managed data by URL (berth_external): endpoints in the spec, the URLs (with passwords) nowhere in it.
    assert spec["external"] == {
        "db": {"scheme": "postgresql", "host": "plat-pg-do-user-0.db.ondigitalocean.com", "port": 25060,
               "tls": "postgres", "env": {"backend": "DATABASE_URL"}, "timeout": 5.0},
        "cache": {"scheme": "rediss", "host": "plat-cache-do-user-0.db.ondigitalocean.com", "port": 25061,
                  "tls": "tls", "env": {"backend": "REDIS_URL"}, "timeout": 5.0}}
    assert "example-db-password" not in str(spec) and "DATABASE_URL" not in backend.get("env", {})
    assert set(result["env_digests"]["backend"]) == {"SECRET_KEY", "FIRST_SUPERUSER_PASSWORD", "DATABASE_URL",
                                                     "REDIS_URL"}
    assert spec["routers"]["backend"] == "Host(`platform.example.com`) && PathPrefix(`/api`)"
    assert [hook["command"] for hook in spec["hooks"]] in (["alembic upgrade head"], [["alembic", "upgrade", "head"]])
    assert set(result["env"]["backend"]) == {"SECRET_KEY", "FIRST_SUPERUSER_PASSWORD"}
    assert all(image.split("@")[1] == "sha256:" + "e" * 64 for image in (backend["image"],
                                                                       spec["services"]["frontend"]["image"]))


def test_the_three_tier_template_routes_web_api_and_ai_and_keeps_its_database_inside():
    result = spec_of("three-tier")
    spec = result["spec"]
    services = spec["services"]
    assert {name: svc["port"] for name, svc in services.items()} == {"web": 3000, "api": 5000, "ai": 8000}
    assert {name: svc["health"]["path"] for name, svc in services.items()} == dict.fromkeys(services, "/health")
    assert spec["routers"] == {"web": "Host(`tier.berth.test`)",
                               "api": "Host(`tier.berth.test`) && PathPrefix(`/api`)",
                               "ai": "Host(`tier.berth.test`) && PathPrefix(`/ai`)"}
    # The web and AI services call the api of their own colour by its service name.
    assert services["web"]["env"]["API_URL"] == services["ai"]["env"]["API_URL"] == "http://api:5000"
    # Each service is on its colour's network only (there `api` is this colour's api), with the name Traefik
    # asks for there; no network shared with the other colour or another app (berth-edge).
    compose = _render.compose_colour(spec, "blue", "r1", "/opt/tier/releases/r1", "0" * 64)
    assert {name: svc["networks"] for name, svc in compose["services"].items()} == {
        name: {"colour": {"aliases": [f"tier-blue-{name}"]}} for name in services}
    assert compose["networks"] == {"colour": {"name": "tier-blue", "external": True}}
    # Two api replicas, each its own server behind the colour's service and gated alone.
    assert services["api"]["replicas"] == 2 and compose["services"]["api"]["deploy"]["replicas"] == 2
    routes = _render.colour_routes(spec, "blue")["http"]
    assert routes["services"]["tier-api-blue"]["loadBalancer"]["servers"] == [
        {"url": "http://tier-blue-api-1:5000"}, {"url": "http://tier-blue-api-2:5000"}]
    assert {routes["routers"][f"tier-api-blue-gate-{n}"]["rule"] for n in (1, 2)} == {
        "Host(`1.api.blue.tier.gate`)", "Host(`2.api.blue.tier.gate`)"}
    # PostgreSQL is an accessory with no published port.
    db = _render.compose_accessories(spec, "/opt/tier")["services"]["db"]
    assert "ports" not in db and set(db["networks"]) == {"blue", "green", "internal"}
    assert set(result["env"]) == {"api", "db"} and "example-db-password" not in str(spec)


def test_the_simulation_runs_its_worker_once_outside_the_colours_beside_its_queue_and_database():
    result = spec_of("simulation")
    spec = result["spec"]
    api, worker = spec["services"]["api"], spec["services"]["worker"]
    assert api["port"] == 8000 and api["health"]["path"] == "/health" and "singleton" not in api
    assert worker["singleton"] is True and "port" not in worker and worker["stop_grace_period"] == "60s"
    assert spec["routers"] == {"api": "Host(`sim.berth.test`)"}
    # The worker is not in the colours; its own project joins both colours' networks, where db and redis are.
    assert set(_render.compose_colour(spec, "blue", "r1", "/r", "c")["services"]) == {"api"}
    singletons = _render.compose_singletons(spec, "/r", _render.checksums(spec, result["env"]))
    assert singletons["name"] == "sim-singletons" and list(singletons["services"]) == ["worker"]
    assert set(spec["accessories"]) == {"db", "redis"} and spec["accessories"]["redis"]["image"].startswith(
        "registry.berth.test/berth/redis:7@")
    assert set(result["env"]["worker"]) == set(result["env"]["api"]) == {"DATABASE_URL", "REDIS_URL"}
    assert result["env"]["redis"]["REDIS_PASSWORD"] in result["env"]["worker"]["REDIS_URL"]
    assert result["env"]["redis"]["REDIS_PASSWORD"] not in str(spec)


@pytest.mark.parametrize("system", ["platform", "science-tool", "simulation", "three-tier", "web-forum"])
def test_a_wrong_vault_password_does_not_open_the_example(system):
    loader = DataLoader()
    loader.set_vault_secrets([("default", VaultSecret(b"not-the-lab-password"))])
    with pytest.raises(Exception, match=r"[Dd]ecrypt"):
        loader.load_from_file(str(EXAMPLES / system / "group_vars" / "all" / "vault.yml"))

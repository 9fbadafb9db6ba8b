"""System 4 of issue 22, the platform with managed data (inventory/examples/platform, docs/examples/platform.md),
deployed from its own inventory to two droplets behind the lab's load balancer (HAProxy with DigitalOcean's
health-check contract, no retries). Its PostgreSQL and Redis are *external*: two lab containers play the
managed clusters, reached by URL (berth_external, passwords in the URLs), never run on the droplets.

What a user of the platform sees, through the load balancer: the frontend's page, the backend's health check,
the backend reading the schema `alembic upgrade head` migrated (once per fleet, before the switch) and Redis.
A deploy whose Redis is unreachable from the droplets is refused by the pre-flight before anything changes,
naming the service and host:port, never the password. The next release goes live host by host under HTTPS
load with no failed request; a rollback returns the same way."""

from __future__ import annotations

import copy
import json
import os
import secrets
import time

import base_snapshot
import pytest
import yaml
from edge import MOVING_RATE
from example_checks import ENV, EXAMPLES, VAULT_PASSWORD_FILE, PageLoad, assert_ok, fetch
from lab_droplets import DROPLET, INVENTORY, NETWORK, clone_fleet, destroy_droplets, lab_json, lb_down, on_droplet, sh
from labtools import run_playbook

PREFIX = DROPLET.rsplit("-", 1)[0]
HOSTS = (f"{PREFIX}-1", f"{PREFIX}-2")
HOST = "platform.berth.test"
LB = {"interval": 1, "timeout": 1, "unhealthy": 2, "healthy": 2}
PG_PASSWORD = f"pg-{secrets.token_hex(10)}"
REDIS_PASSWORD = f"redis-{secrets.token_hex(10)}"
HEADS = {"1.0.0": "3f2a1c0e9b7d", "1.1.0": "8c4d2e6f1a0b"}  # lab/images/standin/systems.py
PAGES = ("/", "/api/v1/utils/health-check/")


def managed(name: str, image: str, *env: str) -> str:
    """A lab container playing a managed cluster on the lab network; returns its address."""
    container = f"berth-lab-{PREFIX}-{name}"
    sh("docker", "rm", "-f", container, check=False)
    sh("docker", "run", "-d", "--name", container, "--network", NETWORK, "--label", "berth.lab=managed",
       *(f"-e{e}" for e in env), image)
    return sh("docker", "inspect", "-f", f"{{{{(index .NetworkSettings.Networks \"{NETWORK}\").IPAddress}}}}",
              container).stdout.strip()


def psql(sql: str) -> str:
    return sh("docker", "exec", f"berth-lab-{PREFIX}-pg", "psql", "-U", "app", "-d", "app", "-tAc", sql).stdout.strip()


@pytest.fixture(scope="module")
def platform():
    images = json.loads((base_snapshot.LAB_STATE / "images.json").read_text())
    pg = managed("pg", images["postgres"], "POSTGRES_USER=app", f"POSTGRES_PASSWORD={PG_PASSWORD}", "POSTGRES_DB=app")
    redis = managed("redis", images["redis"], f"REDIS_PASSWORD={REDIS_PASSWORD}")
    snapshot = base_snapshot.ready()
    assert snapshot, "the provisioned base snapshot is missing (group provision makes it)"
    inventory = INVENTORY.parent / f"{PREFIX}-platform"
    addresses = clone_fleet(HOSTS, inventory, snapshot, group_vars=EXAMPLES / "platform" / "group_vars")
    lb = lab_json("lb", "up", PREFIX, "--backends", ",".join(HOSTS), *(f"--{k}={v}" for k, v in LB.items()))
    wait_tcp = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 2)"
    for address, port in ((pg, 5432), (redis, 6379)):
        deadline = time.monotonic() + 60
        while sh("python3", "-c", wait_tcp, address, str(port), check=False).returncode:
            assert time.monotonic() < deadline, f"{address}:{port} never opened"
            time.sleep(0.5)
    yield {"inventory": inventory, "lb": lb["address"], "pg": pg, "redis": redis, "addresses": addresses}
    lb_down(PREFIX)
    for name in ("pg", "redis"):
        sh("docker", "rm", "-f", f"berth-lab-{PREFIX}-{name}", check=False)
    if os.environ.get("BERTH_REUSE_DROPLET") != "1":
        destroy_droplets(*HOSTS)


def stack() -> dict:
    return yaml.safe_load((EXAMPLES / "platform" / "group_vars" / "all" / "stack.yml").read_text())


def variables(platform: dict, version: str, redis_port: int = 6379) -> dict:
    """The example's stack as written, with only the outside world replaced by the lab's: the stand-in
    images at `version` in the lab registry, the lab's host name, the "managed" clusters' URLs, HAProxy's
    quicker health-check contract."""
    given = stack()
    services = given["berth_services"]
    for name, service in services.items():
        service["image"] = f"registry.berth.test/berth/standin-platform-{name}:{version}"
    external = copy.deepcopy(given["berth_external"])
    external["db"]["url"] = f"postgresql://app:{PG_PASSWORD}@{platform['pg']}:5432/app"
    external["cache"]["url"] = f"redis://default:{REDIS_PASSWORD}@{platform['redis']}:{redis_port}/0"
    return {"berth_services": services, "berth_external": external, "berth_domain": HOST,
            "berth_registries": {}, "berth_lb": LB, "berth_serial": 1}


def play(platform: dict, name: str, extra: dict):
    result = run_playbook(f"playbooks/{name}.yml", "--vault-password-file", str(VAULT_PASSWORD_FILE),
                          "-e", json.dumps(extra), env={**ENV, "ANSIBLE_INVENTORY": str(platform["inventory"])})
    for secret in (PG_PASSWORD, REDIS_PASSWORD):
        assert secret not in result.stdout + result.stderr, f"{name}.yml printed a password"
    return result


def on(host: str, script: str, check: bool = True):
    return on_droplet(script, check=check, container=f"berth-{host}")


def assert_serves(platform: dict, version: str) -> None:
    """Through the load balancer, and on each droplet: the frontend, the backend's health check, and the backend
    reading the migrated schema from the external PostgreSQL and answering through the external Redis."""
    for address in (platform["lb"], *platform["addresses"].values()):
        page = fetch(address, HOST, "/")
        assert page.status == 200 and 'id="platform-frontend"' in page.body and page.version == version, page
        health = fetch(address, HOST, "/api/v1/utils/health-check/")
        assert health.status == 200 and health.json()["healthy"] is True and health.version == version, health
        data = fetch(address, HOST, "/api/v1/utils/data/")
        assert data.status == 200, data.body
        body = data.json()
        assert (body["alembic_version"], body["redis"], body["version"]) == (HEADS[version], "PONG", version), body
        assert body["cors_origins"] == ["https://platform.example.com"], body
        assert fetch(address, HOST, "/api/nothing-here").status == 404  # the backend's own 404: /api is routed


def assert_rolled(load: PageLoad, old: str, new: str) -> None:
    """No failed or slowed request, and users moved from `old` to `new` (host by host: a client may see both
    while the hosts differ, never a third, and ends on `new`)."""
    problems = load.problems()
    assert not problems, "; ".join(problems)
    seen = load.versions()
    assert seen[0] == old and seen[-1] == new and set(seen) == {old, new}, seen


def on_hosts(script: str) -> dict[str, str]:
    return {host: on(host, script).stdout for host in HOSTS}


def test_the_platform_deploys_to_both_droplets_with_its_data_external_and_migrated_once(platform):
    started = time.monotonic()
    result = play(platform, "deploy", variables(platform, "1.0.0"))
    print(f"\nplatform first deploy on two droplets: {time.monotonic() - started:.1f} s")
    assert_ok(result, "deploy.yml of the platform")
    assert_serves(platform, "1.0.0")
    # `alembic upgrade head` ran once for the fleet, against the external database, before the switch.
    assert psql("SELECT version || ' ' || head FROM platform_migrations ORDER BY id") == f"1.0.0 {HEADS['1.0.0']}"
    for host, names in on_hosts("docker ps --format '{{.Names}}' | sort").items():
        # No database or cache on the droplets: only the app's two services (and Traefik).
        assert {n for n in names.split() if n.startswith("platform-")} in (
            {"platform-blue-backend-1", "platform-blue-frontend-1"},
            {"platform-green-backend-1", "platform-green-frontend-1"}), (host, names)
        env = on(host, "stat -c '%a %U' /opt/platform/releases/*/env/backend.env; "
                       "cat /opt/platform/releases/*/env/backend.env").stdout
        assert "600 root" in env and f"DATABASE_URL='postgresql://app:{PG_PASSWORD}@" in env, host


def test_an_unreachable_external_service_is_refused_before_anything_changes(platform):
    look = ("sha256sum /opt/traefik/dynamic/*; ls /opt/platform/releases; "
            "docker ps --format '{{.Names}} {{.Image}}' | sort; ls -a /opt/platform/releases | grep -c lock || true")
    before = on_hosts(look)
    started = time.monotonic()
    # 1.1.0 (a real change), with Redis on a port nothing listens on.
    result = play(platform, "deploy", variables(platform, "1.1.0", redis_port=6390))
    seconds = time.monotonic() - started
    print(f"\nrefused in {seconds:.1f} s")
    assert result.returncode != 0
    line = f"cache (redis at {platform['redis']}:6390): [Errno 111] Connection refused"
    assert line in result.stdout, result.stdout[-3000:]
    assert "external service not reachable from this host, nothing was changed" in result.stdout
    assert on_hosts(look) == before
    assert [row["status"] for row in lab_json("lb", "stat", PREFIX)] == ["UP", "UP"]
    assert psql("SELECT count(*) FROM platform_migrations") == "1"  # the hook never ran
    assert_serves(platform, "1.0.0")


def test_the_next_release_goes_live_under_load_through_the_load_balancer_and_a_rollback_returns(platform):
    with PageLoad(platform["lb"], rate=MOVING_RATE, host=HOST, paths=PAGES) as load, load.window_of():
        result = play(platform, "deploy", variables(platform, "1.1.0"))
    print(f"\nplatform 1.1.0 under load through the LB: {load.summary()[:120]}")
    assert_ok(result, "deploy.yml of 1.1.0")
    assert_rolled(load, "1.0.0", "1.1.0")
    assert_serves(platform, "1.1.0")
    assert psql("SELECT string_agg(version, ',' ORDER BY id) FROM platform_migrations") == "1.0.0,1.1.0"

    with PageLoad(platform["lb"], rate=MOVING_RATE, host=HOST, paths=PAGES) as load, load.window_of():
        result = play(platform, "rollback", {"berth_lb": LB, "berth_serial": 1})
    print(f"\nplatform rollback under load through the LB: {load.summary()[:120]}")
    assert_ok(result, "rollback.yml")
    assert_rolled(load, "1.1.0", "1.0.0")
    # The schema stays at 1.1.0's head (migrations are expand/contract: a rollback does not undo them), and
    # the 1.0.0 backend reads it through the same external services.
    for address in (platform["lb"], *platform["addresses"].values()):
        page = fetch(address, HOST, "/")
        assert page.status == 200 and page.version == "1.0.0", page
        data = fetch(address, HOST, "/api/v1/utils/data/").json()
        assert (data["version"], data["alembic_version"], data["redis"]) == ("1.0.0", HEADS["1.1.0"], "PONG"), data
    assert psql("SELECT count(*) FROM platform_migrations") == "2"  # no hook on a rollback

"""System 5 of issue 22, the three-tier template (inventory/examples/three-tier, docs/examples/three-tier.md),
deployed from its own inventory on a provisioned droplet: the web (3000) shows what the api (5000) of its own
colour answered, the AI service (8000) what the api's internal endpoint did, both calling it by service name;
every route answers with its service's marker; the api's internal endpoint and PostgreSQL are not reachable
from outside. The api runs two replicas, each gated, both serving. The next release goes live under HTTPS load
with no failed request, a rollback returns the same way; with both colours running each colour's web and AI
service reach their own api (no app service on the shared berth-edge network), also after Traefik's container
was recreated by the traefik role. A backup restored after a row was deleted brings it back (7 daily / 4 weekly /
12 monthly kept)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time

import pytest
from edge import MOVING_RATE
from example_checks import ENV, VAULT_PASSWORD_FILE, Example, PageLoad, assert_ok, fetch, inspect, report, wait_for
from lab_droplets import on_droplet
from labtools import recap, run_playbook
from release_checks import assert_load

HOST = "tier.berth.test"
PAGES = ("/", "/api/items", "/ai/predict")
DB = "docker exec tier-accessories-db-1 psql -U tier -d tier -tAc"


@pytest.fixture(scope="module")
def example(provisioned) -> Example:
    return Example("three-tier", provisioned.address)


def psql(sql: str) -> str:
    return on_droplet(f'{DB} "{sql}"').stdout.strip()


def api_seen(body: str) -> tuple[str, str]:
    """(version, colour) of the api whose answer the web's page shows."""
    found = re.search(r"<!-- api: (\S+) (\S+) items: telescope,sextant -->", body)
    assert found, body
    return found.group(1), found.group(2)


def assert_serves(provisioned, version: str) -> str:
    """Each route answers as its service, of `version`, and every call by the name `api` reached the api of the
    live colour (the other colour may run too). Returns the live colour."""
    page = wait_for(provisioned.address, HOST, version)
    assert page.status == 200 and 'id="tier-web"' in page.body and page.version == version, page
    colour = page.colour
    # The web rendered what the api answered, asked by the name `api`.
    assert api_seen(page.body) == (version, colour), page.body
    items = fetch(provisioned.address, HOST, "/api/items")
    assert items.status == 200 and (items.version, items.colour) == (version, colour), items
    predict = fetch(provisioned.address, HOST, "/ai/predict")
    assert predict.status == 200, predict.body
    body = predict.json()
    # The AI service asked the api's internal endpoint of its own colour, by service name.
    assert (body["version"], body["colour"], body["model"]) == (version, colour, "tiny-llm"), body
    assert body["api"] == {"version": version, "colour": colour}, body
    # Every service's own health check answers inside its container (the api's asked the database).
    for service, port in (("web", 3000), ("api", 5000), ("ai", 8000)):
        answer = on_droplet(f"docker exec tier-{colour}-{service}-1 /usr/bin/python3 -c \"import urllib.request; "
                            f"print(urllib.request.urlopen('http://127.0.0.1:{port}/health').read().decode())\"")
        text = answer.stdout.strip()
        assert text == "ok" or json.loads(text)["status"] == "ok", (service, text)
    # The api's internal endpoint is not routed: from outside /internal/... is the web's page.
    internal = fetch(provisioned.address, HOST, "/internal/model-config")
    assert 'id="tier-web"' in internal.body and "tiny-llm" not in internal.body, internal.body
    return colour


def api_addresses(colour: str) -> set[str]:
    """The addresses of `colour`'s api replicas on the colour's own network (each running)."""
    addresses = set()
    for number in (1, 2):
        container = inspect(f"tier-{colour}-api-{number}")
        assert container["State"]["Running"], (number, container["State"])
        addresses.add(container["NetworkSettings"]["Networks"][f"tier-{colour}"]["IPAddress"])
    return addresses


def assert_gated(result, version: str) -> None:
    """The deploy's gate passed a check per service, one per api replica."""
    gate = report(result)["targets"][0]["gate"]
    assert gate["passed"] and {c["name"]: c["passed"] for c in gate["checks"]} == dict.fromkeys(
        ("web", "api-1", "api-2", "ai"), True), (version, gate)


def assert_both_replicas_serve(provisioned, colour: str) -> None:
    """Traefik spreads the api's public requests over both replicas: its access log names the server each one
    went to, and those are the two replicas' containers (running, two addresses on the colour's network)."""
    assert len(api_addresses(colour)) == 2
    replicas = {f"tier-{colour}-api-{number}:5000" for number in (1, 2)}
    since = on_droplet("date +%s.%N").stdout.strip()
    for _ in range(10):
        assert fetch(provisioned.address, HOST, "/api/items").status == 200
    lines = on_droplet(f"docker logs --since {since} traefik-traefik-1 2>&1").stdout.splitlines()
    served = [entry.get("ServiceAddr") for entry in map(json.loads, (line for line in lines if line.startswith("{")))
              if entry.get("RequestPath") == "/api/items" and entry.get("RouterName", "").startswith("tier-api@")]
    assert len(served) == 10 and set(served) == replicas and served.count(served[0]) == 5, (served, replicas)


def test_each_route_answers_its_service_and_the_database_stays_inside(example, provisioned):
    started = time.monotonic()
    result = example.playbook("deploy")
    print(f"\nthree-tier first deploy: {time.monotonic() - started:.1f} s")
    assert_ok(result, "deploy.yml of the three-tier template")
    colour = assert_serves(provisioned, "1.0.0")
    assert_gated(result, "1.0.0")
    assert_both_replicas_serve(provisioned, colour)
    # No app container is on the network Traefik shares with every app and colour.
    edge = json.loads(on_droplet("docker network inspect -f '{{json .Containers}}' berth-edge").stdout)
    assert [c["Name"] for c in edge.values()] == ["traefik-traefik-1"], edge
    db = inspect("tier-accessories-db-1")
    assert db["HostConfig"]["PortBindings"] in ({}, None) and not db["NetworkSettings"]["Ports"].get("5432/tcp"), db
    with socket.socket() as probe:  # from the controller: PostgreSQL's port is closed
        probe.settimeout(3)
        assert probe.connect_ex((provisioned.address, 5432)) != 0
    assert psql("SELECT 1") == "1"


def test_the_next_release_goes_live_under_load_and_a_rollback_returns(example, provisioned):
    with PageLoad(provisioned.address, rate=MOVING_RATE, host=HOST, paths=PAGES) as load, load.window_of():
        result = example.playbook("deploy", variables=example.release("1.1.0"))
    print(f"\nthree-tier 1.1.0 under load: {load.summary()}")
    assert_ok(result, "deploy.yml of 1.1.0")
    assert_load(load, ["1.0.0", "1.1.0"])
    assert_gated(result, "1.1.0")
    colour = assert_serves(provisioned, "1.1.0")

    with PageLoad(provisioned.address, rate=MOVING_RATE, host=HOST, paths=PAGES) as load, load.window_of():
        result = example.playbook("rollback")
    print(f"\nthree-tier rollback under load: {load.summary()}")
    assert_ok(result, "rollback.yml")
    assert_load(load, ["1.1.0", "1.0.0"])
    assert assert_serves(provisioned, "1.0.0") != colour


def assert_each_colour_calls_its_own_api(provisioned) -> None:
    """With both colours running (the warm standby), `api` from each colour's web and AI service names exactly
    that colour's api replicas, and what users get shows the live colour's api only."""
    for colour in ("blue", "green"):
        own = api_addresses(colour)
        for caller in ("web", "ai"):
            resolved = on_droplet(f"docker exec tier-{colour}-{caller}-1 /usr/bin/python3 -c \"import json, socket; "
                                  f"print(json.dumps(sorted({{a[4][0] for a in socket.getaddrinfo('api', 5000)}})))\""
                                  ).stdout
            assert set(json.loads(resolved)) == own, (colour, caller, resolved, own)
    for _ in range(10):
        page = fetch(provisioned.address, HOST, "/")
        assert api_seen(page.body)[1] == page.colour, page.body
        predict = fetch(provisioned.address, HOST, "/ai/predict").json()
        assert predict["api"]["colour"] == predict["colour"], predict


# Both colours run (the warm standby). Before #22 each colour's routed services were also on the shared
# berth-edge network, where compose gives every container its service name as an alias: `api` there named the
# api of every colour (and of every app on the host); 12 lookups of `api` from tier-green-ai-1 gave 4 different
# containers. Now only Traefik is on berth-edge, and it joins each colour's own network.
def test_with_both_colours_running_each_reaches_the_api_of_its_own_colour(provisioned):
    assert_each_colour_calls_its_own_api(provisioned)


def test_routes_of_both_colours_answer_after_the_traefik_role_recreates_traefik(example, provisioned):
    """A changed Traefik setting recreates its container, which starts on berth-edge alone: the traefik role (as
    provision.yml runs it, here alone: a whole provision costs minutes) joins it to every colour network again,
    so the live routes and both colours' gate routes still answer."""
    before = inspect("traefik-traefik-1")
    started = time.monotonic()
    variables = {"target": "droplets", "role": "traefik", "traefik_log_level": "WARN",
                 "traefik_image": before["Config"]["Image"]}  # the image provision.yml pinned

    def traefik_role() -> subprocess.CompletedProcess:
        return run_playbook("tests/e2e/playbooks/apply_role.yml", "--vault-password-file", str(VAULT_PASSWORD_FILE),
                            "-e", json.dumps(variables), env={**ENV, "ANSIBLE_INVENTORY": str(example.inventory)})

    result = traefik_role()
    print(f"\nthree-tier traefik role with a changed setting: {time.monotonic() - started:.1f} s")
    assert_ok(result, "the traefik role with traefik_log_level=WARN")
    traefik = inspect("traefik-traefik-1")
    assert traefik["Id"] != before["Id"] and set(traefik["NetworkSettings"]["Networks"]) == {
        "berth-edge", "tier-blue", "tier-green"}, traefik["NetworkSettings"]["Networks"]
    assert_serves(provisioned, "1.0.0")
    for colour in ("blue", "green"):
        for service in ("web", "1.api", "2.api", "ai"):
            answer = on_droplet(f"curl -s -o /dev/null -w '%{{http_code}}' -H 'Host: {service}.{colour}.tier.gate' "
                                "http://127.0.0.1:8081/health", check=False).stdout
            assert answer == "200", (colour, service, answer)
    assert_each_colour_calls_its_own_api(provisioned)
    # Run again, it changes nothing (every colour network joined already).
    again = traefik_role()
    assert_ok(again, "the traefik role again")
    assert [counts["changed"] for counts in recap(again.stdout).values()] == [0], again.stdout[-3000:]


def test_a_backup_restored_brings_a_deleted_row_back(example, provisioned):
    psql("CREATE TABLE IF NOT EXISTS notes (id int PRIMARY KEY, body text); "
         "INSERT INTO notes VALUES (1, 'keep me'), (2, 'and me') ON CONFLICT DO NOTHING")
    result = example.playbook("backup")
    assert_ok(result, "backup.yml")
    assert "verified by sha256 + full-read + scratch-restore" in result.stdout, result.stdout[-2000:]
    config = on_droplet("cat /etc/berth/pg_backup/tier.json").stdout
    kept = json.loads(config)
    assert (kept["keep_daily"], kept["keep_weekly"], kept["keep_monthly"]) == (7, 4, 12), config
    psql("DELETE FROM notes WHERE id = 2")
    assert psql("SELECT count(*) FROM notes") == "1"
    result = example.playbook("restore", "-e", "berth_restore_confirm=tier")
    assert_ok(result, "restore.yml")
    assert psql("SELECT string_agg(body, ',' ORDER BY id) FROM notes") == "keep me,and me"
    assert_serves(provisioned, "1.0.0")

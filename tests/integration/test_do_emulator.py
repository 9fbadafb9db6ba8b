"""The emulator cross-checked with pydo, DigitalOcean's official client generated from the same spec,
and berth's own client on ansible-core's open_url."""

from __future__ import annotations

import sys

import pytest
from do_emulator import harness
from labtools import ROOT

sys.path.insert(0, str(ROOT / ".collections"))

pydo = pytest.importorskip("pydo")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = harness.start(tmp_path_factory.mktemp("emu"))
    yield emu
    emu.stop()


def test_pydo_round_trip_fits_the_spec(emulator):
    client = pydo.Client(token=harness.TOKEN, endpoint=emulator.url, connection_verify=emulator.ca_path)
    vpc = client.vpcs.create({"name": "x", "region": "nyc3", "ip_range": "10.9.0.0/20"})["vpc"]
    key = client.ssh_keys.create({"name": "k", "public_key": harness.PUBLIC_KEY})["ssh_key"]
    made = client.droplets.create({"names": ["a", "b"], "region": "nyc3", "size": "s-1vcpu-1gb",
                                   "image": "debian-13-x64", "tags": ["web"], "vpc_uuid": vpc["id"],
                                   "ssh_keys": [key["fingerprint"]]})
    assert client.ssh_keys.get(key["fingerprint"])["ssh_key"]["id"] == key["id"]
    fw = client.firewalls.create({"name": "fw", "tags": ["web"],
                                  "inbound_rules": [{"protocol": "icmp", "ports": "0",
                                                     "sources": {"addresses": ["0.0.0.0/0"]}},
                                                    {"protocol": "tcp", "ports": "all",
                                                     "sources": {"addresses": ["0.0.0.0/0"]}}],
                                  "outbound_rules": [{"protocol": "tcp", "ports": "1-65535",
                                                      "destinations": {"addresses": ["0.0.0.0/0"]}}]})["firewall"]
    assert [r["ports"] for r in fw["inbound_rules"]] == ["0", "0"]  # the API's spelling of "all"
    assert fw["outbound_rules"][0]["ports"] == "1-65535"  # a range round-trips
    lb = client.load_balancers.create({"name": "lb", "region": "nyc3", "tag": "web", "forwarding_rules": [
        {"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80}],
        "health_check": {"protocol": "http", "port": 80, "path": "/up", "healthy_threshold": 2}})["load_balancer"]
    assert lb["status"] == "new"
    client.load_balancers.update(lb["id"], {"name": "lb", "region": "nyc3", "tag": "web", "forwarding_rules": [
        {"entry_protocol": "http", "entry_port": 80, "target_protocol": "http", "target_port": 80}]})
    after = client.load_balancers.get(lb["id"])["load_balancer"]
    assert after["health_check"]["path"] == "/" and after["health_check"]["healthy_threshold"] == 5  # reset
    db = client.databases.create_cluster({"name": "pg", "engine": "pg", "version": "16", "num_nodes": 1,
                                          "size": "db-s-1vcpu-1gb", "region": "nyc3"})["database"]
    client.databases.update_firewall_rules(db["id"], {"rules": [{"type": "tag", "value": "web"}]})
    assert [r["value"] for r in client.databases.list_firewall_rules(db["id"])["rules"]] == ["web"]
    assert client.actions.get(made["links"]["actions"][0]["id"])["action"]["status"] in ("in-progress", "completed")
    page = client.droplets.list(tag_name="web", per_page=1)
    assert page["meta"]["total"] == 2 and "next" in page["links"]["pages"]
    assert emulator.violations == []


def test_spec_violation_is_refused_and_recorded(emulator):
    client = pydo.Client(token=harness.TOKEN, endpoint=emulator.url, connection_verify=emulator.ca_path)
    emulator.violations.clear()
    answer = client.firewalls.create({"name": "bad", "inbound_rules": [{"protocol": "tcp",
                                                                        "sources": {"addresses": ["0.0.0.0/0"]}}]})
    assert answer["id"] == "bad_request"
    assert emulator.violations and "'ports' is a required property" in emulator.violations[0]
    emulator.violations.clear()


def test_berth_client_pages_and_rate_headers(emulator):
    from ansible_collections.berth.ops.plugins.module_utils._do_api import Client, make_transport  # noqa: PLC0415

    api = Client(make_transport(ca_path=emulator.ca_path), harness.TOKEN, base_url=emulator.url)
    names = [d["name"] for d in api.list("/v2/droplets", "droplets", what="droplets", per_page=1)]
    assert names == ["a", "b"]
    answer = api.request("GET", "/v2/vpcs", what="vpcs")
    assert answer.headers["ratelimit-limit"] == "250"
    emulator.limit = 3
    emulator.window.clear()
    try:
        for _ in range(3):
            api.request("GET", "/v2/vpcs", what="vpcs")
        emulator.faults.clear()
        limited = api.transport("GET", f"{emulator.url}/v2/vpcs", {"Authorization": f"Bearer {harness.TOKEN}"}, 5)
        assert limited.status == 429 and int(limited.headers["retry-after"]) >= 1
    finally:
        emulator.limit = 250
    assert emulator.violations == []


def test_pydo_monitoring_round_trip_fits_the_spec(emulator):
    """Uptime checks, their alerts and droplet alert policies as DigitalOcean's own client sends them."""
    client = pydo.Client(token=harness.TOKEN, endpoint=emulator.url, connection_verify=emulator.ca_path)
    check = client.uptime.create_check({"name": "web", "type": "https", "target": "https://a.example.test/",
                                        "regions": ["us_east", "eu_west"], "enabled": True})["check"]
    notify = {"email": ["ops@example.test"], "slack": [{"channel": "#ops", "url": "https://hooks.example.test/x"}]}
    down = client.uptime.create_alert(check["id"], {"name": "down", "type": "down", "period": "2m",
                                                    "notifications": notify})["alert"]
    assert "threshold" not in down  # a down alert keeps no threshold
    client.uptime.create_alert(check["id"], {"name": "lat", "type": "latency", "threshold": 800,
                                             "comparison": "greater_than", "period": "5m", "notifications": notify})
    assert [a["name"] for a in client.uptime.list_alerts(check["id"])["alerts"]] == ["down", "lat"]
    assert client.uptime.update_check(check["id"], {"regions": ["se_asia"]})["check"]["target"] == check["target"]
    policy = client.monitoring.create_alert_policy({
        "type": "v1/insights/droplet/cpu", "description": "cpu", "compare": "GreaterThan", "value": 90,
        "window": "10m", "entities": [], "tags": ["web"], "alerts": notify, "enabled": True})["policy"]
    assert client.monitoring.list_alert_policy()["policies"][0]["uuid"] == policy["uuid"]
    client.uptime.delete_check(check["id"])
    assert client.uptime.list_checks()["checks"] == []
    assert emulator.violations == []
    with pytest.raises(Exception, match="is not one of"):  # azure-core's HttpResponseError: pydo raises it
        client.uptime.create_alert(policy["uuid"], {"name": "x", "type": "down", "period": "4m",
                                                    "notifications": notify})
    assert "'4m' is not one of" in emulator.violations[0]
    emulator.violations.clear()

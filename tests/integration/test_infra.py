"""infra.yml / teardown.yml and the do_* modules against the spec-checked emulator (no lab needed).

One environment lives through the module in order: check-mode plan, create, no-change rerun,
targeted changes, teardown. Every request and response is validated against the bundled spec;
each test ends by asserting that no exchange violated it.
"""

from __future__ import annotations

import copy
import json
import re

import pytest
import yaml
from do_emulator import harness
from do_emulator import spec as specmod
from do_emulator.harness import TOKEN, environment, module, playbook, writes


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("infra")


@pytest.fixture(scope="module")
def emulator(tmp):
    emu = harness.start(tmp)
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def spec_clean(emulator):
    yield
    assert emulator.violations == [], "\n".join(emulator.violations)


def ok(result):
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    return result


def test_check_mode_on_an_empty_account_sends_no_write_and_shows_the_plan(emulator, tmp):
    emulator.reset()
    result = ok(playbook(emulator, tmp, "infra.yml", environment(), "--check", "--diff"))
    assert writes(emulator) == []
    for line in ("create VPC t1-vpc", "create droplets t1-web-1, t1-web-2", "create firewall t1-firewall",
                 "create load balancer t1-lb", "create database cluster t1-pg", "create project berth-t1"):
        assert line in result.stdout


def test_infra_creates_everything(emulator, tmp):
    emulator.reset()
    result = ok(playbook(emulator, tmp, "infra.yml", environment()))
    counts = emulator.cloud.counts()
    assert counts | {"domain_records": 0} == {
        "vpcs": 1, "ssh_keys": 1, "droplets": 2, "firewalls": 1, "load_balancers": 1, "databases": 2,
        "domains": 1, "domain_records": 0, "projects": 1, "project_resources": 6}
    assert "create droplets t1-web-1, t1-web-2" in result.stdout
    fw = next(iter(emulator.cloud.firewalls.values()))
    inbound = {(r["protocol"], r["ports"], tuple(r["sources"]["addresses"])) for r in fw["inbound_rules"]}
    assert inbound == {("tcp", "80", ("0.0.0.0/0", "::/0")), ("tcp", "443", ("0.0.0.0/0", "::/0")),
                       ("tcp", "22", ("198.51.100.7/32",)), ("tcp", "0", ("10.20.0.0/20",)),
                       ("udp", "0", ("10.20.0.0/20",)), ("icmp", "0", ("10.20.0.0/20",))}
    assert fw["tags"] == ["berth-t1"]
    lb = next(iter(emulator.cloud.lbs.values()))
    assert lb["health_check"]["path"] == "/lb-health" and lb["disable_lets_encrypt_dns_records"] is True
    assert sorted(lb["droplet_ids"]) == sorted(emulator.cloud.droplets)
    for db in emulator.cloud.dbs.values():
        assert [(r["type"], r["value"]) for r in db["_rules"]] == [("tag", "berth-t1")]
    facts = yaml.safe_load((tmp / "out" / "infra-t1.yml").read_text())
    assert set(facts["berth_infra_droplets"]) == {"t1-web-1", "t1-web-2"}
    assert facts["berth_infra_databases"]["pg"]["private_uri"].startswith("postgresql://doadmin:")
    assert (tmp / "out" / "infra-t1.yml").stat().st_mode & 0o777 == 0o600
    password = facts["berth_infra_databases"]["pg"]["password"]
    assert password not in result.stdout + result.stderr


def test_second_run_sends_no_write_and_never_prints_the_token(emulator, tmp):
    emulator.journal.clear()
    result = ok(playbook(emulator, tmp, "infra.yml", environment(), "-vvv"))
    assert writes(emulator) == []
    assert "no change" in result.stdout
    assert TOKEN not in result.stdout + result.stderr
    assert "changed=0" in result.stdout


def test_inventory_groups_droplets_by_tag(emulator, tmp):
    emulator.journal.clear()
    config = tmp / "t1.do_droplets.yml"
    config.write_text(yaml.safe_dump({"plugin": "berth.ops.do_droplets", "tag": "berth-t1",
                                      "api_base_url": emulator.url, "ca_path": emulator.ca_path}))
    result = harness.inventory(config)
    assert result.returncode == 0, result.stderr
    listing = harness.plain(json.loads(result.stdout))
    for group in ("droplets", "berth_t1", "berth_t1_web", "web"):
        assert sorted(listing[group]["hosts"]) == ["t1-web-1", "t1-web-2"], group
    hostvars = listing["_meta"]["hostvars"]["t1-web-1"]
    droplet = next(d for d in emulator.cloud.droplets.values() if d["name"] == "t1-web-1")
    assert hostvars["ansible_host"] == droplet["networks"]["v4"][0]["ip_address"]
    assert hostvars["do_private_ipv4"].startswith("10.20.")
    assert writes(emulator) == []
    assert TOKEN not in result.stdout + result.stderr


def test_changes_send_exactly_their_writes(emulator, tmp):
    env = environment(web=3)
    env["firewall"]["ssh_sources"] = ["198.51.100.8/32"]
    env["load_balancer"]["health_check"]["path"] = "/healthz"
    env["databases"]["pg"]["trusted_sources"] = [{"type": "ip_addr", "value": "192.0.2.10"}]
    emulator.journal.clear()
    ok(playbook(emulator, tmp, "infra.yml", env))
    assert sorted(writes(emulator)) == sorted([
        "POST /v2/droplets",                      # t1-web-3
        "PUT /v2/firewalls/{id}",                 # SSH source
        "PUT /v2/load_balancers/{id}",            # health check path
        "PUT /v2/databases/{id}/firewall",        # trusted source added
        "POST /v2/projects/{id}/resources",       # t1-web-3 joins the project
    ])
    lb = next(iter(emulator.cloud.lbs.values()))
    assert lb["health_check"] == {"protocol": "http", "port": 80, "path": "/healthz", "check_interval_seconds": 5,
                                  "response_timeout_seconds": 3, "unhealthy_threshold": 2, "healthy_threshold": 2}
    assert lb["sticky_sessions"] == {"type": "none"} and lb["disable_lets_encrypt_dns_records"] is True
    # Back to the original, with drift made outside berth on top: a rule someone added by hand and
    # a health check field that a PUT omitting it would have reset. The same PUTs correct both.
    fw = next(iter(emulator.cloud.firewalls.values()))
    fw["inbound_rules"].append({"protocol": "tcp", "ports": "5432", "sources": {"addresses": ["0.0.0.0/0"]}})
    lb["health_check"]["check_interval_seconds"] = 10
    emulator.journal.clear()
    result = ok(playbook(emulator, tmp, "infra.yml", environment(web=2), "--diff"))
    assert sorted(writes(emulator)) == sorted(["DELETE /v2/droplets/{id}", "PUT /v2/firewalls/{id}",
                                               "PUT /v2/load_balancers/{id}", "PUT /v2/databases/{id}/firewall"])
    assert "5432" in result.stdout  # the diff shows the rule that goes
    assert sorted(d["name"] for d in emulator.cloud.droplets.values()) == ["t1-web-1", "t1-web-2"]
    assert not any(r["ports"] == "5432" for r in fw["inbound_rules"])
    assert lb["health_check"]["check_interval_seconds"] == 5


def test_teardown_refuses_without_confirmation(emulator, tmp):
    emulator.journal.clear()
    result = playbook(emulator, tmp, "teardown.yml", environment())
    assert result.returncode != 0
    assert "berth_infra_teardown_confirm=t1" in result.stdout
    assert emulator.journal == []


def test_teardown_removes_everything(emulator, tmp):
    emulator.journal.clear()
    ok(playbook(emulator, tmp, "teardown.yml", environment(), berth_infra_teardown_confirm="t1"))
    assert all(v == 0 for v in emulator.cloud.counts().values()), emulator.cloud.counts()
    assert all(e["status"] < 400 for e in emulator.journal)


# -- failures, one module at a time ------------------------------------------------------------

VPC = {"name": "faulty", "region": "nyc3", "ip_range": "10.30.0.0/20"}


def test_401_names_the_token_variable(emulator):
    result = module(emulator, "do_vpc", VPC, token="dop_v1_wrongToken_5f3a")
    assert result.returncode != 0
    assert "DIGITALOCEAN_TOKEN" in result.stdout and "401" in result.stdout
    assert "dop_v1_wrongToken_5f3a" not in result.stdout + result.stderr


def test_429_is_retried_after_retry_after(emulator):
    emulator.reset()
    emulator.faults.append({"method": "GET", "path": "^/v2/vpcs$", "status": 429, "retry_after": 1, "count": 2})
    result = module(emulator, "do_vpc", VPC)
    assert result.returncode == 0, result.stdout
    statuses = [(e["method"], e["status"]) for e in emulator.journal]
    assert statuses == [("GET", 429), ("GET", 429), ("GET", 200), ("POST", 201)]
    gap = emulator.journal[2]["time"] - emulator.journal[1]["time"]
    assert gap >= 0.9


def test_5xx_past_the_retries_fails_naming_the_resource(emulator):
    emulator.faults.append({"method": "PATCH", "path": "^/v2/vpcs/", "status": 503, "count": 10,
                            "message": "backend unavailable"})
    result = module(emulator, "do_vpc", {**VPC, "description": "changed", "api_retries": 2})
    assert result.returncode != 0
    assert re.search(r"VPC 'faulty'.*3 tries.*503.*backend unavailable", result.stdout), result.stdout
    assert [e["status"] for e in emulator.journal if e["method"] == "PATCH"] == [503, 503, 503]


def test_token_given_as_option_is_hidden_in_vvv(emulator):
    secret = TOKEN
    result = module(emulator, "do_vpc", {**VPC, "api_token": secret}, "-vvv", token="unused")
    assert result.returncode == 0, result.stdout
    assert secret not in result.stdout + result.stderr


def test_health_check_out_of_range_fails_before_any_request(emulator):
    emulator.journal.clear()
    result = module(emulator, "do_load_balancer", {
        "name": "x", "region": "nyc3", "tag": "t",
        "forwarding_rules": [{"entry_protocol": "http", "entry_port": 80, "target_protocol": "http",
                              "target_port": 80}],
        "health_check": {"check_interval_seconds": 1}})
    assert result.returncode != 0
    assert "health_check.check_interval_seconds=1 is outside 3-300" in result.stdout
    assert emulator.journal == []


# -- every input checked before the first request (plugins/module_utils/_infra_spec.py) ------------

def _health_interval_2(env):
    env["load_balancer"]["health_check"]["check_interval_seconds"] = 2


def _unknown_key(env):
    env["load_balancer"]["stickiness"] = "cookies"


def _ttl_0(env):
    env["domain"]["records"][0]["ttl"] = 0


def _count_two(env):
    env["droplets"]["web"]["count"] = "two"


@pytest.mark.parametrize(("mutate", "message"), [
    pytest.param(_health_interval_2, "berth_infra.load_balancer.health_check.check_interval_seconds: 2 must be a "
                                     "whole number of seconds between 3 and 300", id="health-interval-2"),
    pytest.param(_unknown_key, "berth_infra.load_balancer.stickiness: 'cookies' is not a setting here (known: ",
                 id="unknown-key"),
    pytest.param(_ttl_0, "berth_infra.domain.records[0].ttl: 0 is not a TTL: a whole number of seconds from 30 "
                         "(DigitalOcean's minimum) to 2147483647", id="ttl-0"),
    pytest.param(_count_two, "berth_infra.droplets.web.count: 'two' must be a whole number >= 0", id="count-two"),
])
def test_bad_input_is_refused_before_any_request(emulator, tmp, mutate, message):
    env = copy.deepcopy(environment("t9"))
    mutate(env)
    emulator.journal.clear()
    result = playbook(emulator, tmp, "infra.yml", env)
    assert result.returncode != 0
    assert message in result.stdout, result.stdout[-3000:]
    assert "1 bad input, no request was sent" in result.stdout
    assert emulator.journal == []  # not one request, reads included


def test_every_bad_input_is_named_in_one_failure(emulator, tmp):
    env = copy.deepcopy(environment("t9"))
    for mutate in (_health_interval_2, _unknown_key, _ttl_0, _count_two):
        mutate(env)
    emulator.journal.clear()
    result = playbook(emulator, tmp, "infra.yml", env)
    assert result.returncode != 0
    assert "4 bad inputs, no request was sent" in result.stdout
    assert emulator.journal == []


def test_a_record_ttl_below_30_fails_in_the_module_before_any_request(emulator):
    emulator.journal.clear()
    result = module(emulator, "do_domain_record", {
        "domain": "t9.example.test", "records": [{"type": "TXT", "name": "@", "data": "v=spf1 -all", "ttl": 0}]})
    assert result.returncode != 0
    assert "records[0]: ttl=0 is below DigitalOcean's minimum of 30 seconds" in result.stdout
    assert emulator.journal == []


# -- what used to be dropped or untestable ---------------------------------------------------------

def small_environment(name: str) -> dict:
    """One droplet, no database, no domain: the parts every environment has."""
    env = copy.deepcopy(environment(name, web=1))
    del env["databases"], env["domain"]
    return env


def test_sticky_sessions_reach_the_load_balancer_and_settle(emulator, tmp):
    emulator.reset()
    env = small_environment("t3")
    env["load_balancer"]["sticky_sessions"] = {"type": "cookies", "cookie_name": "BERTH", "cookie_ttl_seconds": 600}
    env["load_balancer"]["enable_backend_keepalive"] = True
    ok(playbook(emulator, tmp, "infra.yml", env))
    lb = next(iter(emulator.cloud.lbs.values()))
    assert lb["sticky_sessions"] == {"type": "cookies", "cookie_name": "BERTH", "cookie_ttl_seconds": 600}
    assert lb["enable_backend_keepalive"] is True
    emulator.journal.clear()
    result = ok(playbook(emulator, tmp, "infra.yml", env))
    assert writes(emulator) == []
    assert "changed=0" in result.stdout


ZONE_RECORDS = [
    {"type": "TXT", "name": "@", "data": "v=spf1 include:_spf.example.test ~all", "ttl": 3600},
    {"type": "TXT", "name": "_verify", "data": "verification=3f9a0c"},
    {"type": "MX", "name": "@", "data": "mail.t4.example.test.", "priority": 10, "ttl": 300},
    {"type": "CAA", "name": "@", "data": "letsencrypt.org", "flags": 0, "tag": "issue"},
    {"type": "SRV", "name": "_sip._tcp", "data": "sip.t4.example.test.", "priority": 10, "weight": 5, "port": 5060},
]


def test_a_zone_with_txt_mx_caa_and_srv_records_converges_and_settles(emulator, tmp):
    emulator.reset()
    env = small_environment("t4")
    del env["load_balancer"]
    env["domain"] = {"name": "t4.example.test", "records": ZONE_RECORDS}
    ok(playbook(emulator, tmp, "infra.yml", env))
    stored = {(r["type"], r["name"]): r for r in emulator.cloud.records["t4.example.test"].values()}
    assert stored[("TXT", "@")]["data"] == "v=spf1 include:_spf.example.test ~all"
    assert stored[("TXT", "@")]["ttl"] == 3600 and stored[("TXT", "_verify")]["ttl"] == 1800
    assert stored[("TXT", "@")]["flags"] is None and stored[("TXT", "@")]["tag"] is None
    assert (stored[("MX", "@")]["priority"], stored[("MX", "@")]["ttl"]) == (10, 300)
    assert (stored[("CAA", "@")]["flags"], stored[("CAA", "@")]["tag"]) == (0, "issue")
    srv = stored[("SRV", "_sip._tcp")]
    assert (srv["data"], srv["priority"], srv["weight"], srv["port"]) == ("sip.t4.example.test.", 10, 5, 5060)
    assert writes(emulator).count("POST /v2/domains/t4.example.test/records") == len(ZONE_RECORDS)
    emulator.journal.clear()
    result = ok(playbook(emulator, tmp, "infra.yml", env))
    assert writes(emulator) == []
    assert "changed=0" in result.stdout


def test_the_emulator_erratum_frees_txt_ns_srv_of_caa_fields_only(emulator):
    """The spec's TXT/NS/SRV schemas require CAA's flags and tag; the erratum lifts that, nothing more."""
    def problems(body: dict) -> list[str]:
        request = specmod.SpecRequest("POST", "/v2/domains/example.test/records", "",
                                      {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
                                      json.dumps(body).encode())
        return specmod.problems(emulator.openapi, request)

    assert problems({"type": "TXT", "name": "@", "data": "v=spf1 -all", "ttl": 1800}) == []
    assert problems({"type": "NS", "name": "lab", "data": "ns1.example.test.", "ttl": 1800}) == []
    assert problems({"type": "SRV", "name": "_sip._tcp", "data": "sip.example.test.", "priority": 1, "port": 5060,
                     "weight": 1, "ttl": 1800}) == []
    assert problems({"type": "CAA", "name": "@", "data": "letsencrypt.org", "ttl": 1800}) != []  # still required
    assert problems({"type": "SRV", "name": "_sip._tcp", "data": "sip.example.test."}) != []  # priority, port


# -- DigitalOcean's own monitoring (berth_infra.monitoring) ----------------------------------------

SLACK_URL = "https://hooks.slack.example/services/T5/B5/infraWebhookNeverShown"


def monitored_environment() -> dict:
    env = small_environment("t5")
    env["domain"] = {"name": "t5.example.test"}
    env["monitoring"] = {"email": ["ops@t5.example.test"], "slack": [{"channel": "#ops", "url": SLACK_URL}]}
    return env


def test_monitoring_is_created_then_settles_then_changes_only_what_changed(emulator, tmp):
    emulator.reset()
    env = monitored_environment()
    planned = ok(playbook(emulator, tmp, "infra.yml", env, "--check"))
    assert writes(emulator) == []
    for line in ("create uptime check t5-uptime-t5.example.test", "create alert policy t5 cpu",
                 "create alert policy t5 memory", "create alert policy t5 disk"):
        assert line in planned.stdout
    created = ok(playbook(emulator, tmp, "infra.yml", env, "-v"))
    mon = emulator.cloud.monitoring
    assert mon.counts() == {"uptime_checks": 1, "uptime_alerts": 3, "alert_policies": 3}
    [check] = mon.checks.values()
    assert check["target"] == "https://t5.example.test/" and check["name"] == "t5-uptime-t5.example.test"
    policies = {p["description"]: p for p in mon.policies.values()}
    assert {d: (p["type"].rsplit("/", 1)[1], p["value"], p["window"], p["tags"]) for d, p in policies.items()} == {
        "t5 cpu": ("cpu", 90.0, "10m", ["berth-t5"]),
        "t5 memory": ("memory_utilization_percent", 90.0, "5m", ["berth-t5"]),
        "t5 disk": ("disk_utilization_percent", 90.0, "5m", ["berth-t5"])}
    assert all(p["alerts"]["slack"] == [{"channel": "#ops", "url": SLACK_URL}] for p in policies.values())
    assert SLACK_URL not in created.stdout + created.stderr
    emulator.journal.clear()
    again = ok(playbook(emulator, tmp, "infra.yml", env, "-v"))
    assert writes(emulator) == [] and "changed=0" in again.stdout
    assert SLACK_URL not in again.stdout + again.stderr
    env["monitoring"]["uptime"] = {"latency_ms": 500}
    env["monitoring"]["alerts"] = {"memory": {"value": 85}, "disk": {"enabled": False}}
    emulator.journal.clear()
    ok(playbook(emulator, tmp, "infra.yml", env))
    assert sorted(writes(emulator)) == sorted(["PUT /v2/uptime/checks/{id}/alerts/{id}",  # latency threshold
                                               "PUT /v2/monitoring/alerts/{id}",         # memory 85
                                               "DELETE /v2/monitoring/alerts/{id}"])     # disk turned off
    assert sorted(p["description"] for p in mon.policies.values()) == ["t5 cpu", "t5 memory"]
    emulator.journal.clear()
    ok(playbook(emulator, tmp, "infra.yml", env))
    assert writes(emulator) == []
    # teardown.yml removes what infra.yml made, monitoring included, at the address DIGITALOCEAN_API_URL gives.
    ok(playbook(emulator, tmp, "teardown.yml", env, url_from_env=True, berth_infra_teardown_confirm="t5"))
    assert mon.counts() == {"uptime_checks": 0, "uptime_alerts": 0, "alert_policies": 0}
    assert all(v == 0 for v in emulator.cloud.counts().values()), emulator.cloud.counts()


def test_bad_monitoring_input_is_refused_before_any_request_without_showing_the_webhook(emulator, tmp):
    env = monitored_environment()
    env["monitoring"]["slack"][0]["url"] = "http://hooks.slack.example/infraWebhookNeverShown"
    env["monitoring"]["alerts"] = {"memory": {"value": 190}}
    emulator.journal.clear()
    result = playbook(emulator, tmp, "infra.yml", env)
    assert result.returncode != 0
    assert "2 bad inputs, no request was sent" in result.stdout
    assert "berth_infra.monitoring.slack[0].url: (hidden) must be the Slack webhook's https:// URL" in result.stdout
    assert ("berth_infra.monitoring.alerts.memory.value: 190 must be a percentage above 0 and at most 100"
            in result.stdout)
    assert "infraWebhookNeverShown" not in result.stdout + result.stderr
    assert emulator.journal == []

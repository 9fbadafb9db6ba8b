"""berth_infra.monitoring: checked on the controller (every bad input one line naming the path and value, a
Slack URL never shown) and planned in Python (_infra_spec.monitoring_plan, returned by do_infra_spec): one
uptime check per public host, one alert policy per metric, the documented defaults applied, and every key
reaching the plan."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _infra_spec
from do_emulator.harness import environment

SECRET = "https://hooks.slack.example/services/T0/B0/neverShown"


def tree(**monitoring) -> dict:
    env = copy.deepcopy(environment("m2"))
    env["monitoring"] = {"email": ["ops@example.test"], **monitoring}
    return env


def test_without_monitoring_nothing_is_planned():
    assert _infra_spec.monitoring_plan(environment()) == {"uptime_checks": [], "alert_policies": []}


def test_the_defaults_probe_the_zone_and_watch_cpu_memory_disk_on_the_tag():
    plan = _infra_spec.monitoring_plan(tree())
    assert plan["uptime_checks"] == [{
        "name": "m2-uptime-m2.example.test", "target": "https://m2.example.test/", "type": "https",
        "regions": ["eu_west", "se_asia", "us_east", "us_west"],
        "alerts": [{"type": "down", "period": "2m"}, {"type": "latency", "threshold": 1000, "period": "5m"},
                   {"type": "ssl_expiry", "threshold": 14}]}]
    assert plan["alert_policies"] == [
        {"description": "m2 cpu", "metric": "cpu", "value": 90, "window": "10m", "compare": "GreaterThan",
         "tags": ["berth-m2"], "state": "present"},
        {"description": "m2 memory", "metric": "memory", "value": 90, "window": "5m", "compare": "GreaterThan",
         "tags": ["berth-m2"], "state": "present"},
        {"description": "m2 disk", "metric": "disk", "value": 90, "window": "5m", "compare": "GreaterThan",
         "tags": ["berth-m2"], "state": "present"}]
    assert _infra_spec.check(tree()) == []


UPTIME_CHANGES = {"hosts": ["a.m2.example.test", "b.m2.example.test"], "path": "/health", "type": "http",
                  "regions": ["eu_west"], "down_period": "5m", "latency_ms": 300, "latency_period": "10m",
                  "ssl_expiry_days": 7}
ALERT_CHANGES = {"value": 75, "window": "30m", "compare": "LessThan", "enabled": False}


def test_every_uptime_key_reaches_the_plan():
    assert set(UPTIME_CHANGES) == set(_infra_spec.KEYS["monitoring.uptime"])
    base = _infra_spec.monitoring_plan(tree(uptime={"type": "https"}))
    for key, value in UPTIME_CHANGES.items():
        given = tree(uptime={key: value})
        assert _infra_spec.check(given) == [], key
        assert _infra_spec.monitoring_plan(given) != base, key


def test_every_alert_key_reaches_the_plan():
    assert set(ALERT_CHANGES) == set(_infra_spec.KEYS["monitoring.alerts.KEY"])
    base = _infra_spec.monitoring_plan(tree())
    for key, value in ALERT_CHANGES.items():
        given = tree(alerts={"memory": {key: value}})
        assert _infra_spec.check(given) == [], key
        assert _infra_spec.monitoring_plan(given) != base, key


def test_a_turned_off_metric_is_planned_absent_and_another_is_added():
    plan = _infra_spec.monitoring_plan(tree(alerts={"cpu": {"enabled": False}, "load_5": {"value": 4}}))
    states = {p["metric"]: (p["state"], p["value"]) for p in plan["alert_policies"]}
    assert states == {"cpu": ("absent", 90), "memory": ("present", 90), "disk": ("present", 90),
                      "load_5": ("present", 4)}


def test_http_checks_have_no_certificate_alert():
    plan = _infra_spec.monitoring_plan(tree(uptime={"type": "http"}))
    assert [a["type"] for a in plan["uptime_checks"][0]["alerts"]] == ["down", "latency"]


def test_the_plan_holds_no_recipient():
    plan = _infra_spec.monitoring_plan(tree(slack=[{"channel": "#ops", "url": SECRET}]))
    assert SECRET not in repr(plan) and "ops@example.test" not in repr(plan)


ROOT = "berth_infra.monitoring"


@pytest.mark.parametrize(("monitoring", "message"), [
    ({"email": []}, f"{ROOT}.email: missing, needs at least one email address or Slack channel"),
    ({"email": ["ops"]}, f"{ROOT}.email[0]: 'ops' is not an email address"),
    ({"slack": [{"channel": "#ops", "url": "http://hooks.example/neverShown"}]},
     f"{ROOT}.slack[0].url: (hidden) must be the Slack webhook's https:// URL"),
    ({"slack": [{"url": SECRET}]}, f"{ROOT}.slack[0].channel: missing, needs the channel's name"),
    ({"uptime": {"hosts": ["Not A Host"]}}, f"{ROOT}.uptime.hosts[0]: 'Not A Host' is not an RFC 1123 host name"),
    ({"uptime": {"path": "health"}}, f"{ROOT}.uptime.path: 'health' must be a URL path starting with '/'"),
    ({"uptime": {"type": "ping"}}, f"{ROOT}.uptime.type: 'ping' is not one of https, http"),
    ({"uptime": {"regions": ["nyc3"]}}, f"{ROOT}.uptime.regions[0]: 'nyc3' is not one of us_east, us_west"),
    ({"uptime": {"regions": []}}, f"{ROOT}.uptime.regions: [] must name at least one of us_east"),
    ({"uptime": {"down_period": "1m"}}, f"{ROOT}.uptime.down_period: '1m' is not one of 2m, 3m, 5m"),
    ({"uptime": {"latency_ms": 0}}, f"{ROOT}.uptime.latency_ms: 0 must be a whole number of milliseconds >= 1"),
    ({"uptime": {"ssl_expiry_days": 400}}, f"{ROOT}.uptime.ssl_expiry_days: 400 must be a whole number of days "
                                           "between 1 and 365"),
    ({"uptime": {"latency": 5}}, f"{ROOT}.uptime.latency: 5 is not a setting here (known: hosts, path"),
    ({"alerts": {"gpu": {"value": 5}}}, f"{ROOT}.alerts.gpu: 'gpu' is not a metric (cpu, memory, disk"),
    ({"alerts": {"disk": {"value": 101}}}, f"{ROOT}.alerts.disk.value: 101 must be a percentage above 0 and at "
                                           "most 100"),
    ({"alerts": {"load_1": {"window": "5m"}}}, f"{ROOT}.alerts.load_1.value: missing, needs the threshold"),
    ({"alerts": {"cpu": {"window": "2m"}}}, f"{ROOT}.alerts.cpu.window: '2m' is not one of 5m, 10m, 30m, 1h"),
    ({"alerts": {"cpu": {"compare": ">"}}}, f"{ROOT}.alerts.cpu.compare: '>' is not one of GreaterThan, LessThan"),
    ({"alerts": {"cpu": {"enabled": "no"}}}, f"{ROOT}.alerts.cpu.enabled: 'no' must be true or false"),
])
def test_one_bad_monitoring_input_is_one_line_naming_it(monitoring, message):
    errors = _infra_spec.check(tree(**monitoring))
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert "neverShown" not in errors[0]


def test_hosts_are_required_without_a_zone():
    env = tree()
    del env["domain"]
    assert _infra_spec.check(env) == [f"{ROOT}.uptime.hosts: missing, needs the public host names to probe "
                                      "(there is no domain.name to default to)"]
    env["monitoring"]["uptime"] = {"hosts": ["www.m2.example.test"]}
    assert _infra_spec.check(env) == []


def test_the_documented_example_passes_and_plans_its_hosts():
    from pathlib import Path  # noqa: PLC0415

    import yaml  # noqa: PLC0415

    example = yaml.safe_load((Path(__file__).resolve().parents[2] / "playbooks" / "infra" / "example.yml")
                             .read_text())["berth_infra"]
    assert _infra_spec.check(example) == []
    plan = _infra_spec.monitoring_plan(example)
    assert [c["target"] for c in plan["uptime_checks"]] == ["https://example.com/", "https://www.example.com/"]
    assert [p["metric"] for p in plan["alert_policies"]] == ["cpu", "memory", "disk", "load_5"]

"""do_uptime_check and do_monitor_alert against the spec-checked emulator, in fours: check, apply,
idempotent check, idempotent apply (no write in the journal), then a change (check, apply), bad input
(refused before any request, naming the option and value) and removal. Every exchange fits the spec."""

from __future__ import annotations

import re

import pytest
import yaml
from do_emulator import harness
from do_emulator.harness import module, writes

SLACK_URL = "https://hooks.slack.example/services/T000/B000/berthSecretWebhook"

CHECK = {"name": "m1-uptime-shop.example.test", "target": "https://shop.example.test/",
         "regions": ["us_east", "eu_west"], "email": ["ops@example.test"],
         "slack": [{"channel": "#ops", "url": SLACK_URL}],
         "alerts": [{"type": "down", "period": "2m"}, {"type": "latency", "threshold": 1000, "period": "5m"},
                    {"type": "ssl_expiry", "threshold": 14}]}

POLICY = {"description": "m1 memory", "metric": "memory", "value": 90, "window": "5m", "tags": ["berth-m1"],
          "email": ["ops@example.test"], "slack": [{"channel": "#ops", "url": SLACK_URL}]}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = harness.start(tmp_path_factory.mktemp("mon"))
    yield emu
    emu.stop()


@pytest.fixture(autouse=True)
def spec_clean(emulator):
    yield
    assert emulator.violations == [], "\n".join(emulator.violations)


def result(run) -> dict:
    """The module's JSON result out of `ansible localhost -m` output."""
    text = run.stdout
    return yaml.safe_load(text[text.index("=>") + 2:])


def converge(emulator, name: str, args: dict, *flags: str, ok: bool = True) -> dict:
    emulator.journal.clear()
    run = module(emulator, name, args, *flags)
    assert (run.returncode == 0) is ok, run.stdout[-3000:] + run.stderr[-2000:]
    assert SLACK_URL not in run.stdout + run.stderr
    return result(run)


def test_uptime_check_converges_in_fours(emulator):
    emulator.reset()
    planned = converge(emulator, "do_uptime_check", CHECK, "--check")
    assert planned["changed"] and writes(emulator) == []
    assert planned["actions"] == ["create uptime check m1-uptime-shop.example.test", "create alert down",
                                  "create alert latency", "create alert ssl_expiry"]
    made = converge(emulator, "do_uptime_check", CHECK)
    assert writes(emulator) == ["POST /v2/uptime/checks"] + ["POST /v2/uptime/checks/{id}/alerts"] * 3
    assert made["api_writes"] == 4
    [check] = emulator.cloud.monitoring.checks.values()
    assert (check["type"], check["target"], sorted(check["regions"])) == (
        "https", "https://shop.example.test/", ["eu_west", "us_east"])
    alerts = {a["name"]: a for a in emulator.cloud.monitoring.alerts[check["id"]].values()}
    assert "threshold" not in alerts["down"]
    assert (alerts["latency"]["threshold"], alerts["latency"]["comparison"]) == (1000, "greater_than")
    assert (alerts["ssl_expiry"]["threshold"], alerts["ssl_expiry"]["comparison"]) == (14, "less_than")
    assert alerts["down"]["notifications"] == {"email": ["ops@example.test"],
                                               "slack": [{"channel": "#ops", "url": SLACK_URL}]}
    # Same inputs, other order: nothing to do, in check mode and for real.
    same = {**CHECK, "regions": ["eu_west", "us_east"], "alerts": list(reversed(CHECK["alerts"]))}
    for flags in (("--check",), ()):
        again = converge(emulator, "do_uptime_check", same, *flags)
        assert not again["changed"] and again["actions"] == [], again
        assert writes(emulator) == []


def test_a_changed_uptime_alert_is_one_put_and_an_unlisted_one_is_deleted(emulator):
    changed = {**CHECK, "alerts": [{"type": "down", "period": "2m"}, {"type": "latency", "threshold": 500,
                                                                         "period": "5m"}]}
    planned = converge(emulator, "do_uptime_check", changed, "--check", "--diff")
    assert planned["actions"] == ["update alert latency", "delete alert ssl_expiry"] and writes(emulator) == []
    converge(emulator, "do_uptime_check", changed)
    assert writes(emulator) == ["PUT /v2/uptime/checks/{id}/alerts/{id}", "DELETE /v2/uptime/checks/{id}/alerts/{id}"]
    converge(emulator, "do_uptime_check", {**changed, "regions": ["se_asia"]})
    assert writes(emulator) == ["PUT /v2/uptime/checks/{id}"]
    converge(emulator, "do_uptime_check", {**changed, "regions": ["se_asia"]})
    assert writes(emulator) == []


def test_a_new_slack_url_is_a_change_the_diff_never_shows(emulator):
    other = "https://hooks.slack.example/services/T000/B000/anotherSecret"
    args = {**CHECK, "regions": ["se_asia"], "alerts": [{"type": "down"}], "slack": [{"channel": "#ops", "url": other}]}
    emulator.journal.clear()
    run = module(emulator, "do_uptime_check", args, "--diff")
    assert run.returncode == 0, run.stdout
    assert other not in run.stdout + run.stderr and SLACK_URL not in run.stdout + run.stderr
    assert "update alert down" in run.stdout


@pytest.mark.parametrize(("args", "message"), [
    pytest.param({"alerts": [{"type": "latency"}]},
                 "alerts[0].threshold is None: a whole number of milliseconds >= 1 for a latency alert",
                 id="no-threshold"),
    pytest.param({"alerts": [{"type": "slow"}]}, "alerts[0].type is 'slow': one of down, down_global, latency",
                 id="alert-type"),
    pytest.param({"alerts": [{"type": "down", "period": "4m"}]}, "alerts[0].period is '4m': one of 2m, 3m, 5m",
                 id="period"),
    pytest.param({"regions": ["nyc3"]}, "regions[0] is 'nyc3': one of us_east, us_west, eu_west, se_asia", id="region"),
    pytest.param({"target": "shop.example.test"}, "target is 'shop.example.test': an https:// URL", id="target"),
    pytest.param({"email": [], "slack": []}, "alerts[0].email/slack: none given", id="no-recipient"),
])
def test_uptime_check_bad_input_is_refused_before_any_request(emulator, args, message):
    refused = converge(emulator, "do_uptime_check", {**CHECK, **args}, ok=False)
    assert message in refused["msg"], refused["msg"]
    assert emulator.journal == []


def test_alert_policy_converges_in_fours(emulator):
    emulator.reset()
    planned = converge(emulator, "do_monitor_alert", POLICY, "--check")
    assert planned["actions"] == ["create alert policy m1 memory"] and writes(emulator) == []
    converge(emulator, "do_monitor_alert", POLICY)
    assert writes(emulator) == ["POST /v2/monitoring/alerts"]
    [policy] = emulator.cloud.monitoring.policies.values()
    assert (policy["type"], policy["compare"], policy["value"], policy["window"], policy["tags"]) == (
        "v1/insights/droplet/memory_utilization_percent", "GreaterThan", 90.0, "5m", ["berth-m1"])
    for flags in (("--check",), ()):
        again = converge(emulator, "do_monitor_alert", {**POLICY, "value": 90.0}, *flags)
        assert not again["changed"] and writes(emulator) == []
    planned = converge(emulator, "do_monitor_alert", {**POLICY, "value": 85, "window": "10m"}, "--check")
    assert planned["actions"] == ["update alert policy m1 memory"] and writes(emulator) == []
    converge(emulator, "do_monitor_alert", {**POLICY, "value": 85, "window": "10m"})
    assert writes(emulator) == ["PUT /v2/monitoring/alerts/{id}"]
    assert emulator.cloud.monitoring.policies[policy["uuid"]]["value"] == 85.0
    converge(emulator, "do_monitor_alert", {"description": "m1 memory", "state": "absent"}, "--check")
    assert writes(emulator) == []
    converge(emulator, "do_monitor_alert", {"description": "m1 memory", "state": "absent"})
    assert writes(emulator) == ["DELETE /v2/monitoring/alerts/{id}"]
    gone = converge(emulator, "do_monitor_alert", {"description": "m1 memory", "state": "absent"})
    assert not gone["changed"] and writes(emulator) == []


@pytest.mark.parametrize(("args", "message"), [
    pytest.param({"value": 120}, "value is 120.0: a percentage above 0 and at most 100 for metric memory", id="value"),
    pytest.param({"tags": []}, "tags/droplet_ids: none given; the policy would watch every droplet", id="no-scope"),
    pytest.param({"droplet_ids": ["web-1"]}, "droplet_ids[0] is 'web-1': a droplet id", id="droplet-id"),
    pytest.param({"email": ["ops"], "slack": []}, "email is 'ops': not an email address", id="email"),
    pytest.param({"window": "2m"}, "value of window must be one of: 5m, 10m, 30m, 1h, got: 2m", id="window"),
])
def test_alert_policy_bad_input_is_refused_before_any_request(emulator, args, message):
    refused = converge(emulator, "do_monitor_alert", {**POLICY, **args}, ok=False)
    assert message in refused["msg"], refused["msg"]
    assert emulator.journal == []


def test_removing_a_check_removes_its_alerts(emulator):
    emulator.reset()
    converge(emulator, "do_uptime_check", CHECK)
    converge(emulator, "do_uptime_check", {"name": CHECK["name"], "state": "absent"})
    assert writes(emulator) == ["DELETE /v2/uptime/checks/{id}"]
    assert emulator.cloud.monitoring.counts() == {"uptime_checks": 0, "uptime_alerts": 0, "alert_policies": 0}
    assert re.fullmatch(r"\d+", str(len(emulator.journal)))

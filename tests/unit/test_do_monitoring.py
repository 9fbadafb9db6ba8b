"""DigitalOcean Monitoring normalization: what the API answers equals what the user wrote, and bad input is
named with its value (plugins/module_utils/_do_monitoring.py)."""

import pytest
from ansible_collections.berth.ops.plugins.module_utils._do_monitoring import (
    alert_body,
    alert_problems,
    check_body,
    check_problems,
    masked,
    policy_body,
    policy_problems,
)

SLACK = [{"channel": "#ops", "url": "https://hooks.slack.example/T/B/secret"}]


def test_a_check_settles_whatever_the_region_order():
    written = check_body({"name": "c", "target": "https://a.test/", "regions": ["us_west", "eu_west", "us_west"]})
    answered = check_body({"id": "x", "name": "c", "type": "https", "target": "https://a.test/",
                           "regions": ["eu_west", "us_west"], "enabled": True})
    assert written == answered


def test_a_check_with_no_regions_probes_from_all_four():
    assert check_body({"name": "c", "target": "https://a.test/"})["regions"] == [
        "eu_west", "se_asia", "us_east", "us_west"]


def test_a_down_alert_as_answered_equals_as_written():
    written = alert_body({"type": "down", "period": "2m"}, ["b@x.test", "a@x.test"], SLACK)
    answered = alert_body({"id": "1", "name": "down", "type": "down", "period": "2m",
                           "notifications": {"email": ["a@x.test", "b@x.test"], "slack": SLACK}})
    assert written == answered
    assert "threshold" not in written


def test_threshold_alerts_get_their_natural_comparison():
    assert alert_body({"type": "latency", "threshold": 800}, ["a@x.test"], [])["comparison"] == "greater_than"
    assert alert_body({"type": "ssl_expiry", "threshold": 14}, ["a@x.test"], [])["comparison"] == "less_than"


def test_an_alert_names_its_own_recipients_over_the_checks():
    body = alert_body({"type": "down", "email": ["own@x.test"], "slack": []}, ["check@x.test"], SLACK)
    assert body["notifications"] == {"email": ["own@x.test"], "slack": []}


def test_a_different_threshold_is_a_difference():
    assert alert_body({"type": "latency", "threshold": 800}, ["a@x.test"], []) != alert_body(
        {"type": "latency", "threshold": 900}, ["a@x.test"], [])


@pytest.mark.parametrize(("entry", "message"), [
    ({"type": "latency"}, "alerts[0].threshold is None: a whole number of milliseconds >= 1 for a latency alert"),
    ({"type": "ssl_expiry", "threshold": 0}, "alerts[0].threshold is 0: a whole number of days >= 1"),
    ({"type": "down", "threshold": 5}, "alerts[0]: a down alert has no threshold or comparison"),
    ({"type": "latency", "threshold": 5, "comparison": "above"}, "alerts[0].comparison is 'above'"),
    ({"type": "down", "period": "1m"}, "alerts[0].period is '1m': one of 2m"),
    ({"type": "up"}, "alerts[0].type is 'up': one of down, down_global, latency, ssl_expiry"),
])
def test_alert_problems_name_the_option_and_value(entry, message):
    found = alert_problems(0, entry, ["a@x.test"], [])
    assert any(message in line for line in found), found


def test_an_alert_without_recipients_is_refused():
    assert alert_problems(2, {"type": "down"}, [], []) == [
        "alerts[2].email/slack: none given; an alert needs at least one email address or Slack channel"]


@pytest.mark.parametrize(("entry", "message"), [
    ({"type": "https", "target": "http://a.test/"}, "target is 'http://a.test/': an https:// URL"),
    ({"type": "ping", "target": "https://a.test/"}, "a host name or address for a check of type ping"),
    ({"type": "tcp", "target": "a.test"}, "type is 'tcp': one of ping, http, https"),
    ({"target": "https://a.test/", "regions": ["ams3"]}, "regions[0] is 'ams3'"),
    ({"target": "https://a.test/", "regions": []}, "regions is []"),
])
def test_check_problems_name_the_option_and_value(entry, message):
    found = check_problems(entry)
    assert any(message in line for line in found), found


def test_good_checks_have_no_problem():
    assert check_problems({"type": "ping", "target": "203.0.113.7"}) == []
    assert check_problems({"target": "https://a.test/health", "regions": ["us_east"]}) == []


POLICY = {"description": "p cpu", "metric": "cpu", "value": 90, "tags": ["b", "a"], "email": ["a@x.test"]}


def test_a_policy_as_answered_equals_as_written():
    answered = {"uuid": "u", "type": "v1/insights/droplet/cpu", "description": "p cpu", "compare": "GreaterThan",
                "value": 90.0, "window": "5m", "entities": [], "tags": ["a", "b"],
                "alerts": {"email": ["a@x.test"], "slack": []}, "enabled": True}
    assert policy_body(POLICY) == policy_body(answered)


def test_policy_droplet_ids_compare_as_strings():
    assert policy_body({**POLICY, "entities": [12, "3"]})["entities"] == ["12", "3"]


@pytest.mark.parametrize(("change", "message"), [
    ({"value": 0}, "value is 0: a percentage above 0 and at most 100 for metric cpu"),
    ({"value": "high"}, "value is 'high': a number"),
    ({"metric": "gpu"}, "metric is 'gpu': one of cpu, memory, disk"),
    ({"window": "2m"}, "window is '2m': one of 5m, 10m, 30m, 1h"),
    ({"compare": ">"}, "compare is '>': one of GreaterThan, LessThan"),
    ({"tags": []}, "tags/droplet_ids: none given"),
    ({"email": ["nobody"]}, "email is 'nobody': not an email address"),
    ({"email": [], "slack": [{"channel": "#x", "url": "http://hooks"}]}, "url is not an https:// webhook URL"),
])
def test_policy_problems_name_the_option_and_value(change, message):
    found = policy_problems({**POLICY, **change})
    assert any(message in line for line in found), found


def test_a_load_policy_may_exceed_100():
    assert policy_problems({**POLICY, "metric": "load_5", "value": 150}) == []


def test_masked_hides_every_slack_url_and_keeps_the_difference():
    one = masked({"alerts": {"slack": SLACK}})
    other = masked({"alerts": {"slack": [{"channel": "#ops", "url": "https://hooks.slack.example/T/B/other"}]}})
    assert "secret" not in repr(one) and one["alerts"]["slack"][0]["url"].startswith("sha256:")
    assert one != other

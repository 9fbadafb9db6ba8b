"""status.yml's line for a firing alert (plugins/filter/monitoring.py)."""

from ansible_collections.berth.ops.plugins.filter.monitoring import alert_line


def test_a_firing_alert_is_one_line_with_severity_name_app_since_and_summary():
    alert = {"labels": {"alertname": "DeployLockStuck", "severity": "warning", "app": "sample"},
             "annotations": {"summary": "the deploy lock of sample is held for 2m: a killed deploy?"},
             "state": "firing", "activeAt": "2026-12-05T17:40:01.123456789Z"}
    assert alert_line(alert) == ("warning DeployLockStuck app=sample since 2026-12-05T17:40:01Z: "
                                 "the deploy lock of sample is held for 2m: a killed deploy?")


def test_an_alert_without_app_or_summary_still_says_what_it_is():
    assert alert_line({"labels": {"alertname": "DiskSpaceLow", "severity": "critical"}}) == "critical DiskSpaceLow"
    assert alert_line(None) == "none ?"

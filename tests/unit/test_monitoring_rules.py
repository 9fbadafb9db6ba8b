"""The monitoring role's files as it would install them (rendered with its defaults): promtool checks the
rules and the config, runs the rule tests, amtool checks the routes; and every alert has a case where
it fires and one where it must not."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent / "monitoring"
# Always firing by design (the heartbeat): it has no case where it must not fire.
ALWAYS_FIRING = {"Watchdog"}
# What the rule tests render with besides the role's defaults.
TEST_VARS = {"monitoring_backup_apps": ["sample"], "monitoring_webhook_urls": ["http://127.0.0.1:9099/hook"],
             "monitoring_heartbeat_url": "http://127.0.0.1:9099/heartbeat"}

pytestmark = pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian's prometheus) missing")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("monitoring")
    extra = out / "vars.yml"
    extra.write_text(yaml.safe_dump(TEST_VARS))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    subprocess.run(["ansible-playbook", str(HERE / "render.yml"), "-e", f"out={out}", "-e", f"@{extra}"],
                   cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    shutil.copy(HERE / "rules_test.yml", out / "rules_test.yml")
    return out


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, check=False)


def test_the_rules_and_the_config_pass_promtool_and_amtool(rendered):
    for args in (["promtool", "check", "rules", "berth-rules.yml"],
                 ["promtool", "check", "config", "--syntax-only", "prometheus.yml"],
                 ["amtool", "check-config", "alertmanager.yml"]):
        checked = run(*args, cwd=rendered)
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rule_tests_pass(rendered):
    tested = run("promtool", "test", "rules", "rules_test.yml", cwd=rendered)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def cases(tests: dict) -> tuple[set[str], set[str]]:
    firing, quiet = set(), set()
    for group in tests["tests"]:
        for case in group.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    return firing, quiet


def alerts(rules: dict) -> set[str]:
    return {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


def test_every_alert_has_a_firing_and_a_not_firing_case(rendered):
    declared = alerts(yaml.safe_load((rendered / "berth-rules.yml").read_text()))
    firing, quiet = cases(yaml.safe_load((HERE / "rules_test.yml").read_text()))
    assert declared - firing == set(), f"alerts without a case where they fire: {sorted(declared - firing)}"
    assert declared - quiet - ALWAYS_FIRING == set(), f"alerts without a not-firing case: {sorted(declared - quiet)}"


def test_the_case_check_catches_a_missing_case():
    tests = {"tests": [{"alert_rule_test": [{"alertname": "A", "exp_alerts": [{"exp_labels": {}}]},
                                            {"alertname": "B", "exp_alerts": []}]}]}
    firing, quiet = cases(tests)
    assert {"A", "B"} - firing == {"B"} and {"A", "B"} - quiet == {"A"}


def test_the_heartbeat_goes_to_its_own_receiver_and_warnings_to_the_team(rendered):
    for labels, receiver in (("alertname=Watchdog severity=none", "heartbeat"),
                             ("alertname=ServiceDown severity=critical app=sample", "berth"),
                             ("alertname=DeployInProgress severity=info app=sample", "quiet")):
        routed = run("amtool", "config", "routes", "test", "--config.file=alertmanager.yml", *labels.split(),
                     cwd=rendered)
        assert routed.stdout.strip() == receiver, (labels, routed.stdout, routed.stderr)

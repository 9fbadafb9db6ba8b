"""The deploy report built from what each target's release left (plan, record, gate and confirm
results, the failed task), validated against docs/report.schema.json; and its summary table."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
from ansible_collections.berth.ops.plugins.module_utils import _report

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "report.schema.json").read_text())
WEB_1 = "registry.berth.test/berth/sample-app@sha256:" + "1" * 64
WEB_2 = "registry.berth.test/berth/sample-app@sha256:" + "2" * 64
PLAN = {"changed": False, "noop": False, "colour": "green", "live_colour": "blue", "warm": False,
        "live": {"id": "20261205T100000Z-aaaa", "status": "succeeded", "digests": {"web": WEB_1}},
        "images": {"web": WEB_2}, "differences": ["image of web: sample-app:1.0.0 -> sample-app:1.1.0"]}
GATE_PASSED = {"passed": True, "elapsed": 3.2, "attempts": 4, "successes_in_a_row": 3, "bad_answers": 0,
               "connection_errors": 1, "reason": None, "ready_after": 1.1,
               "checks": [{"name": "web", "passed": True, "elapsed": 3.2, "attempts": 4, "successes_in_a_row": 3,
                           "bad_answers": 0, "connection_errors": 1, "reason": None, "ready_after": 1.1,
                           "probes": [{"t": 0.0, "status": 200, "ok": True}]}]}
GATE_FAILED = {"failed": True, "msg": "health gate failed for web: bad answers: 11 (budget 10)", "passed": False,
               "elapsed": 15.4, "attempts": 16, "successes_in_a_row": 0, "bad_answers": 11, "connection_errors": 0,
               "reason": "bad answers: 11 (budget 10); last: status 500 not in [200]", "ready_after": None,
               "checks": [{"name": "web", "passed": False, "elapsed": 15.4, "attempts": 16, "successes_in_a_row": 0,
                           "bad_answers": 11, "connection_errors": 0, "ready_after": None,
                           "reason": "bad answers: 11 (budget 10); last: status 500 not in [200]"}]}
SUCCEEDED = {"changed": True, "recorded": {
    "id": "20261205T101500Z-3f2a", "status": "succeeded", "kind": "deploy", "colour": "green",
    "digests": {"web": WEB_2}, "differences": PLAN["differences"], "operator": "alice", "git_sha": "abc123",
    "timings": {"pull": "1.5", "start": 0.8, "gate": 3.2, "switch": 0.4, "confirm": 1.0, "total": "7.1"}}}
MESSAGE = ("deploy 20261205T101500Z-3f2a failed at step 'gate' (Gate | Gate through its private routes colour green): "
           "health gate failed for web: bad answers: 11 (budget 10) Public routes were never changed; "
           "colour green taken down; traffic stays on blue (release 20261205T100000Z-aaaa).")
FAILED = {"changed": True, "recorded": {
    "id": "20261205T101500Z-3f2a", "status": "failed", "kind": "deploy", "colour": "green", "digests": {"web": WEB_2},
    "differences": PLAN["differences"], "step": "gate", "message": MESSAGE,
    "restored": {"routes": [], "colour_taken_down": "green", "live_colour": "blue",
                 "live_release": "20261205T100000Z-aaaa"}}}
RESCUED = {"task": "Rescue | Fail with what went wrong", "msg": MESSAGE}
REFUSED = {"task": "Spec | Check every input and pin every image (on the controller)",
           "msg": "1 bad input, nothing was changed: berth_domain: 'in_puts.berth.test' is not an RFC 1123 host name"}


def report(*targets: dict, check_mode: bool = False) -> dict:
    built = _report.build("20261205T101500Z-3f2a", "deploy", list(targets), started=1_700_000_000.0,
                          finished=1_700_000_031.0, path=".berth/reports/20261205T101500Z-3f2a.json",
                          operator="alice", git_sha="abc123", check_mode=check_mode)
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(built)
    return built


def test_a_release_that_went_live():
    built = report(_report.target("droplet-1", "sample", "deploy",
                                  {"plan": PLAN, "record": SUCCEEDED, "gate": GATE_PASSED, "confirm": GATE_PASSED}))
    target = built["targets"][0]
    assert built["result"] == "succeeded" and built["message"] is None and built["seconds"] == 31.0
    assert target["result"] == "succeeded" and target["step"] is None and target["restored"] is None
    assert target["digests"] == {"web": WEB_2} and target["colour"] == "green"
    assert target["previous"] == {"release": "20261205T100000Z-aaaa", "colour": "blue"}
    assert target["timings"] == {"pull": 1.5, "start": 0.8, "gate": 3.2, "switch": 0.4, "confirm": 1.0, "total": 7.1}
    assert target["gate"]["checks"][0]["attempts"] == 4 and "probes" not in target["gate"]["checks"][0]
    lines = _report.summary(built)
    assert lines[0] == "berth deploy 20261205T101500Z-3f2a: SUCCEEDED in 31.0 s"
    assert lines[1].split() == ["target", "app", "result", "colour", "pull", "start", "gate", "switch", "confirm",
                                "total"]
    assert lines[2].split() == ["droplet-1", "sample", "succeeded", "green", "1.5", "0.8", "3.2", "0.4", "1.0", "7.1"]
    assert lines[-1] == "report: .berth/reports/20261205T101500Z-3f2a.json"


def test_a_release_that_failed_its_gate_says_what_was_restored():
    built = report(_report.target("droplet-1", "sample", "deploy",
                                  {"plan": PLAN, "record": FAILED, "gate": GATE_FAILED, "failed": RESCUED}))
    target = built["targets"][0]
    assert built["result"] == "failed" and built["message"] == f"droplet-1: {MESSAGE}"
    assert target["result"] == "failed" and target["step"] == "gate" and target["message"] == MESSAGE
    assert target["restored"] == {"routes": [], "colour_taken_down": "green", "live_colour": "blue",
                                  "live_release": "20261205T100000Z-aaaa"}
    assert target["digests"] == {"web": WEB_2}
    assert target["timings"] == {"gate": 15.4}
    assert target["gate"]["passed"] is False and target["gate"]["checks"][0]["bad_answers"] == 11
    lines = _report.summary(built)
    assert lines[0].startswith("berth deploy 20261205T101500Z-3f2a: FAILED")
    assert lines[2].split()[:5] == ["droplet-1", "sample", "failed", "at", "gate"]
    assert f"droplet-1: {MESSAGE}" in lines
    assert "droplet-1: gate web: bad answers: 11 (budget 10); last: status 500 not in [200]" in lines


def test_a_refused_input_is_reported_refused_with_its_reason():
    built = report(_report.target("droplet-1", "sample", "deploy", {"failed": REFUSED}))
    target = built["targets"][0]
    assert built["result"] == "refused" and "in_puts.berth.test" in built["message"]
    assert target["result"] == "refused" and target["step"] == "spec" and target["previous"] is None
    assert target["digests"] == {} and target["restored"] is None


@pytest.mark.parametrize("task, step", [("Lock | Take the deploy lock", "lock"),
                                        ("Plan | Compare the release with what is live on this host", "plan")])
def test_a_stop_before_the_lock_is_a_refusal(task, step):
    failed = {"task": task, "msg": "x"}
    built = report(_report.target("droplet-1", "sample", "deploy", {"plan": PLAN, "failed": failed}))
    assert built["targets"][0]["result"] == "refused" and built["targets"][0]["step"] == step


def test_a_failure_outside_the_pipeline_is_a_failure_named_by_its_step():
    target = _report.target("droplet-1", "sample", "deploy",
                            {"plan": PLAN, "failed": {"task": "Unlock | Release the deploy lock", "msg": "gone"}})
    assert (target["result"], target["step"], target["message"]) == ("failed", "unlock", "gone")


def test_nothing_to_do_is_unchanged_and_check_mode_is_planned():
    noop = {**PLAN, "noop": True}
    assert report(_report.target("d1", "sample", "deploy", {"plan": noop}))["result"] == "unchanged"
    planned = report(_report.target("d1", "sample", "deploy", {"plan": PLAN}, check_mode=True), check_mode=True)
    assert planned["result"] == "planned" and planned["targets"][0]["differences"] == PLAN["differences"]


def test_a_fleet_names_the_failed_host_and_the_ones_never_reached():
    built = report(
        _report.target("droplet-1", "sample", "deploy", {"plan": PLAN, "record": SUCCEEDED}),
        _report.target("droplet-2", "sample", "deploy", {"plan": PLAN, "record": FAILED, "failed": RESCUED}),
        _report.target("droplet-3", "sample", "deploy", {}))
    assert [t["result"] for t in built["targets"]] == ["succeeded", "failed", "not_reached"]
    assert built["result"] == "failed" and built["message"].startswith("droplet-2: ")
    assert _report.summary(built)[4].split()[:3] == ["droplet-3", "sample", "not_reached"]


def test_an_interrupted_run_is_incomplete():
    built = report(_report.target("droplet-1", "sample", "deploy", {"plan": PLAN, "record": SUCCEEDED}),
                   _report.target("droplet-2", "sample", "deploy", {}))
    assert built["result"] == "incomplete"


def test_hook_steps_are_named_by_the_hook():
    assert _report.step_of("Hook | Run the pre-switch hook migrate") == "hook migrate"
    assert _report.step_of("Gate | Gate through its private routes colour green") == "gate"
    assert _report.step_of("no step") == ""


@pytest.mark.parametrize("breakage", [
    lambda r: r.pop("result"),
    lambda r: r.update(result="ok"),
    lambda r: r["targets"][0].update(digests={"web": "sample-app:1.1.0"}),
    lambda r: r["targets"][0]["timings"].update(drain=1.0),
    lambda r: r.update(schema_version="2.0"),
])
def test_the_schema_refuses_a_report_that_breaks_it(breakage):
    built = report(_report.target("droplet-1", "sample", "deploy", {"plan": PLAN, "record": SUCCEEDED}))
    broken = copy.deepcopy(built)
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(broken)


def test_the_report_is_written_whole(tmp_path):
    path = tmp_path / "reports" / "r.json"
    built = report(_report.target("d1", "sample", "deploy", {"plan": {**PLAN, "noop": True}}))
    _report.write(str(path), built)
    assert json.loads(path.read_text()) == built
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


APP_RESULT = {"changed": True, "api_writes": 1, "differences": ["services.backend.image.digest"],
              "release": {"deployment_id": "dep-2", "seconds_to_active": 41.5,
                          "images": {"backend": "ghcr.io/acme/backend@sha256:" + "2" * 64}}}


@pytest.mark.parametrize(("found", "check_mode", "expected"), [
    ({"app": APP_RESULT}, False, ("succeeded", None)),
    ({"app": {**APP_RESULT, "changed": False, "release": None, "api_writes": 0}}, False, ("unchanged", None)),
    ({"app": {**APP_RESULT, "release": None}}, True, ("planned", None)),
    ({"app": {"failed": True, "msg": "berth_app: 'X' is bad"},
      "failed": {"task": "Deploy | Converge the app", "msg": "berth_app: 'X' is bad"}}, False, ("refused", "deploy")),
    ({"app": {"failed": True, "api_writes": 1, "msg": "deployment dep-2 ended ERROR"},
      "failed": {"task": "Deploy | Converge the app", "msg": "deployment dep-2 ended ERROR"}},
     False, ("failed", "deploy")),
    ({}, False, ("not_reached", None)),
], ids=["deployed", "nothing-differs", "check-mode", "refused-before-a-write", "failed-after-a-write", "not-reached"])
def test_an_app_platform_target_says_what_happened_to_the_app(found, check_mode, expected):
    """An App Platform app's entry (playbooks/app_platform.yml): a failure that sent no write changed nothing."""
    target = _report.app_platform_target("platform", "platform", "deploy", found, check_mode=check_mode)
    report(target, check_mode=check_mode)
    assert (target["result"], target["step"]) == expected
    if expected[0] == "succeeded":
        assert target["deployment_id"] == "dep-2" and target["timings"] == {"total": 41.5}
        assert target["digests"] == APP_RESULT["release"]["images"] and target["platform"] == "app_platform"

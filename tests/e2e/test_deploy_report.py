"""The deploy report (issue #23): every deploy writes one JSON report on the controller, valid under
docs/report.schema.json, and prints its summary at the end of the play: a passing deploy (what went
live, its digest and step timings), a deploy refused on the controller (why, no host touched) and a
deploy that fails its gate (the step, the gate's reason and what was restored). One app of its own,
the sample app's healthy and broken images, no load: the release layer's behaviour under load is
proven in test_release.py; here only what the report says about it.

The passing deploy runs the CI deploy workflow's own command line (scripts/ci-deploy.sh: the same
ansible-playbook invocation and variables, the image given as BERTH_IMAGE, host keys pinned in a
known_hosts file); a known_hosts file holding another key is refused before anything changes."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from lab_droplets import INVENTORY, on_droplet
from labtools import LAB_STATE, REGISTRY, ROOT
from release_checks import App, fingerprint, live, playbook, releases, stack

APP = App("report", 8000, confirm_root=False)
IMAGE = f"{REGISTRY}/berth/sample-app"
SCHEMA = json.loads((ROOT / "docs" / "report.schema.json").read_text())


def variables(tag: str, report: Path, **extra: object) -> dict:
    web = {"image": f"{IMAGE}:{tag}", "health": {"interval": 1, "timeout": 2, "successes": 3, "start_timeout": 8}}
    return {**stack(APP, tag, web=web), "berth_report_path": str(report), **extra}


def read_report(path: Path) -> dict:
    report = json.loads(path.read_text())
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(report)
    return report


def ci_deploy(provisioned, directory: Path, image: str, known_hosts: str) -> tuple[subprocess.CompletedProcess, Path]:
    """Run scripts/ci-deploy.sh as the deploy workflow does: the app's variables in a file (the image
    as "{{ berth_image }}"), the key and known_hosts as files; returns the run and the report's path."""
    stack_vars = {**yaml.safe_load(Path(provisioned.vars_file).read_text()), **variables("unused", Path("unused"))}
    stack_vars["berth_services"]["web"]["image"] = "{{ berth_image }}"
    del stack_vars["berth_report_path"]
    files = {"vars.json": json.dumps(stack_vars), "known_hosts": known_hosts}
    for name, text in files.items():
        (directory / name).write_text(text)
        (directory / name).chmod(0o600)
    report = directory / "ci-report.json"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANSIBLE_SSH") and key != "ANSIBLE_STDOUT_CALLBACK"}
    env.update(ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", BERTH_IMAGE=image,
               BERTH_INVENTORY=str(INVENTORY), BERTH_SSH_KEY=str(LAB_STATE / "ssh" / "id_ed25519"),
               BERTH_KNOWN_HOSTS=str(directory / "known_hosts"), BERTH_EXTRA_VARS_FILE=str(directory / "vars.json"),
               BERTH_REPORT_PATH=str(report), BERTH_GIT_SHA="0123abcd")
    result = subprocess.run(["scripts/ci-deploy.sh"], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return result, report


def host_keys(address: str) -> str:
    """The droplet's host keys as known_hosts lines, read inside it (a trusted channel, not a scan)."""
    keys = on_droplet("cat /etc/ssh/ssh_host_*_key.pub").stdout.split("\n")
    return "".join(f"{address} {' '.join(key.split()[:2])}\n" for key in keys if key.strip())


@pytest.fixture(scope="module")
def first(provisioned, tmp_path_factory):
    directory = tmp_path_factory.mktemp("ci")
    result, path = ci_deploy(provisioned, directory, f"{IMAGE}:1.0.0", host_keys(provisioned.address))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    return provisioned, result, read_report(path)


def test_the_ci_command_line_refuses_a_host_whose_key_is_not_pinned(first, tmp_path):
    provisioned, _, before = first
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    wrong = f"{provisioned.address} {' '.join((tmp_path / 'other.pub').read_text().split()[:2])}\n"
    state = fingerprint()
    result, _ = ci_deploy(provisioned, tmp_path, f"{IMAGE}:1.1.0", wrong)
    assert result.returncode != 0
    assert "Host key verification failed" in result.stdout + result.stderr, result.stdout[-3000:]
    assert fingerprint() == state and releases(APP)[0]["id"] == before["release_id"]


def test_a_passing_deploy_reports_what_went_live_where_and_each_step(first):
    provisioned, result, report = first
    record = releases(APP)[0]
    target = report["targets"][0]
    assert report["result"] == "succeeded" and report["kind"] == "deploy" and report["message"] is None
    assert report["release_id"] == record["id"] and target["result"] == "succeeded"
    assert report["git_sha"] == "0123abcd" == record["git_sha"]
    assert target["digests"] == record["digests"] and target["digests"]["web"].startswith(f"{IMAGE}@sha256:")
    assert target["colour"] == record["colour"] and target["app"] == APP.name
    assert set(target["timings"]) == {"pull", "start", "gate", "switch", "confirm", "total"}
    assert target["timings"]["total"] > 0 and target["gate"]["passed"] and target["restored"] is None
    assert live(provisioned, APP)["version"] == "1.0.0"
    # The summary table at the end of the play names the host, the result and the report's path.
    assert f"berth deploy {record['id']}: SUCCEEDED" in result.stdout
    assert "report: " + report["path"] in result.stdout


def test_a_refused_deploy_reports_why_and_touches_no_host(first, tmp_path):
    provisioned, _, before = first
    path = tmp_path / "refused.json"
    result = playbook(provisioned, "deploy", variables("1.0.0", path, berth_domain="re_port.berth.test"))
    assert result.returncode != 0 and path.exists(), result.stdout[-3000:]
    report = read_report(path)
    target = report["targets"][0]
    assert report["result"] == "refused" and target["result"] == "refused" and target["step"] == "spec"
    assert "berth_domain" in target["message"] and "re_port.berth.test" in target["message"]
    assert target["digests"] == {} and target["restored"] is None and target["previous"] is None
    assert releases(APP)[0]["id"] == before["release_id"], "a refused deploy recorded something"
    assert "REFUSED" in result.stdout


def test_a_deploy_that_fails_its_gate_reports_the_step_and_what_was_restored(first, tmp_path):
    provisioned, _, before = first
    path = tmp_path / "failed.json"
    result = playbook(provisioned, "deploy", variables("broken", path))
    assert result.returncode != 0 and path.exists(), result.stdout[-3000:]
    report = read_report(path)
    target = report["targets"][0]
    record = releases(APP)[0]
    assert record["status"] == "failed" and record["id"] == report["release_id"]
    assert report["result"] == "failed" and target["result"] == "failed" and target["step"] == "gate"
    assert target["digests"]["web"].startswith(f"{IMAGE}@sha256:")
    assert target["digests"] != before["targets"][0]["digests"]
    assert target["gate"]["passed"] is False and target["gate"]["checks"][0]["reason"]
    assert target["timings"]["gate"] > 0
    live_colour = before["targets"][0]["colour"]
    restored = target["restored"]
    assert (restored["colour_taken_down"], restored["live_colour"], restored["live_release"]) == \
        (target["colour"], live_colour, before["release_id"])
    # Only the failed colour's own (private) route was put back; the public routes were never changed.
    assert restored["routes"] == [f"/opt/traefik/dynamic/{APP.name}-{target['colour']}.yml"], restored
    assert target["previous"] == {"release": before["release_id"], "colour": live_colour}
    assert report["message"] == f"{target['name']}: {target['message']}"
    assert "failed at step 'gate'" in target["message"]
    assert f"berth deploy {report['release_id']}: FAILED" in result.stdout
    assert live(provisioned, APP)["version"] == "1.0.0"

"""The main job end to end with the sample app on a provisioned lab droplet, through real Traefik,
under load: deploy, failed deploys (hook, a tag that does not exist, bad credentials), switch and
back, a failed gate (status 500), hooks once per release, the deploy lock, and status. Rollback and
kills run with the test apps in test_real_apps.py; malformed inputs in test_bad_input.py."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest
import release_checks as rc
from edge import STILL_RATE, LoadGenerator, get
from lab_droplets import DROPLET, on_droplet
from labtools import ROOT, failed_task, recap, run_playbook

APP = "registry.berth.test/berth/sample-app"
# Results as one-line JSON, so a message is matched whole (the YAML format wraps long lines).
ENV = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}


def stack(tag: str, **web: object) -> dict:
    service = {"image": f"{APP}:{tag}", "port": 8000, "health": {"path": "/health", "start_timeout": 15},
               "env": {"APP_MIGRATION_LOG": "/data/migrations.log"}, "volumes": ["/opt/sample/data:/data"]}
    return {"berth_services": {"web": {**service, **web}}}


def playbook_args(provisioned, extra: dict | None) -> list[str]:
    return ["-e", f"@{provisioned.vars_file}"] + (["-e", json.dumps(extra)] if extra else [])


def deploy(provisioned, tag: str, extra: dict | None = None) -> subprocess.CompletedProcess:
    return run_playbook("playbooks/deploy.yml", *playbook_args(provisioned, {**stack(tag), **(extra or {})}), env=ENV)


def under_load(provisioned, playbook: str, extra: dict | None = None, **load_options: float
               ) -> tuple[subprocess.CompletedProcess, LoadGenerator]:
    with LoadGenerator(provisioned.address, **load_options) as load, load.window_of():
        result = run_playbook(playbook, *playbook_args(provisioned, extra), env=ENV)
    print(f"\n{playbook}: {load.summary()}")
    return result, load


def assert_load(load: LoadGenerator, versions: list[str]) -> None:
    problems = load.problems(versions)
    assert not problems, "; ".join(problems) + "\n" + load.summary()


def releases() -> list[dict]:
    """The droplet's release records, newest first."""
    out = on_droplet("""python3 -c 'import glob, json
records = [json.load(open(f)) for f in glob.glob("/opt/sample/releases/*.json")]
print(json.dumps(sorted(records, key=lambda r: (r["time"], r["id"]), reverse=True)))'""").stdout
    return json.loads(out)


def live_version(provisioned) -> str:
    status, body = get(provisioned.address)
    assert status == 200, body
    return body["version"]


def fingerprint() -> str:
    """Everything a failed-before-the-host deploy must leave alone: containers and files."""
    return on_droplet("docker ps -a --format '{{.Names}} {{.ID}} {{.Image}} {{.State}}' | sort; "
                      "find /opt/sample /opt/traefik -type f -exec sha256sum {} + | sort").stdout


@pytest.fixture(scope="module")
def live_1_0_0(provisioned):
    result = deploy(provisioned, "1.0.0")
    assert result.returncode == 0, result.stdout[-3000:]
    assert live_version(provisioned) == "1.0.0"
    return provisioned


def test_deploy_under_load_drops_nothing_and_switches_once(live_1_0_0):
    result, load = under_load(live_1_0_0, "playbooks/deploy.yml", stack("1.1.0"))
    assert result.returncode == 0, result.stdout[-3000:]
    assert_load(load, ["1.0.0", "1.1.0"])
    latest = releases()[0]
    assert latest["status"] == "succeeded" and latest["kind"] == "deploy"
    assert latest["digests"]["web"].startswith(f"{APP}@sha256:")


def test_broken_release_fails_at_the_gate_and_traffic_stays(live_1_0_0):
    result, load = under_load(live_1_0_0, "playbooks/deploy.yml", stack("broken"), rate=STILL_RATE)
    assert result.returncode != 0
    assert "failed at step 'gate'" in result.stdout and "health gate failed for web" in result.stdout, \
        result.stdout[-3000:]
    assert "status 500" in result.stdout
    assert_load(load, ["1.1.0"])
    failed = releases()[0]
    assert failed["status"] == "failed" and failed["step"] == "gate", failed
    leftover = on_droplet(f"docker ps -aq --filter label=com.docker.compose.project=sample-{failed['colour']}").stdout
    assert leftover.strip() == "", "the broken colour's containers are still there"


def test_a_tag_that_does_not_exist_changes_nothing(live_1_0_0):
    before = fingerprint()
    result = deploy(live_1_0_0, "9.9.9-does-not-exist")
    assert result.returncode != 0
    # Refused by the controller-side spec step: the host is named in the recap, nothing ran on it.
    assert "9.9.9-does-not-exist" in result.stdout and recap(result.stdout)[DROPLET]["changed"] == 0
    assert fingerprint() == before


def test_wrong_registry_credentials_change_nothing_and_stay_secret(live_1_0_0):
    before = fingerprint()
    result = deploy(live_1_0_0, "1.1.0", {"berth_registry_password": "wrong-Secret-4711"})
    assert result.returncode != 0
    # Refused by the controller's pinning, for this reason: the registry's token server said no.
    assert failed_task(result.stdout).startswith("berth.ops.release : Spec |"), result.stdout[-3000:]
    assert "the token server of registry.berth.test refused user" in result.stdout, result.stdout[-3000:]
    assert recap(result.stdout)[DROPLET]["changed"] == 0
    assert "wrong-Secret-4711" not in result.stdout + result.stderr
    assert fingerprint() == before


def test_a_failing_migration_hook_aborts_before_the_switch(live_1_0_0):
    hooks = {"berth_hooks": [{"name": "migrate", "service": "web",
                              "command": ["python3", "/app/app.py", "migrate", "--fail"]}]}
    result, load = under_load(live_1_0_0, "playbooks/deploy.yml", {**stack("1.0.0"), **hooks}, rate=STILL_RATE)
    assert result.returncode != 0
    assert "failed at step 'hook migrate'" in result.stdout, result.stdout[-3000:]
    assert_load(load, ["1.1.0"])
    assert releases()[0]["step"] == "hook migrate"


# The first deploy of the lock test must hold the lock longer than the second takes to reach it (~3 s): a
# new release (another health streak) gated and confirmed for 6 answers a second apart, not a warm flip.
SLOW = stack("1.0.0", health={"path": "/health", "start_timeout": 15, "successes": 6})
# The migrations log as the lock test found it, before its release (never deployed before) ran its hook.
HOOKS_BEFORE_SLOW: list[list[str]] = []


def migrations() -> list[str]:
    return on_droplet("cat /opt/sample/data/migrations.log 2>/dev/null || true").stdout.split("\n")[:-1]


def test_a_second_deploy_at_the_same_time_is_refused_naming_the_holder(live_1_0_0):
    HOOKS_BEFORE_SLOW.append(migrations())
    first = subprocess.Popen(["ansible-playbook", "playbooks/deploy.yml", *playbook_args(live_1_0_0, SLOW)],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", **ENV))
    try:
        deadline = time.monotonic() + 120
        while on_droplet("test -f /opt/sample/releases/.deploy.lock", check=False).returncode != 0:
            assert time.monotonic() < deadline and first.poll() is None, "the first deploy never took the lock"
            time.sleep(0.3)
        second = deploy(live_1_0_0, "1.0.0")
    finally:
        output, _ = first.communicate(timeout=600)
    assert second.returncode != 0
    assert f"pid {first.pid}" in second.stdout and "is held by" in second.stdout, second.stdout[-3000:]
    assert first.returncode == 0, output[-3000:]
    assert live_version(live_1_0_0) == "1.0.0"


def test_a_migration_hook_runs_exactly_once_per_release(live_1_0_0):
    # A release never deployed before (a warm colour that already ran its hooks would skip them): the lock
    # test's, beside which the refused deploy ran no hook (run alone, this test deploys it itself).
    if not HOOKS_BEFORE_SLOW:
        HOOKS_BEFORE_SLOW.append(migrations())
        result = deploy(live_1_0_0, "1.0.0", SLOW)
        assert result.returncode == 0, result.stdout[-3000:]
    again = deploy(live_1_0_0, "1.0.0", SLOW)
    assert "nothing to do" in again.stdout and recap(again.stdout)[DROPLET]["changed"] == 0
    added = migrations()[len(HOOKS_BEFORE_SLOW[0]):]
    assert len(added) == 1 and added[0].endswith(" 1.0.0"), added


def colour_versions() -> dict[str, str]:
    """The sample version (APP_VERSION, baked into its image) each colour's running web container serves."""
    out = on_droplet("docker ps --format '{{.Names}}' | grep -E '^sample-(blue|green)-web-1$' | "
                     "xargs -r docker inspect -f '{{.Name}}{{range .Config.Env}} {{.}}{{end}}'").stdout
    versions = {}
    for line in out.splitlines():
        name, *env = line.split()
        versions[name.split("-")[1]] = next(e.split("=", 1)[1] for e in env if e.startswith("APP_VERSION="))
    return versions


def test_switch_flips_to_the_other_colour_and_back(live_1_0_0):
    # 1.0.0 live and 1.1.0 warm in the other colour: what the tests before leave (the lock test's 1.0.0 went
    # live beside the 1.1.0 the deploy under load made live); deployed here only when they do not.
    live = releases()[0]
    if not (live["status"] == "succeeded" and live_version(live_1_0_0) == "1.0.0"
            and colour_versions() == {live["colour"]: "1.0.0", ({"blue", "green"} - {live["colour"]}).pop(): "1.1.0"}):
        for tag in ("1.1.0", "1.0.0"):
            result = deploy(live_1_0_0, tag)
            assert result.returncode == 0, result.stdout[-3000:]
    for expected in (["1.0.0", "1.1.0"], ["1.1.0", "1.0.0"]):
        result, load = under_load(live_1_0_0, "playbooks/switch.yml")
        assert result.returncode == 0, result.stdout[-3000:]
        assert_load(load, expected)
    assert [r["kind"] for r in releases()[:2]] == ["switch", "switch"]


def test_status_reports_the_live_release(live_1_0_0):
    result = run_playbook("playbooks/status.yml", env=ENV, check=True)
    latest = releases()[0]
    assert f'"release": "{latest["id"]}"' in result.stdout
    assert f'"live_colour": "{latest["colour"]}"' in result.stdout
    assert '"gate_now": "passing"' in result.stdout and '"lock": "free"' in result.stdout


def test_an_adopted_release_failing_its_confirm_puts_back_the_release_before_the_killed_switch(provisioned):
    """#21, on one host: a deploy killed after its switch leaves its release live and unrecorded; the next
    deploy of the same release adopts it (nothing to switch). When the adopted release then fails its public
    confirm, the rescue puts back the routes the killed run saved: users are on the release live before the
    killed switch again, nothing dropped, and the failure and its record name that release. Its own app
    (the lean test app, without its start delays) beside the sample app."""
    app = rc.App("lean", 3000)

    def release(tag: str, echo: str, **extra: object) -> dict:
        return rc.stack(app, tag, berth_env={"web": {"APP_ECHO": echo, "APP_LISTEN_DELAY": "0",
                                                     "APP_HEALTH_DELAY_MS": "0"}}, **extra)

    first = rc.playbook(provisioned, "deploy", release(app.tag(1), "before"))
    assert first.returncode == 0, first.stdout[-3000:]
    before = rc.releases(app)[0]
    new = release(app.tag(2), "killed")
    # Killed 1.5 s after its switch is reported (a changed task's line), during its confirm (3 good answers 1 s apart).
    reached, load = rc.killed_under_load(provisioned, app, new, "Switch | Put live colour", after=1.5)
    assert reached, "the deploy never switched"
    assert rc.live(provisioned, app)["version"] == app.tag(2)
    assert rc.releases(app)[0]["id"] == before["id"], "the killed run recorded its release"
    rc.assert_load(load, [app.tag(1), app.tag(2)])
    # The same release again, adopted; its public answer must name a colour it never has: the confirm fails.
    result, load = rc.under_load(provisioned, app, "deploy", {**new, "berth_confirm_json_match": {"colour": "none"}})
    assert result.returncode != 0, result.stdout[-3000:]
    assert "adopted, not switched" in result.stdout, result.stdout[-3000:]
    assert "failed at step 'confirm'" in result.stdout, result.stdout[-3000:]
    assert f"traffic is back on {before['colour']} (release {before['id']})" in result.stdout, result.stdout[-3000:]
    assert rc.live(provisioned, app)["version"] == app.tag(1)
    rc.assert_load(load, [app.tag(2), app.tag(1)])
    failed = rc.releases(app)[0]
    assert failed["status"] == "failed" and failed["restored"]["live_release"] == before["id"], failed

"""berth's promises for ordinary apps (issue #9), each lab test app as its own berth app on this
process's droplet, under HTTPS load through Traefik (TLS with SNI, plus long requests always in
flight), with no request failed and none slowed by more than a second (edge.LoadGenerator.problems).

What depends on how an app starts and stops runs for every app: its first deploy, a new release, an
env change and its rollback, and a deploy killed while its new colour warms up. What does not (a
no-op, rollback, switch, a registry outage, a release that never becomes healthy, one that fails its
public check, a deploy killed after its switch) runs once, each on one of the apps (ONE_APP), so
every app still meets some of them. Every one drops no request and leaves the expected release live.

Each test starts where the one before it (in file order, tests/conftest.py) left off: the file's order is
chosen so that no deploy only resets state. A test run alone puts what it needs live first (ensure_live,
live_release), so a mutant can run one test. Split the apps over droplets with -k (`-k warm`), so no test
name may contain an app's name."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import pytest
from edge import STILL_RATE
from lab_droplets import DROPLET, on_droplet
from labtools import REGISTRY, recap
from release_checks import (
    App,
    LockWatch,
    RegistryOutage,
    app_containers,
    assert_load,
    broke_a_dead_lock,
    container_events,
    env_in_container,
    killed_under_load,
    live,
    playbook,
    releases,
    routing,
    stack,
    standby_release,
    under_load,
)

WARM = App("warm", 8501)                                 # 15 s of 503 while warming up
LEAN = App("lean", 3000, confirm_root=False)             # port opens after 8 s, /health takes 400 ms
STUBBORN = App("stubborn", 5000, stop_grace_period="5s")  # ignores SIGTERM; warm-up 10 s, /health 300 ms
APPS = [WARM, LEAN, STUBBORN]
BROKEN_START_TIMEOUT = 5  # how long the gate waits for a first good answer before its budget counts
# Long enough that, staggered over the load's long-request workers, one is still in flight on the old
# colour when the retire (after the switch and the confirm) stops it: at 15 s (30 s before) the last long
# answer still ended as the old container exited (0.01 s before it, on a machine shared with four sessions).
RETIRE_SLOW_MS = 15000


def patient(app: App) -> App:
    """`app` with a stop_grace_period long enough for the retire test's long requests."""
    return dataclasses.replace(app, stop_grace_period=f"{RETIRE_SLOW_MS // 1000 + 15}s")


def one_app(app: App):
    """Run a scenario that does not depend on the app once, with `app`."""
    return pytest.mark.parametrize("app", [app], ids=[app.name], indirect=True)


@pytest.fixture(scope="module", params=APPS, ids=[a.name for a in APPS])
def app(request, provisioned) -> App:
    return request.param


def ensure_live(provisioned, app: App, tag: str, echo: str = "alpha", standby: str | None = None) -> None:
    """Put `tag` (with APP_ECHO=echo) live if an earlier failure left something else, so each test
    shows its own result; a no-op when the previous test kept its promises. With `standby`, that
    release (APP_ECHO=alpha) is deployed first, so it is the warm other colour and the one a rollback
    returns to (pytest may run a one-app scenario before the app's other tests)."""
    try:
        body = live(provisioned, app)
        if (body["version"], body["env"]) == (tag, echo) and (
                standby is None or standby_release(app, body["colour"]) == (standby, "alpha")):
            return
    except (AssertionError, OSError):
        pass
    if standby is not None:
        ensure_live(provisioned, app, standby)  # a warm flip when it is the other colour already
    result = playbook(provisioned, "deploy", stack(app, tag, echo))
    assert result.returncode == 0, "could not restore the starting point:\n" + result.stdout[-3000:]


def live_release(provisioned, app: App, fallback: str) -> tuple[str, str]:
    """(tag, echo) of the release live now, for a scenario whose outcome does not depend on which release
    it starts from; with none of the app's releases live (the test runs alone), `fallback` is put live."""
    try:
        body = live(provisioned, app)
        if body["version"] in (app.tag(1), app.tag(2)):
            return body["version"], body["env"]
    except (AssertionError, OSError):
        pass
    ensure_live(provisioned, app, fallback)
    return fallback, "alpha"


def other(app: App, tag: str) -> str:
    """The app's test release that is not `tag`."""
    return app.tag(1) if tag == app.tag(2) else app.tag(2)


def assert_succeeded(result, kind: str, app: App) -> dict:
    assert result.returncode == 0, result.stdout[-4000:]
    latest = releases(app)[0]
    assert latest["status"] == "succeeded" and latest["kind"] == kind, latest
    return latest


def test_first_deploy(provisioned, app):
    assert releases(app) == [], "not the app's first deploy: the scenarios run out of order (tests/conftest.py)"
    result = playbook(provisioned, "deploy", stack(app, app.tag(1)))
    record = assert_succeeded(result, "deploy", app)
    body = live(provisioned, app)
    assert (body["version"], body["env"], body["colour"]) == (app.tag(1), "alpha", record["colour"])
    container = f"{app.name}-{record['colour']}-web-1"
    # An ordinary image: no shell, no curl, no Docker healthcheck.
    assert on_droplet(f"docker exec {container} sh -c true", check=False).returncode != 0
    assert on_droplet(f"docker exec {container} curl --version", check=False).returncode != 0
    assert on_droplet(f"docker inspect -f '{{{{.Config.Healthcheck}}}}' {container}").stdout.strip() == "<nil>"


def test_new_release(provisioned, app):
    ensure_live(provisioned, app, app.tag(1))
    result, load = under_load(provisioned, app, "deploy", stack(app, app.tag(2)))
    assert_succeeded(result, "deploy", app)
    assert_load(load, [app.tag(1), app.tag(2)])


@one_app(LEAN)
def test_a_registry_outage_at_the_pull_changes_nothing_and_keeps_the_standby(provisioned, app):
    """The droplet loses the registry mid-deploy (after the controller pinned the image): the deploy
    fails at its pull, users keep the live release, and both colours keep running what they ran, so
    a rollback is still a warm flip. Right after test_new_release, which leaves that starting point."""
    ensure_live(provisioned, app, app.tag(2), standby=app.tag(1))
    absent = f"{REGISTRY}/berth/sample-app"  # an image no test pulls onto this droplet
    on_droplet(f"docker image rm $(docker image ls -q {absent}) 2>/dev/null || true")
    assert on_droplet(f"docker image ls -q {absent}").stdout.strip() == "", f"{absent} is on the droplet"
    routes, containers = routing(app), app_containers(app)
    assert sum(c.endswith(" running") for c in containers) >= 2, f"no standby colour to keep: {containers}"
    with RegistryOutage():
        result, load = under_load(provisioned, app, "deploy", stack(app, "unused", web={"image": f"{absent}:1.1.0"}),
                                  rate=STILL_RATE)
    assert result.returncode != 0
    failed = releases(app)[0]
    assert failed["status"] == "failed" and failed["step"] == "pull", failed
    assert routing(app) == routes, "the failed deploy changed the routing file"
    assert app_containers(app) == containers, "the failed pull changed a colour's containers"
    assert on_droplet(f"test ! -e /opt/{app.name}/releases/.deploy.lock", check=False).returncode == 0
    assert live(provisioned, app)["version"] == app.tag(2)
    assert_load(load, [app.tag(2)])


@one_app(LEAN)
def test_unchanged_deploy_is_a_noop(provisioned, app):
    ensure_live(provisioned, app, app.tag(2))
    before = releases(app)[0]["id"]
    result, load = under_load(provisioned, app, "deploy", stack(app, app.tag(2)), rate=STILL_RATE)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "nothing to do" in result.stdout, result.stdout[-4000:]
    assert recap(result.stdout)[DROPLET]["changed"] == 0, result.stdout[-4000:]
    assert releases(app)[0]["id"] == before
    assert_load(load, [app.tag(2)])


@one_app(WARM)
def test_rollback(provisioned, app):
    ensure_live(provisioned, app, app.tag(2), standby=app.tag(1))
    started = time.monotonic()
    result, load = under_load(provisioned, app, "rollback", stack(app, app.tag(2)))
    print(f"{app.name} rollback: {time.monotonic() - started:.1f} s")
    assert_succeeded(result, "rollback", app)
    assert_load(load, [app.tag(2), app.tag(1)])


@one_app(STUBBORN)
def test_switch(provisioned, app):
    ensure_live(provisioned, app, app.tag(2), standby=app.tag(1))  # where test_new_release left it
    started = time.monotonic()
    result, load = under_load(provisioned, app, "switch", stack(app, app.tag(1)))
    print(f"{app.name} switch: {time.monotonic() - started:.1f} s")
    assert_succeeded(result, "switch", app)
    assert_load(load, [app.tag(2), app.tag(1)])


@one_app(STUBBORN)
def test_the_standby_stops_beside_the_new_release_not_before_it(provisioned, app):
    """The idle colour runs the release before last (the warm standby), whose app ignores SIGTERM: the new
    release starts beside it under the same container names while it stops in the background within its
    grace period; berth_standby_overlap false (the old order) waits for that grace before the start."""
    grace = 5.0
    ensure_live(provisioned, app, app.tag(1), standby=app.tag(2))  # where test_switch left it
    since = time.time()
    result, load = under_load(provisioned, app, "deploy", stack(app, app.tag(2), echo="gamma"))
    record = assert_succeeded(result, "deploy", app)
    assert_load(load, [app.tag(1), app.tag(2)])
    # The order as Docker saw it, whatever the machine's load: the new web container started before the
    # standby it replaced died (SIGKILL at the end of its grace; its old order is die, then start).
    started, died = container_events(app, since, f"{app.name}-{record['colour']}-web-1")
    print(f"{app.name}: new web started {(died - started) / 1e9:.1f} s before the old standby died")
    assert started < died, (started, died)
    assert "stop in the background" in result.stdout, result.stdout[-3000:]
    assert env_in_container(app, record["colour"]) == "gamma"
    deadline = time.monotonic() + grace + 10
    while [c for c in app_containers(app) if "-retired-" in c] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not [c for c in app_containers(app) if "-retired-" in c], app_containers(app)

    result = playbook(provisioned, "deploy", stack(app, app.tag(1), echo="delta", berth_standby_overlap=False))
    record = assert_succeeded(result, "deploy", app)
    assert float(record["timings"]["start"]) >= grace, record["timings"]
    assert "berth_standby_overlap is false" in result.stdout, result.stdout[-3000:]


def test_env_change_is_a_new_release(provisioned, app):
    tag, echo = live_release(provisioned, app, app.tag(2))  # the version does not matter, the env does
    assert echo != "beta", echo
    before = releases(app)[0]["id"]
    result, load = under_load(provisioned, app, "deploy", stack(app, tag, echo="beta"))
    assert "nothing to do" not in result.stdout, "an env change was taken for a no-op"
    record = assert_succeeded(result, "deploy", app)
    assert record["id"] != before
    assert live(provisioned, app)["env"] == "beta"
    assert env_in_container(app, record["colour"]) == "beta"
    assert_load(load, [tag])


@one_app(WARM)
def test_rollback_restores_the_previous_env(provisioned, app):
    """A rollback does not depend on how the app starts or stops (test_rollback's apps, test_every_change's
    fields): once, with the app that starts the slowest. Right after test_env_change_is_a_new_release,
    whose release (and the one before it, the same version with APP_ECHO=alpha) it starts from."""
    tag, echo = live_release(provisioned, app, app.tag(2))
    if echo != "beta":
        ensure_live(provisioned, app, tag, echo="beta", standby=tag)
    result, load = under_load(provisioned, app, "rollback", stack(app, tag, echo="beta"))
    record = assert_succeeded(result, "rollback", app)
    assert (live(provisioned, app)["version"], live(provisioned, app)["env"]) == (tag, "alpha")
    assert env_in_container(app, record["colour"]) == "alpha"
    assert_load(load, [tag])


@one_app(STUBBORN)
def test_a_release_that_never_becomes_healthy_fails_at_the_gate(provisioned, app):
    tag, _echo = live_release(provisioned, app, app.tag(2))
    routes = routing(app)
    broken = stack(app, "broken", web={"env": {"APP_PORT": str(app.port)},
                                       "health": {"interval": 1, "timeout": 2,
                                                  "start_timeout": BROKEN_START_TIMEOUT}})
    result, load = under_load(provisioned, app, "deploy", broken, rate=STILL_RATE)
    assert result.returncode != 0
    failed = releases(app)[0]
    assert failed["status"] == "failed" and failed["step"] == "gate", failed
    assert "Public routes were never changed" in failed["message"], failed["message"]
    assert failed["message"] in result.stdout, result.stdout[-4000:]
    assert routing(app) == routes, "the failed deploy changed the routing file"
    assert live(provisioned, app)["version"] == tag
    assert_load(load, [tag])


@one_app(WARM)
def test_a_release_that_fails_its_public_check_is_undone(provisioned, app):
    tag, _echo = live_release(provisioned, app, app.tag(2))
    routes = routing(app)
    variables = stack(app, other(app, tag), web={"env": {"FAIL_HEALTH_HOST": app.domain}})
    result, load = under_load(provisioned, app, "deploy", variables)
    assert result.returncode != 0, "the public health check failed, yet the deploy succeeded"
    failed = releases(app)[0]
    assert failed["status"] == "failed" and failed["step"] == "confirm", failed
    assert "Routes put back as they were" in failed["message"], failed["message"]
    assert routing(app) == routes, "the rescue did not restore the routing file byte for byte"
    assert live(provisioned, app)["version"] == tag
    assert_load(load)


def test_a_deploy_killed_at_its_gate_leaves_the_live_release_and_the_next_one_succeeds(provisioned, app):
    """SIGKILL to the whole ansible-playbook while the new colour warms up behind its gate: users keep
    the live release, the dead run's lock stays, and the next deploy breaks it and goes live (with the
    full gate: the containers the dead run started never passed one)."""
    tag, _echo = live_release(provisioned, app, app.tag(2))
    routes = routing(app)
    new = stack(app, other(app, tag), echo="gamma")
    with LockWatch(app) as lock:
        reached, load = killed_under_load(provisioned, app, new, "Gate | Gate through its private routes", after=2)
    assert reached, "the deploy never reached its gate"
    assert lock.seen and on_droplet(f"test -e {lock.path}", check=False).returncode == 0
    assert routing(app) == routes, "the killed deploy changed the routing file"
    assert live(provisioned, app)["version"] == tag
    assert_load(load, [tag])

    result, load = under_load(provisioned, app, "deploy", new)
    record = assert_succeeded(result, "deploy", app)
    assert broke_a_dead_lock(result.stdout) and not record["warm"], result.stdout[-4000:]
    assert (live(provisioned, app)["version"], live(provisioned, app)["env"]) == (other(app, tag), "gamma")
    assert_load(load, [tag, other(app, tag)])


@one_app(LEAN)
def test_a_deploy_killed_after_its_switch_leaves_one_release_live_and_the_next_deploy_records_it(provisioned, app):
    """SIGKILL while the public check of a switched release runs: the switch already happened, so the
    new release serves (one flip, nothing dropped); the next deploy breaks the dead run's lock and
    ends with that release live and recorded. Its release has the long stop_grace_period the next test
    (the retire) needs on the colour it stops."""
    ensure_live(provisioned, app, app.tag(1), echo="gamma")
    new = stack(patient(app), app.tag(2), echo="delta")
    reached, load = killed_under_load(provisioned, app, new, "Confirm | Confirm through the public entrypoint",
                                      after=0.5)
    assert reached, "the deploy never reached its confirm step"
    assert (live(provisioned, app)["version"], live(provisioned, app)["env"]) == (app.tag(2), "delta")
    assert_load(load, [app.tag(1), app.tag(2)])

    result, load = under_load(provisioned, app, "deploy", new)
    assert_succeeded(result, "deploy", app)
    assert broke_a_dead_lock(result.stdout), result.stdout[-4000:]
    assert (live(provisioned, app)["version"], live(provisioned, app)["env"]) == (app.tag(2), "delta")
    assert_load(load, [app.tag(2)])


@one_app(LEAN)
def test_a_colour_stopped_after_the_switch_finishes_its_long_requests(provisioned, app):
    """berth_keep_warm: false stops the previous colour after the switch while requests longer than the
    confirm are in flight on it: they finish within its stop_grace_period (last: the live release then
    keeps no standby). `drain: 0`: the retire begins at once after the switch, not once the long
    requests ended (the drain's own test is test_drain.py). The test proves it had something to prove:
    a long request on the old colour was still in flight when the retire began (it ended just before
    the old container exited)."""
    ensure_live(provisioned, patient(app), app.tag(2), echo="delta")  # where the test before left it
    wall = time.time() - time.monotonic()
    result, load = under_load(provisioned, app, "deploy", stack(patient(app), app.tag(1), web={"drain": 0},
                                                                 berth_keep_warm=False),
                              slow_ms=RETIRE_SLOW_MS)
    record = assert_succeeded(result, "deploy", app)
    assert_load(load, [app.tag(2), app.tag(1)])
    old = "blue" if record["colour"] == "green" else "green"
    states = {line.split()[0]: line.split()[-1] for line in app_containers(app)}
    assert states[f"{app.name}-{old}-web-1"] == "exited", states
    exited = on_droplet(f"docker inspect -f '{{{{.State.FinishedAt}}}}' {app.name}-{old}-web-1").stdout.strip()
    exited_at = datetime.fromisoformat(exited[:26].rstrip("Z") + "+00:00").timestamp()
    last_old = max(a.ended + wall for a in load.slow_answers if a.version == app.tag(2))
    print(f"last long answer from the old colour {exited_at - last_old:.2f} s before it exited")
    assert exited_at - 3 <= last_old <= exited_at + 1, (
        "no long request was in flight on the old colour when it was stopped: this run proves nothing "
        f"(its last ended {exited_at - last_old:.1f} s before the container exited)")

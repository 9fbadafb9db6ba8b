"""What a release attempt records and says (module_utils/_attempt.py): the failed step named by the failed
task's prefix, the exact failure message for each step, what users are on afterwards, and the records
steps_finish.yml and rescue.yml hand to release_log (built here, not in Jinja)."""

from __future__ import annotations

import pytest
from ansible_collections.berth.ops.plugins.filter import attempt as filters
from ansible_collections.berth.ops.plugins.filter.attempt import record_directory
from ansible_collections.berth.ops.plugins.module_utils import _attempt
from test_spec_refusals import load

LIVE = {"id": "r1", "status": "succeeded", "colour": "blue"}
PLAN = {"colour": "green", "live_colour": "blue", "live": LIVE, "rendered": "", "adopt": False, "fallback": {},
        "images": {"web": "ghcr.io/acme/web@sha256:1"}, "differences": ["image of web: a -> b"],
        "checksums": {"release": "plan-sum"}, "warm": False, "target": None}
ROUTES = ["/opt/traefik/dynamic/shop.yml"]
BACK = "Routes put back as they were (/opt/traefik/dynamic/shop.yml); \n"
NEVER = "Public routes were never changed; \n"

# One case per step of the pipeline: (failed task's name, its result, routes put back, colour taken down) ->
# the exact message.
STEPS = {
    "render": ("Render | Write this release's files for colour green", {"msg": "cannot write"}, [], False,
               "deploy r4 failed at step 'render' (Render | Write this release's files for colour green): cannot write "
               + NEVER + "traffic stays on blue (release r1)."),
    "pull": ("Pull | Pull the images of colour green", {"stderr": "  manifest unknown\n", "rc": 1}, [], False,
             "deploy r4 failed at step 'pull' (Pull | Pull the images of colour green): manifest unknown "
             + NEVER + "traffic stays on blue (release r1)."),
    "accessories": ("Accessories | Apply changed accessories in place (not blue/green)", {"msg": "no"}, [], False,
                    "deploy r4 failed at step 'accessories' (Accessories | Apply changed accessories in place "
                    "(not blue/green)): no " + NEVER + "traffic stays on blue (release r1)."),
    "backup": ("Backup | Take a verified backup before the hooks", {"msg": "dump failed"}, [], False,
               "deploy r4 failed at step 'backup' (Backup | Take a verified backup before the hooks): "
               "dump failed " + NEVER + "traffic stays on blue (release r1)."),
    "hook": ("Hook | Run in a one-off container of the new release hook migrate", {"msg": "exit 3"}, [], False,
             "deploy r4 failed at step 'hook migrate' (Hook | Run in a one-off container of the new release hook "
             "migrate): exit 3 " + NEVER + "traffic stays on blue (release r1)."),
    "start": ("Start | Start colour green", {"msg": "port in use"}, [], True,
              "deploy r4 failed at step 'start' (Start | Start colour green): port in use " + NEVER
              + "colour green taken down; traffic stays on blue (release r1)."),
    "gate": ("Gate | Gate through its private routes colour green",
             {"results": [{"failed": False, "msg": "ok"}, {"failed": True, "msg": "web: 3 bad answers"}]}, [], True,
             "deploy r4 failed at step 'gate' (Gate | Gate through its private routes colour green): "
             "web: 3 bad answers " + NEVER + "colour green taken down; traffic stays on blue (release r1)."),
    "singletons": ("singletons | Start the changed singletons of the release", {"msg": "x"}, [], True,
                   "deploy r4 failed at step 'singletons' (singletons | Start the changed singletons of the release): "
                   "x " + NEVER + "colour green taken down; traffic stays on blue (release r1)."),
    "switch": ("Switch | Put live colour green", {"msg": "Traefik did not load it"}, ROUTES, True,
               "deploy r4 failed at step 'switch' (Switch | Put live colour green): Traefik did not load it "
               + BACK + "colour green taken down; traffic stays on blue (release r1)."),
    "confirm": ("Confirm | Confirm through the public entrypoint colour green", {"msg": "503"}, ROUTES, True,
                "deploy r4 failed at step 'confirm' (Confirm | Confirm through the public entrypoint colour green): "
                "503 " + BACK + "colour green taken down; traffic stays on blue (release r1)."),
    "no task": ("?", {}, [], False,
                "deploy r4 failed at step '?' (?):  " + NEVER + "traffic stays on blue (release r1)."),
}


@pytest.mark.parametrize("step", STEPS)
def test_the_failure_message_of_each_step(step):
    task, result, routes, taken_down, message = STEPS[step]
    failed = _attempt.failure(PLAN, "r4", kind="deploy", task=task, result=result, routes=routes, taken_down=taken_down)
    assert failed["message"] == message
    assert failed["step"] == ("hook migrate" if step == "hook" else step if step != "no task" else "?")
    assert failed["restored"] == {"routes": routes, "colour_taken_down": "green" if taken_down else "",
                                  "live_colour": "blue", "live_release": "r1"}


def test_what_users_are_on_after_a_failure_with_nothing_live_or_an_adopted_release():
    first = {**PLAN, "colour": "blue", "live_colour": "", "live": None}
    assert _attempt.failure(first, "r1", kind="deploy", task="Gate | g", result={"msg": "m"}, routes=[],
                            taken_down=True)["message"].endswith("colour blue taken down; nothing was live.")
    adopted = {**PLAN, "adopt": True, "live_colour": "green", "rendered": "r3"}
    back = {**adopted, "fallback": {"colour": "blue", "release": "r2", "warm": True, "routes_from": "r3"}}
    assert _attempt.failure(back, "r4", kind="deploy", task="Confirm | c", result={"msg": "m"}, routes=ROUTES,
                            taken_down=False)["message"].endswith(
        BACK + "traffic is back on blue (release r2), live before the killed run switched to r3, which stays in "
               "colour green.")
    stays = {**adopted, "fallback": {"colour": "blue", "release": "r2", "warm": False, "routes_from": ""}}
    assert _attempt.failure(stays, "r4", kind="deploy", task="Gate | g", result={"msg": "m"}, routes=[],
                            taken_down=False)["message"].endswith(
        "traffic stays on green (release r3, which a killed run switched to unrecorded: blue does not run release r2 "
        "any more).")
    alone = {**adopted, "fallback": {"colour": "blue", "release": "", "warm": False, "routes_from": ""}}
    assert _attempt.failure(alone, "r4", kind="rollback", task="Gate | g", result={"msg": "m"}, routes=[],
                            taken_down=False)["message"] == (
        "rollback r4 failed at step 'gate' (Gate | g): m " + NEVER
        + "traffic stays on green (release r3, which a killed run switched to unrecorded: blue ran nothing before it).")


def test_the_failed_record_names_the_step_message_and_what_was_restored():
    failed = _attempt.failure(PLAN, "r4", kind="deploy", task="Gate | g", result={"msg": "m"}, routes=[],
                              taken_down=True)
    record = filters.release_record(PLAN, "r4", "deploy", render={"checksums": {"release": "rendered-sum"}},
                                    git_sha="abc", operator="alice", failed=failed)
    assert record == {"id": "r4", "status": "failed", "kind": "deploy", "colour": "green", "rendered": "r4",
                      "checksum": "rendered-sum", "digests": PLAN["images"], "differences": PLAN["differences"],
                      "git_sha": "abc", "operator": "alice", "step": "gate", "message": failed["message"],
                      "restored": {"routes": [], "colour_taken_down": "green", "live_colour": "blue",
                                   "live_release": "r1"}}
    # Failed before anything was rendered or planned with a checksum: the checksum is empty.
    assert filters.release_record({**PLAN, "checksums": {}}, "r4", "deploy", render={"failed": True},
                                  failed=failed)["checksum"] == ""


def test_the_succeeded_record_with_its_timings_and_drain():
    marks = {"started": 100.0, "pulled": 103.456, "running": 104.0}
    steps = {"gate": {"elapsed": 2.5}, "switch": {"elapsed": 0.4}, "confirm": {}, "drain": {"skipped": True}}
    warm = {**PLAN, "rendered": "r0", "warm": True, "target": {"id": "r0"}}
    record = _attempt.record(warm, "r4", kind="rollback", render={"skipped": True}, git_sha="abc", operator="alice",
                             drain={"open": 1, "services": {"web": 1}, "closed": 1, "elapsed": 3.0, "msg": "m"},
                             timings=_attempt.timings(marks, steps, now=110.004))
    assert record == {"id": "r4", "status": "succeeded", "kind": "rollback", "colour": "green",
                      "previous_colour": "blue",
                      "adopted": False, "rendered": "r0", "checksum": "plan-sum", "digests": PLAN["images"],
                      "differences": PLAN["differences"], "source": "r0", "warm": True,
                      "drain": {"open": 1, "services": {"web": 1}, "closed": 1},
                      "timings": {"pull": 3.46, "start": 0.54, "gate": 2.5, "switch": 0.4, "confirm": 0, "drain": 0,
                                  "total": 10.0},
                      "git_sha": "abc", "operator": "alice"}
    adopted = _attempt.record({**PLAN, "adopt": True, "live_colour": "green", "rendered": "r3"}, "r4", kind="deploy",
                              render={}, git_sha="", operator="", drain={"skipped": True}, timings={})
    assert adopted["previous_colour"] == "blue" and adopted["adopted"] is True and adopted["rendered"] == "r3"
    assert adopted["drain"] == {} and adopted["source"] == ""


def test_the_release_directory_is_the_reused_one_or_the_attempts_own():
    assert filters.release_directory(PLAN, "r4") == "r4"
    assert filters.release_directory({**PLAN, "rendered": "r0"}, "r4") == "r0"


def test_the_role_hands_records_and_failures_to_python():
    finish = next(t for t in load("roles/release/tasks/steps_finish.yml") if t["name"] == "Record | Record the release")
    assert "berth.ops.release_record(" in finish["berth.ops.release_log"]["record"]
    rescue = {t["name"]: t for t in load("roles/release/tasks/rescue.yml")}
    assert "failed=__release_failed" in rescue["rescue | Record the failed attempt"]["berth.ops.release_log"]["record"]
    fail = rescue["rescue | Fail with what went wrong"]["ansible.builtin.fail"]
    assert fail["msg"] == "{{ __release_failed.message }}"
    files = load("roles/release/vars/main.yml")["__release_files"]
    assert "berth.ops.release_directory(release_id)" in files


def test_a_records_directory_is_the_one_it_reused_else_its_own():
    assert record_directory({"id": "r2", "rendered": "r1"}) == "r1"
    assert record_directory({"id": "r2"}) == "r2"
    assert record_directory(None) == ""

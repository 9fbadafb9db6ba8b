"""A failed gate or confirm of an adopted release (a killed run switched to it, unrecorded; the next deploy
adopted it): users go back to the release live before that switch when its colour still runs it, through
the routes the killed run saved; otherwise the adopted release stays live and the failure says so.
The decision is _records.adopted_fallback (what release_plan returns as `fallback`), what users are on
afterwards _attempt.users_on; rescue.yml's routes task is templated here from the real file, as Ansible runs it."""

from __future__ import annotations

from ansible.template import Templar
from ansible_collections.berth.ops.plugins.module_utils import _attempt, _records
from test_spec_refusals import LOADER, load

WEB = {"services": {"web": {}}}
# newest first: r2 went live on blue, r1 before it on green; a killed run then rendered r3 in green and
# switched to it without a record.
HISTORY = [
    {"id": "r2", "status": "succeeded", "colour": "blue"},
    {"id": "r1", "status": "succeeded", "colour": "green"},
]
RESCUE = load("roles/release/tasks/rescue.yml")


def running(release: str) -> dict:
    return {"web": {"release": release, "running": True}}


def fallback(blue: dict, records: list[dict] | None = None, kept: frozenset = frozenset({"r1", "r2"})) -> dict:
    containers = {"blue": blue, "green": running("r3")}
    return _records.adopted_fallback(HISTORY if records is None else records, containers, "green", "r3",
                                      lambda rendered: WEB if rendered in kept else None)


def test_users_go_back_to_the_release_live_before_the_killed_switch_when_its_colour_still_runs_it():
    assert fallback(running("r2")) == {"colour": "blue", "release": "r2", "warm": True, "routes_from": "r3"}


def test_the_adopted_release_stays_live_when_nothing_else_would_answer():
    stopped = {"web": {"release": "r2", "running": False}}
    assert fallback(stopped) == {"colour": "blue", "release": "r2", "warm": False, "routes_from": ""}
    # Another release in blue (a killed run's leftovers), or nothing there, or r2's directory gone.
    assert fallback(running("r9"))["routes_from"] == ""
    assert fallback({})["routes_from"] == ""
    assert fallback(running("r2"), kept=frozenset())["routes_from"] == ""
    # The first release ever, killed after its switch: no record, nothing to go back to.
    assert fallback({}, records=[]) == {"colour": "blue", "release": "", "warm": False, "routes_from": ""}


def test_a_warm_reuse_is_found_by_the_directory_its_containers_run_from():
    # r2b reused r2's rendering warm: blue's containers carry r2, the record names r2 as rendered.
    records = [{"id": "r2b", "status": "succeeded", "colour": "blue", "rendered": "r2"}, *HISTORY]
    assert fallback(running("r2"), records) == {"colour": "blue", "release": "r2b", "warm": True, "routes_from": "r3"}


def rescue_task(name: str) -> dict:
    return next(task for task in RESCUE if task["name"] == name)


def template(value: object, plan: dict, restored: list[str]) -> object:
    variables = {"release_plan": plan, "release_id": "r4", "__release_restored": {"files": restored}}
    return Templar(loader=LOADER, variables=variables).template(value)


ADOPTED = {"adopt": True, "colour": "green", "rendered": "r3", "live_colour": "green", "live": HISTORY[1]}


def test_the_rescue_puts_back_the_killed_runs_routes_only_for_an_adopted_release_with_a_warm_fallback():
    routes = rescue_task("rescue | Put back the routes users saw before")["berth.ops.release_switch"]["release_id"]
    back = {**ADOPTED, "fallback": fallback(running("r2"))}
    assert template(routes, back, []) == "r3"
    stays = {**ADOPTED, "fallback": fallback({})}
    assert template(routes, stays, []) == "r4"
    ordinary = {"adopt": False, "fallback": {}, "colour": "blue", "live_colour": "green", "live": HISTORY[1]}
    assert template(routes, ordinary, []) == "r4"


def test_the_rescue_says_which_release_users_are_on_afterwards():
    back = {**ADOPTED, "fallback": fallback(running("r2"))}
    assert _attempt.users_on(back) == {"colour": "blue", "release": "r2"}
    # Not put back: the adopted release (green, r3), not the older record of green (r1).
    assert _attempt.users_on({**ADOPTED, "fallback": fallback({})}) == {"colour": "green", "release": "r3"}
    ordinary = {"adopt": False, "fallback": {}, "colour": "blue", "live_colour": "green", "live": HISTORY[1]}
    assert _attempt.users_on(ordinary) == {"colour": "green", "release": "r1"}
    # Behind a load balancer the fleet revert put the routes back already: nothing left to write, still back.
    failed = _attempt.failure(back, "r4", kind="deploy", task="Gate | g", result={"msg": "m"}, routes=[],
                              taken_down=False)
    assert failed["restored"]["live_colour"] == "blue" and failed["restored"]["live_release"] == "r2"
    # rescue.yml hands the decision to Python (the release_failure filter), it does not make it.
    describe = rescue_task("rescue | Describe the failure")["ansible.builtin.set_fact"]["__release_failed"]
    assert "berth.ops.release_failure(" in describe

"""release_plan's decisions that need no host: which release a colour runs, whether it is warm, and
what a rollback or switch returns to."""

from ansible_collections.berth.ops.plugins.modules import release_plan as plan

SPEC = {"services": {"web": {}, "worker": {}}}
RECORDS = [  # newest first, as _releases.load gives them
    {"id": "r3", "status": "failed", "colour": "green", "checksum": "c3"},
    {"id": "r2", "status": "succeeded", "colour": "blue", "checksum": "c2"},
    {"id": "r2b", "status": "succeeded", "colour": "green", "checksum": "c2", "rendered": "r2"},
    {"id": "r1", "status": "succeeded", "colour": "green", "checksum": "c1"},
]


def running(release: str) -> dict:
    return {"release": release, "running": True}


def test_a_colour_runs_a_release_only_when_every_app_service_runs_it():
    assert plan.colour_release({"web": running("r2"), "worker": running("r2")}, SPEC) == "r2"
    assert plan.colour_release({"web": running("r2"), "worker": running("r1")}, SPEC) == ""
    assert plan.colour_release({"web": running("r2")}, SPEC) == ""
    assert plan.colour_release({"web": running("r2"), "worker": {"release": "r2", "running": False}}, SPEC) == ""
    assert plan.colour_release({}, None) == ""


def test_only_a_release_that_went_live_before_is_warm():
    assert plan.went_live(RECORDS, "r2") and plan.went_live(RECORDS, "r1")
    assert not plan.went_live(RECORDS, "r3"), "a failed release was undone"
    assert not plan.went_live(RECORDS, "r9"), "containers a killed run left behind have no record"
    # Containers carry the id of the rendering (r2), never of a record that reused it.
    assert not plan.went_live(RECORDS, "r2b")


def test_rollback_returns_to_the_newest_good_release_that_differs_from_the_live_one():
    live = RECORDS[1]
    target, why = plan.pick_target("rollback", RECORDS, live, "c2", wanted="", idle_containers={})
    assert target is RECORDS[3] and why == ""
    target, why = plan.pick_target("rollback", RECORDS, live, "c2", wanted="r9", idle_containers={})
    assert target is None and why == "no succeeded release r9"
    assert plan.pick_target("rollback", RECORDS, None, "", wanted="", idle_containers={}) == (None, "nothing is live")
    assert plan.pick_target("rollback", RECORDS[:2], live, "c2", wanted="", idle_containers={}) == \
        (None, "no previous good release to return to")


def test_switch_returns_to_what_the_idle_colour_runs():
    idle = {"web": running("r1"), "worker": running("r1")}
    assert plan.pick_target("switch", RECORDS, RECORDS[1], "c2", wanted="", idle_containers=idle) == (RECORDS[3], "")
    mixed = {"web": running("r1"), "worker": running("r2")}
    assert plan.pick_target("switch", RECORDS, RECORDS[1], "c2", wanted="", idle_containers=mixed)[1] == \
        "the other colour has no containers of one release"
    killed = {"web": running("r9"), "worker": running("r9")}
    assert plan.pick_target("switch", RECORDS, RECORDS[1], "c2", wanted="", idle_containers=killed)[1] == \
        "no succeeded release rendered r9"

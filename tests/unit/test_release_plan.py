"""release_plan's decisions that need no host: which release a colour runs, whether it is warm, and
what a rollback or switch returns to."""

from ansible_collections.berth.ops.plugins.module_utils import _records
from ansible_collections.berth.ops.plugins.modules import release_plan as plan

SPEC = {"services": {"web": {}, "worker": {}}}
RECORDS = [  # newest first, as _records.load gives them
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


# The deploy decision (_records.plan_deploy): what a deploy of a spec does, from what the host showed.

WEB = {"services": {"web": {}}}
HISTORY = [  # newest first: r2 live on blue, r1 before it on green
    {"id": "r2", "status": "succeeded", "colour": "blue"},
    {"id": "r1", "status": "succeeded", "colour": "green"},
]


def state(live_colour: str, blue: str = "", green: str = "", records: list | None = None) -> dict:
    colours = {"blue": blue, "green": green}
    return {"live_colour": live_colour, "records": HISTORY if records is None else records,
            "containers": {c: ({"web": running(r)} if r else {}) for c, r in colours.items()}}


def decide(live_state: dict, differences: list[str], same: set[str] = frozenset()) -> dict:
    return _records.plan_deploy(live_state, WEB, differences, lambda rendered: rendered in same)


def test_a_new_release_goes_to_the_idle_colour():
    got = decide(state("blue", blue="r2", green="r1"), ["image of web: a -> b"])
    assert got == {"colour": "green", "noop": False, "warm": False, "adopt": False, "rendered": "",
                   "differences": ["image of web: a -> b"]}


def test_the_first_release_goes_to_blue():
    got = decide(state("", records=[]), ["nothing is live yet"])
    assert (got["colour"], got["noop"], got["warm"], got["adopt"]) == ("blue", False, False, False)


def test_nothing_differing_is_a_noop_unless_the_live_colour_stopped():
    assert decide(state("blue", blue="r2", green="r1"), [])["noop"]
    stopped = state("blue", green="r1")
    stopped["containers"]["blue"] = {"web": {"release": "r2", "running": False}}
    got = decide(stopped, [])
    assert not got["noop"] and got["differences"] == ["colour blue: web not running"]


def test_a_rollback_to_what_the_idle_colour_runs_is_warm():
    # Deploying r1's release again: green runs exactly it and it went live before.
    got = decide(state("blue", blue="r2", green="r1"), ["image of web: b -> a"], same={"r1"})
    assert (got["colour"], got["warm"], got["rendered"], got["adopt"]) == ("green", True, "r1", False)


def test_containers_a_killed_run_left_in_the_idle_colour_are_not_warm():
    # Killed before its switch: green runs r3, which never went live; it is started again, fully gated.
    got = decide(state("blue", blue="r2", green="r3"), ["image of web: b -> c"], same={"r3"})
    assert (got["colour"], got["warm"], got["adopt"]) == ("green", False, False)


def test_a_release_a_killed_run_switched_to_is_adopted_not_flipped():
    # Killed after its switch: the routes point at green, which runs r3, exactly this release, unrecorded.
    # The live record is r1 (the newest succeeded one of green): without adoption r3 would go cold to blue.
    got = decide(state("green", blue="r2", green="r3"), ["image of web: a -> c"], same={"r3"})
    assert (got["colour"], got["warm"], got["adopt"], got["rendered"], got["noop"]) == \
        ("green", True, True, "r3", False)
    assert "adopted" in got["differences"][0]
    # The first release ever, killed after its switch: nothing recorded at all.
    got = decide(state("blue", blue="r9", records=[]), ["nothing is live yet"], same={"r9"})
    assert (got["colour"], got["adopt"], got["rendered"]) == ("blue", True, "r9")


def test_only_exactly_this_release_is_adopted():
    # Another release serves unrecorded (the run that switched to it deployed something else): a new release.
    got = decide(state("green", blue="r2", green="r3"), ["image of web: a -> d"], same=set())
    assert (got["colour"], got["adopt"]) == ("blue", False)
    # The live colour runs the recorded live release: nothing to adopt.
    got = decide(state("blue", blue="r2", green="r1"), ["env"], same={"r2"})
    assert (got["colour"], got["adopt"]) == ("green", False)
    # Services of two releases in the live colour: not one release, not adopted.
    mixed = state("green", blue="r2")
    mixed["containers"]["green"] = {"web": running("r3"), "worker": running("r4")}
    got = _records.plan_deploy(mixed, {"services": {"web": {}, "worker": {}}}, ["x"], lambda r: True)
    assert got["adopt"] is False


# What a rollback or switch does (_records.plan_return), from what the host showed.

def back(kind: str, idle: dict, wanted: str = "", kept: frozenset = frozenset({"r1", "r2"}), live=RECORDS[1]) -> dict:
    live_state = {"records": RECORDS, "live": live, "live_sum": "c2", "idle": idle}
    return _records.plan_return(kind, live_state, wanted, lambda rendered: SPEC if rendered in kept else None)


def test_a_rollback_to_what_the_idle_colour_runs_is_a_flip():
    got = back("rollback", {"web": running("r1"), "worker": running("r1")})
    assert got == {"target": RECORDS[3], "spec": SPEC, "warm": True, "rendered": "r1", "env_from": ""}


def test_a_rollback_to_a_stopped_colour_renders_the_target_anew_with_its_env():
    stopped = {"web": {"release": "r1", "running": False}, "worker": running("r1")}
    for idle in ({}, stopped, {"web": running("r9"), "worker": running("r9")}):
        got = back("rollback", idle)
        assert got == {"target": RECORDS[3], "spec": SPEC, "warm": False, "rendered": "", "env_from": "r1"}


def test_a_rollback_to_a_named_release_reuses_its_rendering():
    # r2b went live by reusing r2's directory (a warm switch): returning to it names r2, where its files are.
    got = back("rollback", {"web": running("r2"), "worker": running("r2")}, wanted="r2b", live=RECORDS[3])
    assert got["target"] is RECORDS[2] and got["rendered"] == "r2" and got["warm"]


def test_a_switch_flips_to_what_the_idle_colour_runs_even_when_stopped():
    idle = {"web": {"release": "r1", "running": False}, "worker": {"release": "r1", "running": False}}
    assert back("switch", idle) == {"target": RECORDS[3], "spec": SPEC, "warm": False, "rendered": "r1",
                                    "env_from": ""}
    assert back("switch", {"web": running("r1"), "worker": running("r1")})["warm"]


def test_a_return_is_refused_with_why_and_when_the_release_directory_is_gone():
    assert back("switch", {}) == {"refused": "the other colour has no containers of one release"}
    assert back("rollback", {}, live=None) == {"refused": "nothing is live"}
    assert back("rollback", {}, wanted="r3") == {"refused": "no succeeded release r3"}, "a failed release"
    assert back("rollback", {}, kept=frozenset()) == {"refused": "its release directory is gone"}

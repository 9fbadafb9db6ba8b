"""Where a host that went live in a failed fleet run goes back (module_utils/_fleet.py ``revert``): a host this
run switched to its previous colour; a host that adopted the release a killed run switched to only when the
colour live before that switch still runs it (release_plan's ``fallback``), otherwise it keeps the adopted
release drained from the load balancer. fleet_flip.yml, fleet_revert.yml and fleet_finalize.yml are templated
here from the real files, as Ansible runs them."""

from __future__ import annotations

import re

from ansible.template import Templar, trust_as_template
from ansible_collections.berth.ops.plugins.filter.lb import fleet_revert
from ansible_collections.berth.ops.plugins.module_utils import _records
from test_adopted_rescue import HISTORY, WEB, running
from test_spec_refusals import LOADER, load

UNDO = load("roles/release/tasks/fleet_undo.yml")
REVERT = load("roles/release/tasks/fleet_revert.yml")
FINALIZE = load("roles/release/tasks/fleet_finalize.yml")
# This run (r4) switched an ordinary host from green (r1 live) to blue.
SWITCHED = {"adopt": False, "colour": "blue", "live_colour": "green", "live": HISTORY[1], "rendered": "",
            "fallback": {}}


def adopted(blue: dict) -> dict:
    """A host where a killed run rendered r3 in green and switched to it, unrecorded; r2 was live on blue."""
    fallback = _records.adopted_fallback(HISTORY, {"blue": blue, "green": running("r3")}, "green", "r3",
                                          lambda rendered: WEB)
    return {"adopt": True, "colour": "green", "live_colour": "green", "live": HISTORY[1], "rendered": "r3",
            "fallback": fallback}


def test_a_host_this_run_switched_goes_back_to_its_previous_colour_through_this_runs_routes():
    assert fleet_revert(SWITCHED, "r4", 3) == {"back": True, "routes_from": "r4", "colour": "green", "release": "r1",
                                               "drained": False, "why": ""}


def test_an_adopted_host_goes_back_through_the_killed_runs_routes_only_when_its_previous_colour_still_runs():
    assert fleet_revert(adopted(running("r2")), "r4", 3) == {
        "back": True, "routes_from": "r3", "colour": "blue", "release": "r2", "drained": False, "why": ""}
    # Blue stopped, or running another release, or nothing: the adopted release stays, out of the rotation.
    for blue, why in (({"web": {"release": "r2", "running": False}}, "colour blue does not run release r2 any more"),
                      (running("r9"), "colour blue does not run release r2 any more")):
        assert fleet_revert(adopted(blue), "r4", 3) == {
            "back": False, "routes_from": "", "colour": "green", "release": "r3", "drained": True, "why": why}
    first = {**adopted({}), "fallback": {"colour": "blue", "release": "", "warm": False, "routes_from": ""}}
    assert fleet_revert(first, "r4", 3)["why"] == "colour blue ran nothing before it"
    # One host alone has nobody else to answer: it keeps serving.
    assert fleet_revert(adopted({}), "r4", 1)["drained"] is False


def task(tasks: list, prefix: str) -> dict:
    for item in tasks:
        if item["name"].startswith(prefix):
            return item
        for nested in item.get("block", []) + item.get("rescue", []):
            if nested["name"].startswith(prefix):
                return nested
    raise KeyError(prefix)


CALL = re.compile(r"([\w\[\]_.]+) \| berth\.ops\.fleet_revert\(release_id, ansible_play_hosts_all \| length\)")


def template(value: object, **variables: object) -> object:
    """As Ansible templates it; the filter berth.ops.fleet_revert (which a bare Templar does not find) is
    called here on what the task passes it, with this run's id and 3 hosts."""
    values = {"release_id": "r4", "ansible_play_hosts_all": ["h1", "h2", "h3"], **variables}
    if isinstance(value, str) and "berth.ops.fleet_revert" in value:
        (subject,) = set(CALL.findall(value))
        plan = Templar(loader=LOADER, variables=values).template(trust_as_template("{{ " + subject + " }}"))
        values["__revert_of_plan"] = fleet_revert(plan, "r4", 3)
        value = trust_as_template(CALL.sub("__revert_of_plan", value))
        assert "berth.ops" not in value, value
    return Templar(loader=LOADER, variables=values).template(value)


def test_the_failed_host_puts_back_the_routes_the_decision_names_and_stays_out_when_it_cannot_go_back():
    decide = task(UNDO, "Revert | Decide where this host goes back")["ansible.builtin.set_fact"]
    restore = task(UNDO, "Revert | Put back the routes users saw before on this host")
    drain = task(UNDO, "Revert | Take this host out of the load balancer's rotation before")
    rejoin = task(UNDO, "Revert | Put this host back into the load balancer's rotation")
    # (plan, flipped here, routes put back from, drained first, rejoined)
    for plan, flipped, routes_from, drained, rejoined in (
            (SWITCHED, "r4", "r4", True, True),
            # Drained for its flip, not switched (a confirm of a host before it failed): rejoins unchanged.
            (SWITCHED, "", "r4", False, True),
            (adopted(running("r2")), "", "r3", True, True),
            (adopted({}), "r4", None, True, False)):
        values = {"release_plan": plan, "__release_flipped": flipped}
        values.update(__release_back=template(decide["__release_back"], **values),
                      __release_went_live=template(decide["__release_went_live"], **values))
        assert template(trust_as_template("{{ " + restore["when"] + " }}"), **values) is (routes_from is not None)
        if routes_from:
            assert template(restore["berth.ops.release_switch"]["release_id"], **values) == routes_from
        assert template(trust_as_template("{{ " + drain["when"] + " }}"), **values) is drained
        assert template(trust_as_template("{{ " + rejoin["when"] + " }}"), **values) is rejoined


def test_a_peer_reverted_from_the_failed_host_follows_the_same_decision():
    decide = task(REVERT, "Revert | Decide")["ansible.builtin.set_fact"]["__release_back"]
    restore = task(REVERT, "Revert | Put back the routes")
    rejoin = task(REVERT, "Revert | Put back into the load balancer's rotation")
    for plan, routes_from in ((SWITCHED, "r4"), (adopted(running("r2")), "r3"), (adopted({}), None)):
        back = template(decide, __release_peer="h1", hostvars={"h1": {"release_plan": plan}})
        hostvars = {"h1": {"release_plan": plan, "__release_back": back}}
        values = {"__release_peer": "h1", "hostvars": hostvars, "__back": back}
        assert template(trust_as_template("{{ " + restore["when"] + " }}"), **values) is (routes_from is not None)
        if routes_from:
            assert template(restore["berth.ops.release_switch"]["release_id"], **values) == routes_from
        assert template(trust_as_template("{{ " + rejoin["when"] + " }}"), **values) is (routes_from is not None)


def test_the_fleets_failure_names_the_colour_and_release_each_host_is_on():
    fail = task(FINALIZE[0]["block"], "Flip | Stay with the fleet")
    failures = [{"id": "r4", "host": "h2", "step": "confirm", "msg": "bad answer"}]

    def message(plan: dict, **more: object) -> str:
        values = {"release_plan": plan, "__release_flipped": "r4", "__release_fleet_failures": failures, **more}
        back = template(fail["vars"]["__back"], **values)
        went_live = template(fail["vars"]["__went_live"], **values, __back=back)
        return template(fail["ansible.builtin.fail"]["msg"], **values, __went_live=went_live)

    assert message(SWITCHED).endswith("this host had gone live and was put back on colour green (release r1)")
    assert message(adopted(running("r2"))).endswith("put back on colour blue (release r2)")
    assert message(adopted({})).endswith("this host keeps release r3 (adopted) on colour green, drained from the "
                                         "load balancer: colour blue does not run release r2 any more")

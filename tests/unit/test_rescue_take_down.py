"""rescue.yml takes down only a colour this attempt started. On a host, test_real_apps' registry outage proves
that a failed pull keeps the standby; but with the standby off the critical path a single-replica release starts
in the colour's other, empty compose project, where a take-down cannot reach the standby, so only this test sees
the guard. It still matters on a host: a replicated service's release starts in the standby's own project."""

from __future__ import annotations

from ansible.template import Templar, trust_as_template
from test_fleet_revert import task
from test_spec_refusals import LOADER, load

RESCUE = load("roles/release/tasks/rescue.yml")


def runs(conditions: object, started: str) -> bool:
    """Whether the task runs, its `when` templated by Ansible's Templar as the rescue would."""
    listed = conditions if isinstance(conditions, list) else [conditions] if conditions else []
    values = {"release_app": "shop", "release_id": "r2", **({"__release_started": started} if started else {})}
    templar = Templar(loader=LOADER, variables=values)
    return all(templar.template(trust_as_template("{{ " + str(c) + " }}")) for c in listed)


def test_the_take_down_touches_only_a_colour_this_attempt_started():
    take_down = task(RESCUE, "rescue | Take down again the colour this attempt started")
    assert runs(take_down.get("when"), "shop r2")
    # A failed render, pull, backup or hook: nothing started; another attempt's or another app's start.
    for started in ("", "shop r1", "cart r2"):
        assert not runs(take_down.get("when"), started), started

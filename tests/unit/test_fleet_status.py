"""status.yml's fleet view (module_utils/_fleet.py): one line per host, and a verdict that says FLEET SPLIT
whenever the hosts do not serve one recorded release."""

from ansible_collections.berth.ops.plugins.filter.lb import fleet_line, fleet_verdict


def row(host: str, release: str = "r2", checksum: str = "c2", **extra: object) -> dict:
    return {"host": host, "release": release, "checksum": checksum, "colour": "blue", "unrecorded": [],
            "lb": "in", "lock": "free", **extra}


def test_one_release_everywhere_is_one_fleet():
    verdict = fleet_verdict([row("web-1"), row("web-2"), row("web-3")])
    assert verdict == "fleet: 3 host(s) serve one release: web-1, web-2, web-3 on release r2 (c2)"
    # A warm rollback re-recorded under another id is still the same release (its checksum).
    assert fleet_verdict([row("web-1"), row("web-2", release="r3")]) == \
        "fleet: 2 host(s) serve one release: web-1, web-2 on release r2, r3 (c2)"


def test_two_releases_are_a_split_naming_who_serves_what():
    verdict = fleet_verdict([row("web-1"), row("web-2", release="r1", checksum="c1"), row("web-3")])
    assert verdict == ("FLEET SPLIT: the hosts do not serve one release: web-1, web-3 on release r2 (c2); "
                       "web-2 on release r1 (c1)")


def test_a_release_served_unrecorded_is_a_split_even_alone():
    verdict = fleet_verdict([row("web-1", unrecorded=["r9"]), row("web-2", unrecorded=["r9"])])
    assert verdict.startswith("FLEET SPLIT: ") and "web-1, web-2 on unrecorded r9" in verdict
    # A host with nothing live beside one with a release is split; no host with a release yet is not.
    assert fleet_verdict([row("web-1"), row("web-2", release="none", checksum="")]).startswith("FLEET SPLIT: ")
    assert fleet_verdict([row("web-1", release="none", checksum="")]) == \
        "fleet: 1 host(s) serve one release: web-1 on nothing live"


def test_drained_hosts_and_locks_are_named():
    verdict = fleet_verdict([row("web-1", lb="drained"), row("web-2", lock="ci@runner pid 7 since t")])
    assert verdict.startswith("fleet: ")
    assert verdict.endswith("; web-1 drained from the load balancer; web-2 locked by ci@runner pid 7 since t")


def test_a_host_line():
    assert fleet_line(row("web-1")) == "web-1: release r2 on blue, load balancer in, lock free"
    assert fleet_line(row("web-2", unrecorded=["r9"], lb="drained")) == \
        "web-2: release r2 (serves unrecorded r9) on blue, load balancer drained, lock free"

"""The release log: records, the live release, the previous good one, the append-only audit log."""

from __future__ import annotations

import json

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _records


def record(directory, rid, status, web, minute):
    return _records.write(str(directory), {"id": rid, "status": status, "colour": "blue",
                                            "digests": {"web": web}, "time": f"2026-11-24T10:{minute:02d}:00Z"})


def test_live_is_the_newest_success_and_previous_has_other_digests(tmp_path):
    record(tmp_path, "r1", "succeeded", "web@sha256:1", 1)
    record(tmp_path, "r2", "succeeded", "web@sha256:2", 2)
    record(tmp_path, "r3", "failed", "web@sha256:3", 3)
    record(tmp_path, "r4", "succeeded", "web@sha256:2", 4)
    records = _records.load(str(tmp_path))
    assert [r["id"] for r in records] == ["r4", "r3", "r2", "r1"]
    assert _records.live(records)["id"] == "r4"
    assert _records.previous_good(records)["id"] == "r1"


def test_no_release_yet(tmp_path):
    assert _records.load(str(tmp_path / "missing")) == []
    assert _records.live([]) is None and _records.previous_good([]) is None


def test_the_audit_log_keeps_every_attempt_in_order(tmp_path):
    record(tmp_path, "r1", "succeeded", "a", 1)
    record(tmp_path, "r1", "failed", "a", 2)
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["succeeded", "failed"]
    assert oct((tmp_path / "r1.json").stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("bad", [{"id": "../x", "status": "succeeded"}, {"id": "r1", "status": "ok"}])
def test_bad_records_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        _records.write(str(tmp_path), bad)
    assert list(tmp_path.iterdir()) == []


def test_an_env_change_alone_is_another_release_to_go_back_to(tmp_path):
    # Droplet records carry the release checksum: r2 changed only env (same digests), r3 is r2 again.
    for rid, checksum, minute in (("r1", "sum-a", 1), ("r2", "sum-b", 2), ("r3", "sum-b", 3)):
        _records.write(str(tmp_path), {"id": rid, "status": "succeeded", "digests": {"web": "web@sha256:1"},
                                        "checksum": checksum, "time": f"2026-11-24T10:{minute:02d}:00Z"})
    records = _records.load(str(tmp_path))
    assert _records.previous_good(records)["id"] == "r1"
    # rollback.yml's rule is the same one (the live checksum read from its release directory).
    target, why = _records.return_target("rollback", records, records[0], "sum-b", wanted="", idle_containers={})
    assert target["id"] == "r1" and why == ""


def test_app_platform_records_have_no_checksum_and_go_back_by_the_spec_the_platform_ran(tmp_path):
    spec_a = {"name": "shop", "services": [{"name": "web", "envs": [{"key": "MODE", "value": "a"}]}]}
    spec_b = {"name": "shop", "services": [{"name": "web", "envs": [{"key": "MODE", "value": "b"}]}]}
    # r2 changed only an env value (same digests); r3 deployed r2's spec again.
    for rid, spec, minute in (("r1", spec_a, 1), ("r2", spec_b, 2), ("r3", spec_b, 3)):
        _records.write(str(tmp_path), {"id": rid, "status": "succeeded", "target": "app_platform",
                                        "deployment_id": f"dep-{rid}", "digests": {"web": "web@sha256:1"},
                                        "spec": spec, "time": f"2026-11-24T10:{minute:02d}:00Z"})
    records = _records.load(str(tmp_path))
    assert _records.previous_good(records)["id"] == "r1"
    assert _records.previous_good(records[2:]) is None

"""The release log: records, the live release, the previous good one, the append-only audit log."""

from __future__ import annotations

import json

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _releases


def record(directory, rid, status, web, minute):
    return _releases.write(str(directory), {"id": rid, "status": status, "colour": "blue",
                                            "digests": {"web": web}, "time": f"2026-11-24T10:{minute:02d}:00Z"})


def test_live_is_the_newest_success_and_previous_has_other_digests(tmp_path):
    record(tmp_path, "r1", "succeeded", "web@sha256:1", 1)
    record(tmp_path, "r2", "succeeded", "web@sha256:2", 2)
    record(tmp_path, "r3", "failed", "web@sha256:3", 3)
    record(tmp_path, "r4", "succeeded", "web@sha256:2", 4)
    records = _releases.load(str(tmp_path))
    assert [r["id"] for r in records] == ["r4", "r3", "r2", "r1"]
    assert _releases.live(records)["id"] == "r4"
    assert _releases.previous_good(records)["id"] == "r1"


def test_no_release_yet(tmp_path):
    assert _releases.load(str(tmp_path / "missing")) == []
    assert _releases.live([]) is None and _releases.previous_good([]) is None


def test_the_audit_log_keeps_every_attempt_in_order(tmp_path):
    record(tmp_path, "r1", "succeeded", "a", 1)
    record(tmp_path, "r1", "failed", "a", 2)
    lines = (tmp_path / "audit.log").read_text().splitlines()
    assert [json.loads(line)["status"] for line in lines] == ["succeeded", "failed"]
    assert oct((tmp_path / "r1.json").stat().st_mode & 0o777) == "0o640"


@pytest.mark.parametrize("bad", [{"id": "../x", "status": "succeeded"}, {"id": "r1", "status": "ok"}])
def test_bad_records_are_refused(tmp_path, bad):
    with pytest.raises(ValueError):
        _releases.write(str(tmp_path), bad)
    assert list(tmp_path.iterdir()) == []

"""The deploy lock: one holder at a time, stale locks expire, only the holder releases."""

from __future__ import annotations

import json

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _lock


def test_first_deploy_takes_the_lock(tmp_path):
    path = str(tmp_path / "lock")
    lock, broken = _lock.acquire(path, "alice@a pid 1", "r1", ttl=60, now=1000)
    assert broken is None
    assert json.loads((tmp_path / "lock").read_text())["holder"] == "alice@a pid 1"
    assert lock["expires_at"] == 1060


def test_second_deploy_is_refused_naming_the_holder(tmp_path):
    path = str(tmp_path / "lock")
    _lock.acquire(path, "alice@a pid 1", "r1", ttl=60, now=1000)
    with pytest.raises(_lock.LockHeldError) as exc:
        _lock.acquire(path, "bob@b pid 2", "r2", ttl=60, now=1030)
    assert "alice@a pid 1" in str(exc.value)
    assert "expires in 30 s" in str(exc.value)
    assert _lock.read(path)["token"] == "r1"


def test_the_same_token_takes_it_again(tmp_path):
    path = str(tmp_path / "lock")
    _lock.acquire(path, "alice", "r1", ttl=60, now=1000)
    lock, _ = _lock.acquire(path, "alice", "r1", ttl=60, now=1010)
    assert lock["acquired_at"] == 1000


def test_a_stale_lock_is_broken_and_reported(tmp_path):
    path = str(tmp_path / "lock")
    _lock.acquire(path, "alice", "r1", ttl=60, now=1000)
    lock, broken = _lock.acquire(path, "bob", "r2", ttl=60, now=1061)
    assert broken["holder"] == "alice"
    assert lock["token"] == "r2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lock"]


def test_a_torn_lock_file_counts_as_stale(tmp_path):
    (tmp_path / "lock").write_text("{not json")
    lock, broken = _lock.acquire(str(tmp_path / "lock"), "bob", "r2", ttl=60, now=1000)
    assert lock["token"] == "r2" and broken is not None


def test_only_the_holder_releases_unless_forced(tmp_path):
    path = str(tmp_path / "lock")
    _lock.acquire(path, "alice", "r1", ttl=60, now=1000)
    assert _lock.release(path, "r2") is None
    assert _lock.read(path)["token"] == "r1"
    assert _lock.release(path, "r2", force=True)["token"] == "r1"
    assert _lock.read(path) is None

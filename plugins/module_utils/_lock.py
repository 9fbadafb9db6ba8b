# Copyright: berth developers
# Apache License 2.0
"""The host's deploy lock: one JSON file created with O_EXCL, so two deploys cannot both hold it.

A lock names its holder and expires after its TTL; an expired lock is moved aside (renamed, so two
deploys breaking it at once cannot both win) and taken. Only the token that took a lock releases it,
unless forced.
"""

from __future__ import annotations

import json
import os
import time


class LockHeldError(Exception):
    def __init__(self, lock: dict, now: float) -> None:
        self.lock = lock
        left = int(lock.get("expires_at", now) - now)
        super().__init__(
            f"the deploy lock {lock.get('path', '')} is held by {lock.get('holder', '?')} "
            f"(token {lock.get('token', '?')}) since {lock.get('acquired', '?')}; it expires in {left} s. "
            "Wait for that deploy to finish, or break the lock if its holder is gone.")


def read(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            lock = json.load(fh)
    except FileNotFoundError:
        return None
    except ValueError:
        # A torn write (the holder died mid-write) is a lock nobody holds any more.
        return {"holder": "unknown (unreadable lock file)", "token": "", "expires_at": 0}
    lock["path"] = path
    return lock


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _create(path: str, lock: dict) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(lock, fh)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def acquire(path: str, holder: str, token: str, ttl: int, now: float | None = None) -> tuple[dict, dict | None]:
    """Take the lock. Returns (lock, broken stale lock or None); raises LockHeldError."""
    now = time.time() if now is None else now
    lock = {"holder": holder, "token": token, "acquired": _iso(now), "acquired_at": now,
            "ttl": ttl, "expires_at": now + ttl}
    broken = None
    for _attempt in range(3):
        if _create(path, lock):
            lock["path"] = path
            return lock, broken
        current = read(path)
        if current is None:
            continue
        if current.get("token") == token:
            return current, None
        if current.get("expires_at", 0) > now:
            raise LockHeldError(current, now)
        aside = f"{path}.expired.{int(now)}.{os.getpid()}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            continue
        os.unlink(aside)
        broken = current
    current = read(path) or {}
    raise LockHeldError(current, now)


def release(path: str, token: str, force: bool = False) -> dict | None:
    """Drop the lock when this token holds it (or force). Returns the lock removed, or None."""
    current = read(path)
    if current is None:
        return None
    if not force and current.get("token") != token:
        return None
    os.unlink(path)
    return current

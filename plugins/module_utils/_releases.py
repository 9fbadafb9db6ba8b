# Copyright: berth developers
# Apache License 2.0
"""A host's release log: one JSON file per attempt in releases/, plus an append-only audit.log.

A record: id, time, status (succeeded | failed), kind (deploy | rollback | switch), colour,
digests (service -> pinned image), and optional git_sha, operator, step, message, source.
The live release is the newest succeeded record; the previous good one is the newest succeeded
record before it whose digests differ.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time

ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def load(directory: str) -> list[dict]:
    """Every record, newest first (by time, then id)."""
    records = []
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(record)
    return sorted(records, key=lambda r: (r.get("time", ""), r["id"]), reverse=True)


def live(records: list[dict]) -> dict | None:
    return next((r for r in records if r.get("status") == "succeeded"), None)


def previous_good(records: list[dict]) -> dict | None:
    current = live(records)
    if current is None:
        return None
    older = records[records.index(current) + 1:]
    return next((r for r in older if r.get("status") == "succeeded"
                 and r.get("digests") != current.get("digests")), None)


def write(directory: str, record: dict, now: float | None = None) -> dict:
    """Write the record atomically and append it to audit.log. Returns the record as written."""
    if not ID_PATTERN.match(str(record.get("id", ""))):
        raise ValueError(f"record.id: {record.get('id')!r} must be 1-100 letters, digits, '.', '_' or '-'")
    if record.get("status") not in ("succeeded", "failed"):
        raise ValueError(f"record.status: {record.get('status')!r} must be succeeded or failed")
    record = dict(record)
    record.setdefault("time", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now or time.time())))
    os.makedirs(directory, mode=0o750, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".record-", dir=directory)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2, sort_keys=True)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o640)
    os.replace(tmp, os.path.join(directory, f"{record['id']}.json"))
    line = json.dumps(record, sort_keys=True) + "\n"
    fd = os.open(os.path.join(directory, "audit.log"), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return record

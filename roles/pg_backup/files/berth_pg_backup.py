#!/usr/bin/python3
# Copyright: berth developers
# Apache License 2.0
"""berth's PostgreSQL backups on one host: dump, prove, keep, copy offsite, report, restore.

A dump becomes a backup only when every stage exited 0: pg_dump into a temporary name (sha256 on
the fly, fsync), a full read by pg_restore (the TOC alone proves nothing), and, for the newest, a
scratch restore whose per-table row counts equal the live database's counts taken in pg_dump's
own snapshot. Only then is it renamed to <app>-<db>-<UTC stamp>.dump beside its manifest
(<...>.json), its sha256 file and the server's roles (<...>.globals.sql). Retention follows restic's
forget --keep-daily/weekly/monthly over the stamps in the names, never mtime, and runs only after
a run that succeeded. One flock (a sibling of the deploy lock) keeps backups and restores apart.

Commands (config: a root-only JSON file, see the pg_backup role):
  run       back up every configured database (the systemd service runs this)
  check     Nagios-style: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN, from staleness and the last run
  list      the backups of a database, newest first, as JSON
  restore   restore a backup into a new database; with --swap replace the live one
  dropdb    drop a database that a swap set aside (<db>__replaced_<stamp>)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

STAMP = "%Y%m%dT%H%M%SZ"
NAME_RE = r"^{app}-{db}-(?P<stamp>\d{{8}}T\d{{6}}Z)\.dump$"
# Future-dated names within this much of now still count (clock steps between hosts).
FUTURE_SKEW = dt.timedelta(minutes=5)
CHUNK = 1 << 20

# Every user table and the large objects, counted inside the caller's transaction (one snapshot).
COUNT_SQL = r"""
SELECT n.nspname || '.' || c.relname,
       (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', n.nspname, c.relname),
                                            false, true, '')))[1]::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
UNION ALL SELECT 'pg_largeobject_metadata', count(*)::text FROM pg_largeobject_metadata
ORDER BY 1;
"""


class BackupError(Exception):
    """A stage failed; the message says which and why."""


# ---------------------------------------------------------------------------------------------
# Pure parts: names, retention, status and check (unit-tested without a database).


def backup_name(app: str, db: str, when: dt.datetime) -> str:
    return f"{app}-{db}-{when.astimezone(dt.UTC).strftime(STAMP)}.dump"


def parse_stamp(app: str, db: str, name: str) -> dt.datetime | None:
    """The UTC time in a name berth wrote for this app and database, else None."""
    match = re.match(NAME_RE.format(app=re.escape(app), db=re.escape(db)), name)
    if not match:
        return None
    try:
        return dt.datetime.strptime(match.group("stamp"), STAMP).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def _period(when: dt.datetime, tier: str) -> tuple[int, ...]:
    if tier == "daily":
        return (when.year, when.month, when.day)
    if tier == "weekly":
        iso = when.isocalendar()
        return (iso[0], iso[1])
    return (when.year, when.month)


def select_keep(stamps: Iterable[dt.datetime], daily: int, weekly: int, monthly: int,  # noqa: PLR0917
                now: dt.datetime, protect: Iterable[dt.datetime] = ()) -> tuple[set, set, set]:
    """restic's forget policy: per tier, the newest backup of each of the last N periods that have
    a backup. Returns (keep, delete, ignored); future-dated stamps are ignored (never deleted, never
    counted), and `protect` (the newest verified) is always kept."""
    stamps = sorted(set(stamps), reverse=True)
    ignored = {s for s in stamps if s > now + FUTURE_SKEW}
    candidates = [s for s in stamps if s not in ignored]
    keep: set = set(protect) & set(candidates)
    for tier, count in (("daily", daily), ("weekly", weekly), ("monthly", monthly)):
        last, left = None, count
        for stamp in candidates:
            if left <= 0:
                break
            period = _period(stamp, tier)
            if period != last:
                keep.add(stamp)
                left -= 1
                last = period
    return keep, set(candidates) - keep, ignored


def judge(status: dict, dbs: list[str], stale_after: float, now: float) -> tuple[int, str]:
    """Nagios-style verdict: CRITICAL when a database has no verified backup newer than
    `stale_after` seconds or its last run failed; UNKNOWN without a status file."""
    if not status:
        return 3, "UNKNOWN: no backup status yet (the backup never ran)"
    problems, fine = [], []
    for db in dbs:
        entry = status.get("databases", {}).get(db, {})
        last_ok = entry.get("last_verified_at")
        run = entry.get("last_run", {})
        if not last_ok:
            problems.append(f"{db}: no verified backup")
        elif now - last_ok > stale_after:
            problems.append(f"{db}: newest verified backup is {int((now - last_ok) / 3600)} h old"
                            f" (limit {int(stale_after / 3600)} h)")
        if run and not run.get("ok"):
            problems.append(f"{db}: last run failed: {run.get('error', '?')}")
        if not problems or not problems[-1].startswith(db):
            fine.append(f"{db}: {entry.get('last_verified_file')}")
    if problems:
        return 2, "CRITICAL: " + "; ".join(problems)
    return 0, "OK: " + "; ".join(fine)


def prometheus_text(app: str, status: dict) -> str:
    lines = [
        "# HELP berth_backup_last_run_success 1 when the last backup run of the database succeeded.",
        "# TYPE berth_backup_last_run_success gauge",
        "# HELP berth_backup_last_verified_timestamp_seconds Time of the newest verified backup.",
        "# TYPE berth_backup_last_verified_timestamp_seconds gauge",
        "# HELP berth_backup_last_size_bytes Size of the newest verified dump.",
        "# TYPE berth_backup_last_size_bytes gauge",
        "# HELP berth_backup_last_duration_seconds Duration of the last backup run.",
        "# TYPE berth_backup_last_duration_seconds gauge",
        "# HELP berth_backup_offsite_success 1 when the newest dump was read back from the bucket intact.",
        "# TYPE berth_backup_offsite_success gauge",
    ]
    for db, entry in sorted(status.get("databases", {}).items()):
        labels = f'{{app="{app}",db="{db}"}}'
        run = entry.get("last_run", {})
        lines += [
            f"berth_backup_last_run_success{labels} {1 if run.get('ok') else 0}",
            f"berth_backup_last_verified_timestamp_seconds{labels} {entry.get('last_verified_at', 0)}",
            f"berth_backup_last_size_bytes{labels} {entry.get('last_verified_size', 0)}",
            f"berth_backup_last_duration_seconds{labels} {run.get('seconds', 0)}",
            f"berth_backup_offsite_success{labels} {1 if run.get('offsite') == 'verified' else 0}",
        ]
    return "\n".join(lines) + "\n"


def roles_sql(globals_sql: str, own_user: str) -> str:
    """The roles of a pg_dumpall --globals-only, minus the statements about the account restoring them:
    on a new server that account (and its password, from this host's env) already exists."""
    own = re.compile(rf'^(CREATE|ALTER) ROLE "?{re.escape(own_user)}"?( |;)')
    return "".join(line for line in globals_sql.splitlines(keepends=True) if not own.match(line))


def compare_counts(expected: dict, actual: dict) -> list[str]:
    return [f"{table}: expected {expected.get(table)} rows, found {actual.get(table)}"
            for table in sorted(set(expected) | set(actual)) if expected.get(table) != actual.get(table)]


# ---------------------------------------------------------------------------------------------
# Host parts.


@dataclass
class Config:
    app: str
    container: str
    user: str
    databases: list
    directory: str
    lock: str
    status: str
    textfile: str
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12
    scratch_restore: bool = True
    stale_after: int = 26 * 3600
    lock_wait: int = 600
    docker: str = "docker"
    offsite: dict | None = None

    @classmethod
    def load(cls, path: str) -> Config:
        with open(path, encoding="utf-8") as fh:
            return cls(**json.load(fh))


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    tmp = f"{path}.tmp.{os.getpid()}"
    fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, mode)
    # The unit's UMask=0077 would make the metrics file 0600: node_exporter (user prometheus) could not read it.
    os.fchmod(fd, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def locked(path: str, wait: float, what: str) -> Iterator[None]:
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
                    raise BackupError(f"the backup lock {path} is held ({holder or 'unknown holder'}); "
                                      f"a backup or restore is running") from None
                time.sleep(1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{what} pid {os.getpid()} since {utcnow().strftime(STAMP)}\n".encode(), 0)
        yield
    finally:
        os.close(fd)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


class Postgres:
    """The accessory's own client tools, through `docker exec` (local socket, the server's version)."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg

    def _exec(self, *args: str, stdin: bool = False) -> list[str]:
        return [self.cfg.docker, "exec", *(["-i"] if stdin else []), "-u", "postgres", self.cfg.container, *args]

    def psql(self, db: str, sql: str, check: bool = True) -> str:
        proc = subprocess.run(self._exec("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", self.cfg.user,
                                         "-d", db, stdin=True), input=sql, capture_output=True, text=True, check=False)
        if check and proc.returncode != 0:
            raise BackupError(f"psql on {db} failed: {proc.stderr.strip()[-500:]}")
        return proc.stdout

    def counts(self, db: str) -> dict:
        return parse_counts(self.psql(db, COUNT_SQL))

    def versions(self) -> dict:
        server = self.psql("postgres", "SHOW server_version;").strip()
        client = subprocess.run(self._exec("pg_dump", "--version"), capture_output=True, text=True, check=False)
        client = client.stdout.strip()
        return {"server": server, "pg_dump": client}

    def stream_in(self, args: list[str], path: str) -> subprocess.CompletedProcess:
        """Run a client tool with the file on stdin."""
        with open(path, "rb") as fh:
            return subprocess.run(self._exec(*args, stdin=True), stdin=fh, capture_output=True, check=False)

    def create_db(self, name: str) -> None:
        self.psql("postgres", f'CREATE DATABASE "{name}" TEMPLATE template0 OWNER "{self.cfg.user}";')

    def drop_db(self, name: str) -> None:
        self.psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE);')

    def exists(self, name: str) -> bool:
        # Names are validated identifiers (argparse input checked by the callers' patterns).
        return self.psql("postgres", f"SELECT 1 FROM pg_database WHERE datname = '{name}';").strip() == "1"  # noqa: S608


def parse_counts(out: str) -> dict:
    counts = {}
    for line in out.splitlines():
        if "|" in line:
            table, count = line.rsplit("|", 1)
            counts[table] = int(count)
    return counts


def _tail(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.decode(errors="replace") if isinstance(proc.stderr, bytes) else (proc.stderr or "")
    return err.strip()[-400:] or f"exit {proc.returncode}"


class Backup:
    def __init__(self, cfg: Config, db: str) -> None:
        self.cfg, self.db, self.pg = cfg, db, Postgres(cfg)

    def path(self, name: str) -> str:
        return os.path.join(self.cfg.directory, name)

    def stamps(self) -> dict:
        found = {}
        for name in os.listdir(self.cfg.directory):
            stamp = parse_stamp(self.cfg.app, self.db, name)
            if stamp:
                found[stamp] = name
        return found

    def manifest(self, name: str) -> dict:
        try:
            with open(self.path(name[:-len(".dump")] + ".json"), encoding="utf-8") as fh:
                return json.load(fh)
        except (OSError, ValueError):
            return {}

    def dump(self, now: dt.datetime) -> dict:
        """Stages 1-4; returns the manifest of a backup that exists under its final name."""
        name = backup_name(self.cfg.app, self.db, now)
        base = name[:-len(".dump")]
        tmp = self.path(f".{base}.partial")
        started = time.monotonic()
        manifest = {"app": self.cfg.app, "db": self.db, "file": name, "time": now.strftime(STAMP),
                    "timestamp": now.timestamp(), "format": "custom"}
        stages = manifest["stages"] = {}

        def stage(name: str, began: float) -> float:
            stages[name] = round(time.monotonic() - began, 2)
            return time.monotonic()

        try:
            try:
                manifest["versions"] = self.pg.versions()
            except BackupError as exc:
                raise BackupError(f"cannot reach PostgreSQL in container {self.cfg.container}: {exc}") from exc
            mark = time.monotonic()
            manifest["sha256"], manifest["size"], manifest["counts"] = self._dump_in_snapshot(tmp)
            mark = stage("dump", mark)
            manifest["globals_sha256"] = self._globals(tmp + ".globals")
            manifest["toc"] = self._toc(tmp)
            mark = stage("globals+toc", mark)
            manifest["verified"] = ["sha256", "full-read"]
            self._full_read(tmp)
            mark = stage("full-read", mark)
            if self.cfg.scratch_restore:
                self._scratch_restore(tmp, manifest["counts"])
                manifest["verified"].append("scratch-restore")
                stage("scratch-restore", mark)
            manifest["seconds"] = round(time.monotonic() - started, 2)
            write_atomic(self.path(base + ".globals.sql"), open(tmp + ".globals", "rb").read())
            write_atomic(self.path(base + ".json"), json.dumps(manifest, indent=1, sort_keys=True).encode())
            write_atomic(self.path(name + ".sha256"), f"{manifest['sha256']}  {name}\n".encode())
            os.rename(tmp, self.path(name))
            fsync_dir(self.cfg.directory)
        finally:
            for leftover in (tmp, tmp + ".globals"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(leftover)
        return manifest

    def _dump_in_snapshot(self, tmp: str) -> tuple[str, int, dict]:
        """pg_dump inside an exported snapshot of a transaction that then counts every table."""
        session = subprocess.Popen(
            self.pg._exec("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", self.cfg.user, "-d", self.db,
                          stdin=True), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            session.stdin.write("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;\nSELECT pg_export_snapshot();\n")
            session.stdin.flush()
            snapshot = session.stdout.readline().strip()
            if not re.fullmatch(r"[0-9A-F-]+", snapshot or "x"):
                session.kill()
                raise BackupError(f"cannot open a snapshot on database {self.db}: "
                                  f"{session.stderr.read().strip()[-400:] or 'psql exited'}")
            digest, size = hashlib.sha256(), 0
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            with os.fdopen(fd, "wb") as out:
                dump = subprocess.Popen(self.pg._exec("pg_dump", "-Fc", "-U", self.cfg.user, "-d", self.db,
                                                      f"--snapshot={snapshot}"),
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                try:
                    for chunk in iter(lambda: dump.stdout.read(CHUNK), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        size += len(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as exc:
                    dump.kill()
                    dump.wait()
                    raise BackupError(f"writing the dump of {self.db} to {tmp} failed: {exc.strerror}") from exc
                err = dump.stderr.read().decode(errors="replace").strip()
                if dump.wait() != 0:
                    raise BackupError(f"pg_dump of {self.db} failed (exit {dump.returncode}): {err[-400:]}")
            session.stdin.write(COUNT_SQL + "\nCOMMIT;\n")
            out_text, err_text = session.communicate(timeout=3600)
            if session.returncode != 0:
                raise BackupError(f"counting the rows of {self.db} failed: {err_text.strip()[-400:]}")
            return digest.hexdigest(), size, parse_counts(out_text)
        finally:
            if session.poll() is None:
                session.kill()
                session.wait()

    def _globals(self, path: str) -> str:
        proc = subprocess.run(self.pg._exec("pg_dumpall", "--globals-only", "-U", self.cfg.user),
                              capture_output=True, check=False)
        if proc.returncode != 0:
            raise BackupError(f"pg_dumpall --globals-only failed: {_tail(proc)}")
        try:
            write_atomic(path, proc.stdout)
        except OSError as exc:
            raise BackupError(f"writing the roles of {self.db} failed: {exc.strerror}") from exc
        return hashlib.sha256(proc.stdout).hexdigest()

    def _toc(self, path: str) -> dict:
        proc = self.pg.stream_in(["pg_restore", "--list"], path)
        if proc.returncode != 0:
            raise BackupError(f"pg_restore --list of the dump of {self.db} failed: {_tail(proc)}")
        text = proc.stdout.decode(errors="replace")
        entries = [line for line in text.splitlines() if line and not line.startswith(";")]
        found = dict(re.findall(r";\s+Dumped (from database version|by pg_dump version): (\S+)", text))
        return {"entries": len(entries), "dumped_from": found.get("from database version"),
                "dumped_by": found.get("by pg_dump version")}

    def _full_read(self, path: str) -> None:
        proc = self.pg.stream_in(["pg_restore", "-f", "/dev/null"], path)
        if proc.returncode != 0:
            raise BackupError(f"the dump of {self.db} does not read back whole (pg_restore -f /dev/null): "
                              f"{_tail(proc)}")

    def restore_into(self, path: str, target: str, globals_path: str | None = None) -> dict:
        """A new database from template0, pg_restore --exit-on-error; the counts of what arrived."""
        if globals_path and os.path.exists(globals_path):
            # Roles that already exist fail with "already exists": the rest still applies.
            self.pg.psql("postgres", roles_sql(open(globals_path, encoding="utf-8").read(), self.cfg.user),
                         check=False)
        self.pg.create_db(target)
        proc = self.pg.stream_in(["pg_restore", "--exit-on-error", "-U", self.cfg.user, "-d", target], path)
        if proc.returncode != 0:
            self.pg.drop_db(target)
            raise BackupError(f"pg_restore into {target} failed: {_tail(proc)}")
        return self.pg.counts(target)

    def _scratch_restore(self, path: str, expected: dict) -> None:
        scratch = f"{self.db}__berth_verify_{os.getpid()}"
        try:
            counts = self.restore_into(path, scratch)
        finally:
            self.pg.drop_db(scratch)
        diff = compare_counts(expected, counts)
        if diff:
            raise BackupError(f"the scratch restore of {self.db} differs from the live database: {'; '.join(diff[:5])}")

    def verify_existing(self, name: str, full_read: bool = True) -> list[str]:
        """Problems of a backup already on disk: its sha256 and a full read."""
        manifest = self.manifest(name)
        if not manifest:
            return [f"{name}: no manifest"]
        if sha256_file(self.path(name)) != manifest.get("sha256"):
            return [f"{name}: sha256 differs from its manifest (the file changed on disk)"]
        try:
            if full_read:
                self._full_read(self.path(name))
        except BackupError as exc:
            return [f"{name}: {exc}"]
        return []

    def retention(self, now: dt.datetime, protect: dt.datetime | None) -> list[str]:
        stamps = self.stamps()
        _keep, delete, _ignored = select_keep(stamps, self.cfg.keep_daily, self.cfg.keep_weekly,
                                              self.cfg.keep_monthly, now, [protect] if protect else [])
        removed = []
        for stamp in sorted(delete):
            base = stamps[stamp][:-len(".dump")]
            for suffix in (".dump", ".dump.sha256", ".json", ".globals.sql"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path(base + suffix))
            removed.append(stamps[stamp])
        return removed


class Offsite:
    """An S3-compatible bucket through rclone, with its config in a root-only file (no key on a
    command line). 'Verified' means the object was downloaded again and its sha256 matched."""

    def __init__(self, settings: dict) -> None:
        self.s = settings

    def _rclone(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        argv = [self.s.get("rclone", "rclone"), "--config", self.s["config"], "--retries", "3",
                "--low-level-retries", "5", *args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600, check=False)
        if check and proc.returncode != 0:
            raise BackupError(f"rclone {args[0]} failed: {proc.stderr.strip()[-400:]}")
        return proc

    def key(self, app: str, db: str, name: str = "") -> str:
        prefix = self.s.get("prefix", "").strip("/")
        return f"{self.s['remote']}:{self.s['bucket']}/{prefix + '/' if prefix else ''}{app}/{db}/{name}"

    def upload(self, local: str, app: str, db: str, expected_sha256: str) -> None:
        name = os.path.basename(local)
        self._rclone("copyto", local, self.key(app, db, name))
        self.check(app, db, name, expected_sha256)

    def check(self, app: str, db: str, name: str, expected_sha256: str) -> None:
        out = self._rclone("hashsum", "sha256", "--download", self.key(app, db, name)).stdout.split()
        if not out or out[0] != expected_sha256:
            raise BackupError(f"offsite copy {self.key(app, db, name)} reads back as {out[:1] or 'nothing'}, "
                              f"expected sha256 {expected_sha256}")

    def names(self, app: str, db: str) -> list[str]:
        proc = self._rclone("lsf", "--files-only", self.key(app, db), check=False)
        if proc.returncode != 0:
            return []
        return [line.strip() for line in proc.stdout.splitlines() if line.strip()]

    def download(self, app: str, db: str, name: str, local: str) -> None:
        self._rclone("copyto", self.key(app, db, name), local)

    def delete(self, app: str, db: str, name: str) -> None:
        self._rclone("deletefile", self.key(app, db, name), check=False)


def read_status(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def save_status(cfg: Config, status: dict) -> None:
    write_atomic(cfg.status, json.dumps(status, indent=1, sort_keys=True).encode(), 0o640)
    if cfg.textfile and os.path.isdir(os.path.dirname(cfg.textfile)):
        write_atomic(cfg.textfile, prometheus_text(cfg.app, status).encode(), 0o644)


def backup_one(cfg: Config, db: str, now: dt.datetime, entry: dict) -> dict:
    """One database: dump and prove, copy offsite, then (only after all that) retention."""
    bk = Backup(cfg, db)
    started = time.monotonic()
    run = {"started": now.strftime(STAMP), "ok": False}
    try:
        manifest = bk.dump(now)
        run.update(file=bk.path(manifest["file"]), size=manifest["size"], verified=manifest["verified"],
                   stages=manifest["stages"],
                   tables=len(manifest["counts"]), rows=sum(manifest["counts"].values()))
        entry.update(last_verified_at=manifest["timestamp"], last_verified_file=bk.path(manifest["file"]),
                     last_verified_size=manifest["size"])
        if cfg.offsite:
            off = Offsite(cfg.offsite)
            base = manifest["file"][:-len(".dump")]
            off.upload(bk.path(manifest["file"]), cfg.app, db, manifest["sha256"])
            off.upload(bk.path(base + ".json"), cfg.app, db, sha256_file(bk.path(base + ".json")))
            off.upload(bk.path(base + ".globals.sql"), cfg.app, db, manifest["globals_sha256"])
            run["offsite"] = "verified"
        damaged = [problem for stamp, name in sorted(bk.stamps().items()) if name != manifest["file"]
                   for problem in bk.verify_existing(name, full_read=False)]
        if damaged:
            raise BackupError("backups damaged on disk: " + "; ".join(damaged[:5]))
        run["deleted"] = bk.retention(now, now)
        if cfg.offsite:
            run["deleted_offsite"] = offsite_retention(cfg, db, now, now)
        run["ok"] = True
    except (BackupError, OSError, subprocess.SubprocessError) as exc:
        run["error"] = str(exc) if isinstance(exc, BackupError) else f"{type(exc).__name__}: {exc}"
    run["seconds"] = round(time.monotonic() - started, 2)
    entry["last_run"] = run
    return run


def offsite_retention(cfg: Config, db: str, now: dt.datetime, protect: dt.datetime) -> list[str]:
    off = Offsite(cfg.offsite)
    names = off.names(cfg.app, db)
    stamps = {parse_stamp(cfg.app, db, n): n for n in names if parse_stamp(cfg.app, db, n)}
    _keep, delete, _ignored = select_keep(stamps, cfg.keep_daily, cfg.keep_weekly, cfg.keep_monthly, now, [protect])
    removed = []
    for stamp in sorted(delete):
        base = stamps[stamp][:-len(".dump")]
        for suffix in (".dump", ".json", ".globals.sql"):
            if base + suffix in names:
                off.delete(cfg.app, db, base + suffix)
        removed.append(stamps[stamp])
    return removed


def cmd_run(cfg: Config, args: argparse.Namespace) -> int:
    os.umask(0o077)
    dbs = [args.db] if args.db else cfg.databases
    results = {}
    with locked(cfg.lock, cfg.lock_wait, "backup"):
        status = read_status(cfg.status)
        status.setdefault("databases", {})
        for db in dbs:
            now = utcnow()
            results[db] = backup_one(cfg, db, now, status["databases"].setdefault(db, {}))
            status["updated"] = time.time()
            save_status(cfg, status)
    print(json.dumps(results, indent=1, sort_keys=True))
    failed = [f"{db}: {r['error']}" for db, r in results.items() if not r["ok"]]
    if failed:
        print("backup FAILED: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


def cmd_check(cfg: Config, args: argparse.Namespace) -> int:
    code, message = judge(read_status(cfg.status), cfg.databases, cfg.stale_after, time.time())
    if code == 0 and args.deep:
        for db in cfg.databases:
            bk = Backup(cfg, db)
            stamps = bk.stamps()
            problems = [p for stamp in sorted(stamps, reverse=True)[:args.deep]
                        for p in bk.verify_existing(stamps[stamp])]
            if problems:
                code, message = 2, "CRITICAL: " + "; ".join(problems)
    print(message)
    return code


def cmd_list(cfg: Config, args: argparse.Namespace) -> int:
    bk = Backup(cfg, args.db)
    out = []
    for stamp, name in sorted(bk.stamps().items(), reverse=True):
        manifest = bk.manifest(name)
        out.append({"file": bk.path(name), "time": stamp.strftime(STAMP), "size": manifest.get("size"),
                    "verified": manifest.get("verified", [])})
    if cfg.offsite and args.offsite:
        out = [{"file": n, "offsite": True} for n in sorted(Offsite(cfg.offsite).names(cfg.app, args.db), reverse=True)]
    print(json.dumps(out, indent=1))
    return 0


def _pick(bk: Backup, cfg: Config, args: argparse.Namespace) -> tuple[str, dict]:
    """The dump to restore (named or newest) and its manifest, fetched from the bucket if asked."""
    if args.offsite:
        if not cfg.offsite:
            raise BackupError("no offsite bucket is configured on this host (pg_backup_offsite); apply the "
                              "pg_backup role with the bucket's settings first")
        off = Offsite(cfg.offsite)
        names = off.names(cfg.app, args.db)
        dumps = sorted((n for n in names if parse_stamp(cfg.app, args.db, n)), reverse=True)
        name = os.path.basename(args.file) if args.file else (dumps[0] if dumps else None)
        if not name or name not in dumps:
            raise BackupError(f"no backup {args.file or '(newest)'} of {args.db} in {off.key(cfg.app, args.db)}")
        base = name[:-len(".dump")]
        for suffix in (".json", ".globals.sql", ".dump"):
            if base + suffix in names:
                off.download(cfg.app, args.db, base + suffix, bk.path(base + suffix))
        manifest = bk.manifest(name)
        if manifest.get("sha256"):
            write_atomic(bk.path(name + ".sha256"), f"{manifest['sha256']}  {name}\n".encode())
        return name, manifest
    stamps = bk.stamps()
    if args.file:
        name = os.path.basename(args.file)
        if name not in stamps.values():
            raise BackupError(f"no backup named {name} of {args.db} in {cfg.directory}")
    else:
        verified = [s for s in sorted(stamps, reverse=True) if bk.manifest(stamps[s]).get("verified")]
        if not verified:
            raise BackupError(f"no verified backup of {args.db} in {cfg.directory}")
        name = stamps[verified[0]]
    return name, bk.manifest(name)


def _major(version: str | None) -> int:
    match = re.match(r"(\d+)", version or "")
    return int(match.group(1)) if match else 0


def cmd_restore(cfg: Config, args: argparse.Namespace) -> int:
    os.umask(0o077)
    bk = Backup(cfg, args.db)
    started = time.monotonic()
    stamp = utcnow().strftime(STAMP).lower()
    with locked(cfg.lock, 0, "restore"):
        name, manifest = _pick(bk, cfg, args)
        path = bk.path(name)
        if not manifest:
            raise BackupError(f"{name} has no manifest: not a backup berth verified")
        if sha256_file(path) != manifest.get("sha256"):
            raise BackupError(f"{name}: sha256 differs from its manifest; refusing to restore it")
        versions = bk.pg.versions()
        if _major(versions["server"]) < _major(manifest.get("versions", {}).get("server")):
            raise BackupError(f"{name} comes from PostgreSQL {manifest['versions']['server']}; this server runs "
                              f"{versions['server']}, which cannot restore it")
        target = args.into or f"{args.db}__restore_{stamp}"
        if bk.pg.exists(target):
            raise BackupError(f"database {target} already exists; name a new one")
        globals_path = bk.path(name[:-len(".dump")] + ".globals.sql") if args.globals else None
        counts = bk.restore_into(path, target, globals_path)
        diff = compare_counts(manifest.get("counts", {}), counts)
        if diff:
            bk.pg.drop_db(target)
            raise BackupError(f"the restored {target} differs from the backup's manifest: {'; '.join(diff[:5])}")
        result = {"file": path, "database": target, "tables": len(counts) - 1, "rows": sum(counts.values()),
                  "counts": counts, "swapped": False}
        if args.swap:
            result["replaced"] = swap(bk.pg, args.db, target, stamp)
            result["database"], result["swapped"] = args.db, True
        bk.pg.psql(result["database"], "ANALYZE;")
    result["seconds"] = round(time.monotonic() - started, 2)
    print(json.dumps(result, indent=1, sort_keys=True))
    return 0


def swap(pg: Postgres, live: str, restored: str, stamp: str) -> str | None:
    """Put the restored database under the live name; the old one is kept as <live>__replaced_<stamp>."""
    aside = f"{live}__replaced_{stamp}"
    if not pg.exists(live):
        pg.psql("postgres", f'ALTER DATABASE "{restored}" RENAME TO "{live}";')
        return None
    pg.psql("postgres", f'ALTER DATABASE "{live}" WITH ALLOW_CONNECTIONS false;\n'
                        f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{live}';\n"
                        f'ALTER DATABASE "{live}" RENAME TO "{aside}";\n'
                        f'ALTER DATABASE "{restored}" RENAME TO "{live}";\n'
                        f'ALTER DATABASE "{aside}" WITH ALLOW_CONNECTIONS true;\n')
    return aside


def cmd_dropdb(cfg: Config, args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[a-z0-9_]+__(replaced|restore)_\d{8}t\d{6}z", args.name):
        raise BackupError(f"dropdb drops only databases a restore set aside (<db>__replaced_<stamp>), not {args.name}")
    Postgres(cfg).drop_db(args.name)
    print(json.dumps({"dropped": args.name}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="berth-pg-backup", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--config", required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run")
    run.add_argument("--db")
    check = sub.add_parser("check")
    check.add_argument("--deep", type=int, default=0, help="also re-read the newest N dumps (sha256 + full read)")
    lst = sub.add_parser("list")
    lst.add_argument("--db", required=True)
    lst.add_argument("--offsite", action="store_true")
    restore = sub.add_parser("restore")
    restore.add_argument("--db", required=True)
    restore.add_argument("--file", help="a backup's file name; default: the newest verified")
    restore.add_argument("--into", help="the new database's name (default <db>__restore_<stamp>)")
    restore.add_argument("--swap", action="store_true", help="replace the live database after the checks")
    restore.add_argument("--offsite", action="store_true", help="fetch the backup from the bucket")
    restore.add_argument("--globals", action="store_true", help="apply the server's roles first")
    drop = sub.add_parser("dropdb")
    drop.add_argument("name")
    args = parser.parse_args(argv)
    cfg = Config.load(args.config)
    commands = {"run": cmd_run, "check": cmd_check, "list": cmd_list, "restore": cmd_restore, "dropdb": cmd_dropdb}
    try:
        return commands[args.command](cfg, args)
    except BackupError as exc:
        print(f"{args.command} FAILED: {exc}", file=sys.stderr)
        return 3 if args.command == "check" else 1


if __name__ == "__main__":
    sys.exit(main())

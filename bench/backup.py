#!/usr/bin/env python3
"""berth's verified backup vs a plain `pg_dump | gzip`, on one >= 1 GB PostgreSQL 17 database, in one run.

The database runs in a lab PostgreSQL container on this machine (the image the stacks use); both
contenders use that container's own client tools through `docker exec`, as on a droplet.
berth: pg_dump -Fc in an exported snapshot + row counts, roles, TOC, full read, scratch restore with
row-count comparison, then a restore into a new database (what restore.yml does before the swap).
plain: pg_dump | gzip (nothing verified), then gunzip | psql into a new database.
Run: .venv/bin/python bench/backup.py [--gb 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = ROOT / "roles" / "pg_backup" / "files" / "berth_pg_backup.py"
NAME = "berth-bench-backup-pg"
USER = "bench"


def sh(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=True, capture_output=True, text=True, **kw)


def psql(sql: str, db: str = USER) -> str:
    return sh("docker", "exec", "-i", "-u", "postgres", NAME, "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1",
              "-U", USER, "-d", db, input=sql).stdout.strip()


def start_database(gb: float) -> int:
    images = json.loads((ROOT / ".lab" / "images.json").read_text())
    subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)
    sh("docker", "run", "-d", "--name", NAME, "-e", f"POSTGRES_USER={USER}", "-e", "POSTGRES_PASSWORD=bench",
       images["postgres"], "postgres", "-c", "max_wal_size=4GB", "-c", "checkpoint_timeout=30min")
    # The entrypoint's first-start server (socket only) answers too, then stops: wait for 3 good in a row.
    good = 0
    for _ in range(180):
        ready = subprocess.run(["docker", "exec", "-u", "postgres", NAME, "psql", "-U", USER, "-d", USER, "-c",
                                "SELECT 1"], capture_output=True, check=False).returncode == 0
        good = good + 1 if ready else 0
        if good >= 3:
            break
        time.sleep(1)
    # Realistic-ish rows: timestamps, short categories, numbers and hex text (compresses about 2:1).
    psql("CREATE TABLE events (id bigserial PRIMARY KEY, at timestamptz, kind text, amount numeric(12,2), "
         "payload text); CREATE TABLE accounts (id int PRIMARY KEY, name text, blob bytea);")
    psql("INSERT INTO accounts SELECT i, 'account ' || i, decode(md5(i::text), 'hex') "
         "FROM generate_series(1, 100000) i;")
    batch = 1_000_000
    while int(psql("SELECT pg_database_size(current_database());")) < gb * 1024**3:
        psql(f"INSERT INTO events (at, kind, amount, payload) SELECT now() - i * interval '1 s', "
             f"(ARRAY['order','refund','login','view'])[1 + i % 4], (i % 100000) / 100.0, "
             f"md5(i::text) || md5((i * 3)::text) FROM generate_series(1, {batch}) i;")
    psql("VACUUM ANALYZE;")
    return int(psql("SELECT pg_database_size(current_database());"))


def timed(fn) -> tuple[float, object]:
    began = time.monotonic()
    result = fn()
    return time.monotonic() - began, result


def berth(tmp: Path) -> dict:
    backups = tmp / "berth"
    backups.mkdir()
    config = tmp / "berth.json"
    config.write_text(json.dumps({"app": "bench", "container": NAME, "user": USER, "databases": [USER],
                                  "directory": str(backups), "lock": str(tmp / ".lock"),
                                  "status": str(backups / "status.json"), "textfile": ""}))
    seconds, out = timed(lambda: sh(sys.executable, str(PROGRAM), "--config", str(config), "run").stdout)
    run = json.loads(out)[USER]
    restore_s, out = timed(lambda: sh(sys.executable, str(PROGRAM), "--config", str(config), "restore",
                                      "--db", USER, "--into", "berth_restored").stdout)
    restored = json.loads(out)
    psql("DROP DATABASE berth_restored;", db="postgres")
    return {"backup_total": seconds, "stages": run["stages"], "size": run["size"], "restore": restore_s,
            "rows": restored["rows"]}


def plain(tmp: Path) -> dict:
    target = tmp / "plain.sql.gz"

    def dump() -> None:
        with open(target, "wb") as out:
            dumper = subprocess.Popen(["docker", "exec", "-u", "postgres", NAME, "pg_dump", "-U", USER, USER],
                                      stdout=subprocess.PIPE)
            subprocess.run(["gzip"], stdin=dumper.stdout, stdout=out, check=True)
            dumper.stdout.close()
            assert dumper.wait() == 0

    dump_s, _ = timed(dump)
    psql("CREATE DATABASE plain_restored;", db="postgres")

    def restore() -> None:
        unzip = subprocess.Popen(["gunzip", "-c", str(target)], stdout=subprocess.PIPE)
        subprocess.run(["docker", "exec", "-i", "-u", "postgres", NAME, "psql", "-q", "-U", USER, "-d",
                        "plain_restored"], stdin=unzip.stdout, stdout=subprocess.DEVNULL, check=True)
        unzip.stdout.close()
        unzip.wait()

    restore_s, _ = timed(restore)
    psql("DROP DATABASE plain_restored;", db="postgres")
    return {"backup_total": dump_s, "size": os.path.getsize(target), "restore": restore_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--gb", type=float, default=1.0, help="database size to build (GiB)")
    args = parser.parse_args()
    try:
        built_s, size = timed(lambda: start_database(args.gb))
        print(f"backup bench: database {size / 1024**3:.2f} GiB on disk (built in {built_s:.0f} s)")
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            b = berth(Path(tmp))
            p = plain(Path(tmp))
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in b["stages"].items())
        print(f"{'':24}{'berth (verified)':>20}{'pg_dump | gzip':>20}")
        print(f"{'backup (all stages)':24}{b['backup_total']:>18.1f} s{p['backup_total']:>18.1f} s")
        print(f"{'  of which':24}  {stages}")
        print(f"{'size':24}{b['size'] / 1024**2:>17.0f} MB{p['size'] / 1024**2:>17.0f} MB")
        print(f"{'restore (new database)':24}{b['restore']:>18.1f} s{p['restore']:>18.1f} s")
        print(f"{'verified':24}{'sha256+read+restore':>20}{'nothing':>20}")
    finally:
        subprocess.run(["docker", "rm", "-f", NAME], capture_output=True, check=False)


if __name__ == "__main__":
    main()

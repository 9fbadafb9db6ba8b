"""The pure parts of the pg_backup program: names, restic-style retention, the Nagios check, the
Prometheus textfile, and the status/lock behaviour on a real directory (no database needed)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import re
import sys
import threading
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from test_spec_refusals import load  # a role's files as Ansible reads them (strings may be templates)

SOURCE = Path(__file__).resolve().parents[2] / "roles" / "pg_backup" / "files" / "berth_pg_backup.py"
spec = importlib.util.spec_from_file_location("berth_pg_backup", SOURCE)
pgb = importlib.util.module_from_spec(spec)
sys.modules["berth_pg_backup"] = pgb
spec.loader.exec_module(pgb)

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def test_names_round_trip_and_belong_to_one_app_and_database():
    when = at("2026-03-01 02:30")
    name = pgb.backup_name("shop", "main", when)
    assert name == "shop-main-20260301T023000Z.dump"
    assert pgb.parse_stamp("shop", "main", name) == when
    # Another database whose name extends this one, another app, sidecars and temp files are not ours.
    for other in ("shop-main-x-20260301T023000Z.dump", "shop-mainx-20260301T023000Z.dump",
                  "shopx-main-20260301T023000Z.dump", name + ".sha256", f".{name}.partial",
                  "shop-main-20261399T023000Z.dump", "shop-main-latest.dump"):
        assert pgb.parse_stamp("shop", "main", other) is None, other


def daily_for(start: dt.datetime, days: int, hour: int = 3) -> list[dt.datetime]:
    return [start.replace(hour=hour) + dt.timedelta(days=i) for i in range(days)]


def test_retention_over_fifteen_months_keeps_restic_set():
    now = at("2026-06-30 12:00")
    stamps = daily_for(at("2025-04-01 00:00"), 456)  # 2025-04-01 .. 2026-06-30, one a day
    stamps += [at("2026-06-30 09:00")]  # two on the last day: only the newer counts for the day
    keep, delete, ignored = pgb.select_keep(stamps, 7, 4, 12, now)
    expected_daily = {at("2026-06-30 09:00")} | {at(f"2026-06-{d:02d} 03:00") for d in range(24, 30)}
    # ISO weeks: the newest of each of the 4 newest weeks (Sundays, and this week's newest).
    expected_weekly = {at("2026-06-30 09:00"), at("2026-06-28 03:00"), at("2026-06-21 03:00"), at("2026-06-14 03:00")}
    # Months: the last day of each of the 12 newest months (this month's newest).
    months = [(2026, m) for m in range(5, 0, -1)] + [(2025, m) for m in range(12, 6, -1)]
    expected_monthly = {at("2026-06-30 09:00")}
    for year, month in months:
        last = (dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)).day
        expected_monthly.add(at(f"{year}-{month:02d}-{last:02d} 03:00"))
    assert keep == expected_daily | expected_weekly | expected_monthly
    assert len(keep) == 7 + 2 + 11  # the newest counts in every tier, Sunday 28th is also a daily
    assert delete == set(stamps) - keep and not ignored
    assert at("2025-06-30 03:00") in delete  # the 13th month is gone


def test_retention_counts_periods_that_have_a_backup_so_an_outage_ages_nothing_out():
    now = at("2026-06-30 12:00")
    # Backups stopped 40 days ago: the last 7 that exist stay, however old.
    stamps = daily_for(at("2026-05-01 00:00"), 21)
    keep, _delete, _ = pgb.select_keep(stamps, 7, 0, 0, now)
    assert keep == set(stamps[-7:])


def test_zero_disables_a_tier_and_future_dated_dumps_are_neither_kept_nor_deleted():
    now = at("2026-06-30 12:00")
    stamps = [*daily_for(at("2026-06-01 00:00"), 30), at("2027-01-01 03:00")]
    keep, delete, ignored = pgb.select_keep(stamps, 2, 0, 0, now)
    assert ignored == {at("2027-01-01 03:00")}
    assert keep == {at("2026-06-30 03:00"), at("2026-06-29 03:00")}
    assert at("2027-01-01 03:00") not in delete


def test_the_protected_newest_verified_backup_is_kept_even_when_every_tier_is_zero():
    now = at("2026-06-30 12:00")
    stamps = daily_for(at("2026-06-01 00:00"), 30)
    keep, delete, _ = pgb.select_keep(stamps, 0, 0, 0, now, protect=[stamps[-1]])
    assert keep == {stamps[-1]} and len(delete) == 29


def status(db: str, **entry) -> dict:
    return {"databases": {db: entry}}


def test_check_is_unknown_before_the_first_run():
    code, message = pgb.judge({}, ["main"], 26 * 3600, 1_000_000)
    assert code == 3 and "never ran" in message


def test_check_is_ok_for_a_fresh_verified_backup():
    now = 1_000_000
    code, message = pgb.judge(status("main", last_verified_at=now - 3600, last_verified_file="/b/x.dump",
                                     last_run={"ok": True}), ["main"], 26 * 3600, now)
    assert code == 0 and "/b/x.dump" in message


def test_check_is_critical_when_stale_even_if_the_last_run_was_ok():
    now = 1_000_000
    code, message = pgb.judge(status("main", last_verified_at=now - 30 * 3600, last_run={"ok": True}),
                              ["main"], 26 * 3600, now)
    assert code == 2 and "30 h old" in message


def test_check_is_critical_when_the_last_run_failed_or_a_database_never_verified():
    now = 1_000_000
    failed = status("main", last_verified_at=now - 60, last_run={"ok": False, "error": "pg_dump failed"})
    code, message = pgb.judge(failed, ["main"], 26 * 3600, now)
    assert code == 2 and "pg_dump failed" in message
    code, message = pgb.judge(failed, ["main", "audit"], 26 * 3600, now)
    assert code == 2 and "audit: no verified backup" in message


def test_prometheus_textfile_has_one_series_per_database():
    text = pgb.prometheus_text("shop", status("main", last_verified_at=1234.0, last_verified_size=99,
                                              last_run={"ok": True, "seconds": 2.5, "offsite": "verified"}))
    assert 'berth_backup_last_run_success{app="shop",db="main"} 1' in text
    assert 'berth_backup_last_verified_timestamp_seconds{app="shop",db="main"} 1234.0' in text
    assert 'berth_backup_offsite_success{app="shop",db="main"} 1' in text
    assert text.endswith("\n")


def test_counts_parse_and_compare():
    counts = pgb.parse_counts("public.a|3\npublic.b|0\npg_largeobject_metadata|1\n")
    assert counts == {"public.a": 3, "public.b": 0, "pg_largeobject_metadata": 1}
    assert pgb.compare_counts(counts, counts) == []
    assert pgb.compare_counts(counts, {**counts, "public.a": 2}) == ["public.a: expected 3 rows, found 2"]


def test_retention_on_disk_deletes_only_this_apps_files(tmp_path):
    cfg = pgb.Config(app="shop", container="c", user="u", databases=["main"], directory=str(tmp_path),
                     lock=str(tmp_path / ".lock"), status=str(tmp_path / "status.json"), textfile="",
                     keep_daily=1, keep_weekly=0, keep_monthly=0)
    now = at("2026-06-30 12:00")
    ours = [pgb.backup_name("shop", "main", at(f"2026-06-{d:02d} 03:00")) for d in (28, 29, 30)]
    strangers = ["shop-other-20260101T000000Z.dump", "other-main-20260101T000000Z.dump", "notes.txt"]
    for name in ours + strangers:
        (tmp_path / name).write_text("x")
        (tmp_path / (name[:-5] + ".json")).write_text("{}")
    removed = pgb.Backup(cfg, "main").retention(now, at("2026-06-30 03:00"))
    assert sorted(removed) == ours[:2]
    left = {p.name for p in tmp_path.iterdir()}
    assert ours[2] in left and all(s in left for s in strangers)
    assert not any(p.startswith(ours[0][:-5]) for p in left)


def test_the_lock_refuses_a_second_holder_with_who_holds_it(tmp_path):
    path = str(tmp_path / ".backup.lock")
    entered = threading.Event()
    leave = threading.Event()

    def hold():
        with pgb.locked(path, 0, "backup"):
            entered.set()
            leave.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    try:
        with pytest.raises(pgb.BackupError, match=r"held .*backup pid"), pgb.locked(path, 0, "restore"):
            pass
    finally:
        leave.set()
        holder.join()
    with pgb.locked(path, 0, "restore"):
        pass


def test_status_writes_are_atomic_and_the_textfile_follows(tmp_path):
    textdir = tmp_path / "textfile"
    textdir.mkdir()
    cfg = pgb.Config(app="shop", container="c", user="u", databases=["main"], directory=str(tmp_path),
                     lock="", status=str(tmp_path / "status.json"), textfile=str(textdir / "berth_backup_shop.prom"))
    pgb.save_status(cfg, status("main", last_run={"ok": False, "error": "x"}))
    assert json.loads((tmp_path / "status.json").read_text())["databases"]["main"]["last_run"]["ok"] is False
    assert 'berth_backup_last_run_success{app="shop",db="main"} 0' in (textdir / "berth_backup_shop.prom").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["status.json", "textfile"]


def test_restored_roles_leave_the_restoring_account_alone():
    dumped = ("SET default_transaction_read_only = off;\nCREATE ROLE sample;\n"
              "ALTER ROLE sample WITH SUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:old';\n"
              "CREATE ROLE reporting;\nALTER ROLE reporting WITH LOGIN;\nCREATE ROLE sample_ro;\n")
    kept = pgb.roles_sql(dumped, "sample")
    assert "ROLE sample;" not in kept and "old" not in kept
    assert "CREATE ROLE reporting;" in kept and "CREATE ROLE sample_ro;" in kept


def test_the_metrics_file_is_world_readable_under_the_units_umask(tmp_path):
    """The service runs with UMask=0077; node_exporter (another user) must still read the textfile."""
    old = os.umask(0o077)
    try:
        pgb.write_atomic(str(tmp_path / "berth_backup_x.prom"), b"x 1\n", 0o644)
    finally:
        os.umask(old)
    assert oct((tmp_path / "berth_backup_x.prom").stat().st_mode & 0o777) == "0o644"


# --- The restore entry point: composed from the release role's places, gated by the release's checks ------

ROOT = SOURCE.parents[3]


def restore_rule(live_spec) -> str:
    variables = {**load("roles/pg_backup/vars/main.yml"), "__pg_backup_live": {"live_spec": live_spec}}
    return Templar(loader=DataLoader(), variables=variables).template(variables["__pg_backup_restore_rule"])


def test_the_maintenance_answer_covers_every_public_router_of_the_live_release():
    spec = {"routers": {"web": "Host(`shop.example.com`)", "api-0": "Host(`shop.example.com`) && PathPrefix(`/api`)",
                        "api-1": "Host(`shop.example.com`) && PathPrefix(`/api`)"}}
    assert restore_rule(spec) == ("Host(`shop.example.com`) || Host(`shop.example.com`) && PathPrefix(`/api`)")
    # Nothing live yet (a restore before the first deploy): every request gets the maintenance answer.
    assert restore_rule(None) == "PathPrefix(`/`)"


def test_restore_yml_only_composes_and_names_each_place_by_the_release_roles_variable():
    play = load("playbooks/restore.yml")[0]
    includes = [task["ansible.builtin.include_role"] for task in play["tasks"]]
    assert [(i["name"], i["tasks_from"]) for i in includes] == [("berth.ops.release", "attempt.yml"),
                                                                 ("berth.ops.pg_backup", "restore.yml")]
    places = play["tasks"][1]["vars"]
    release_defaults = load("roles/release/defaults/main.yml")
    entry = load("roles/pg_backup/meta/argument_specs.yml")["argument_specs"]["restore"]["options"]
    pg_backup_defaults = load("roles/pg_backup/defaults/main.yml")
    # Every input of the entry point without a default is given, each from one public release_* variable.
    assert {name for name in entry if name not in pg_backup_defaults} == set(places)
    for name, value in places.items():
        used = set(re.findall(r"\brelease_[a-z_]+", value))
        assert used and used <= set(release_defaults), (name, value)
    # No place is written down a second time: no port, Traefik path or lock path of the release role's own.
    for relative in ("playbooks/restore.yml", "roles/pg_backup/tasks/restore.yml", "roles/pg_backup/vars/main.yml",
                     "roles/pg_backup/templates/maintenance.yml.j2"):
        text = (ROOT / relative).read_text()
        for literal in ("8081", "/opt/traefik", "127.0.0.1", "__release_", "../roles"):
            assert literal not in text, (relative, literal)


def test_the_restore_gates_with_the_releases_own_checks():
    tasks = load("roles/pg_backup/tasks/restore.yml")
    replace = next(task for task in tasks if "block" in task and "Replace the live" in task["name"])
    gate = next(task["berth.ops.health_gate"] for task in replace["block"] if "berth.ops.health_gate" in task)
    assert set(gate) == {"checks"} and "berth.ops.gate_checks(__pg_backup_live.live_colour" in gate["checks"]
    plan = next(task["berth.ops.release_plan"] for task in replace["block"] if "berth.ops.release_plan" in task)
    assert plan["root"] == "{{ pg_backup_restore_root }}"
    assert plan["dynamic_dir"] == "{{ pg_backup_restore_dynamic_dir }}"

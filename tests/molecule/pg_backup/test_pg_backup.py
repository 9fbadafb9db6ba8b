"""What a user checks after berth.ops.pg_backup: a persistent, randomized timer, the program, and the
offsite keys only in a root-only file."""

import json

SECRET = "molecule-secret-never-in-a-unit"


def test_timer_is_enabled_persistent_and_randomized(host):
    timer = host.service("berth-pg-backup-shop.timer")
    assert timer.is_enabled and timer.is_running
    unit = host.run("systemctl cat berth-pg-backup-shop.timer berth-pg-backup-shop.service").stdout
    assert "OnCalendar=*-*-* 02:30:00" in unit and "Persistent=true" in unit and "RandomizedDelaySec=15min" in unit
    assert "Type=oneshot" in unit and "UMask=0077" in unit


def test_config_and_credentials_are_root_only(host):
    for path in ("/etc/berth/pg_backup/shop.json", "/etc/berth/pg_backup/shop-rclone.conf"):
        f = host.file(path)
        assert (f.user, f.group, f.mode) == ("root", "root", 0o600), path
    assert host.file("/etc/berth/pg_backup").mode == 0o700
    config = json.loads(host.file("/etc/berth/pg_backup/shop.json").content_string)
    assert config["container"] == "shop-accessories-db-1" and config["offsite"]["bucket"] == "shop-backups"
    assert (config["keep_daily"], config["keep_weekly"], config["keep_monthly"]) == (7, 4, 12)


def test_the_secret_is_nowhere_else(host):
    found = host.run(f"grep -rl {SECRET} /etc /usr/local /opt 2>/dev/null").stdout.split()
    assert found == ["/etc/berth/pg_backup/shop-rclone.conf"]


def test_check_says_unknown_before_the_first_run(host):
    check = host.run("python3 /usr/local/lib/berth/berth_pg_backup.py --config /etc/berth/pg_backup/shop.json check")
    assert check.rc == 3 and "never ran" in check.stdout


def test_rclone_is_installed(host):
    assert host.run("rclone version").rc == 0

"""An input added after the first provision is applied, not skipped (issue #27): a host provisioned
while the stack had no database gets pg_backup once a `db` accessory is added and provision.yml runs
again; the run after that is one read. The fingerprint's coverage of every role input, one at a time,
is tests/integration/test_provision_fingerprint.py.

The droplet starts provisioned with the lab's stack (which has a db); provisioning it without the db
converges (the fingerprint covers berth_accessories), and removing pg_backup's units then leaves it as
a host provisioned before the stack had a database."""

from __future__ import annotations

import json

from lab_droplets import DROPLET, on_droplet
from labtools import recap, run_playbook

NOTHING_TO_DO = "was converged with these inputs and roles already: nothing to do"
UNIT = "berth-pg-backup-sample"
CONFIG = "/etc/berth/pg_backup/sample.json"


def provision(provisioned, extra: dict | None = None):
    args = ["-e", f"@{provisioned.vars_file}"] + (["-e", json.dumps(extra)] if extra else [])
    result = run_playbook("playbooks/provision.yml", *args)
    assert result.returncode == 0, result.stdout[-3000:]
    return result


def test_a_db_accessory_added_after_the_first_provision_gets_its_backups(provisioned):
    without_db = provision(provisioned, {"berth_accessories": {}})
    assert NOTHING_TO_DO not in without_db.stdout, without_db.stdout[-3000:]
    on_droplet(f"systemctl disable --now {UNIT}.timer; rm -f /etc/systemd/system/{UNIT}.* {CONFIG}; "
               "systemctl daemon-reload")
    assert on_droplet(f"systemctl cat {UNIT}.timer", check=False).returncode != 0

    with_db = provision(provisioned)
    assert NOTHING_TO_DO not in with_db.stdout, with_db.stdout[-3000:]
    assert on_droplet(f"systemctl is-enabled {UNIT}.timer").stdout.strip() == "enabled"
    # With the database user the accessory runs as (berth_env.db.POSTGRES_USER).
    assert json.loads(on_droplet(f"cat {CONFIG}").stdout)["user"] == "sample"
    again = provision(provisioned)
    assert NOTHING_TO_DO in again.stdout and recap(again.stdout)[DROPLET]["changed"] == 0

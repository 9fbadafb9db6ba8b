#!/usr/bin/env python3
"""Bench: notification latency per alert through the real Prometheus, Alertmanager and a webhook receiver on a
lab droplet, and the monitoring stack's memory there (goal: <= 300 MiB RSS for Prometheus, Alertmanager, the
blackbox exporter and node_exporter together).

The droplet (--droplet, default bench-monitoring) starts from the provisioned base snapshot, gets the sample app
deployed, a good backup and provision.yml with berth_monitoring at the lab cadence of tests/e2e/test_monitoring.py
(5 s scrape and evaluation, 5 s group_wait, ServiceDown `for` 20 s, error rate `for` 10 s over 30 s, disk `for`
10 s, backup `for` 0 s). Latency is stimulus -> the webhook's "firing", and the fix -> "resolved"; at the
production defaults add the difference in `for`, scrape and group_wait (NOTES.md: latency = scrape + for +
evaluation + group_wait). Run: .venv/bin/python bench/monitoring.py [--droplet NAME]"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Processes of the stack as Debian installs them (argv[0]).
DAEMONS = ("/usr/bin/prometheus", "/usr/bin/prometheus-alertmanager", "/usr/bin/prometheus-blackbox-exporter",
           "/usr/bin/prometheus-node-exporter")


def setup(droplet: str):
    """Point the test helpers at `droplet` (they read BERTH_DROPLET when imported) and return them."""
    os.environ["BERTH_DROPLET"] = droplet
    os.environ.setdefault("ANSIBLE_CONFIG", str(ROOT / "ansible.cfg"))
    sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]
    import lab_droplets  # noqa: PLC0415 (after BERTH_DROPLET is set)
    import test_monitoring  # noqa: PLC0415
    return lab_droplets, test_monitoring


def prepare(droplet: str, lab_droplets, tm) -> None:
    """What test_monitoring's `monitored` fixture does, on a clone of the provisioned base snapshot."""
    import base_snapshot  # noqa: PLC0415
    import yaml  # noqa: PLC0415
    from labtools import run_playbook  # noqa: PLC0415

    snapshot = base_snapshot.ready()
    if snapshot is None:
        sys.exit("no provisioned base snapshot of the current recipe (.lab/base/ready): build it first")
    lab_droplets.use_droplet_inventory()
    lab_droplets.use_address(base_snapshot.clone(droplet, snapshot))
    settings = f"-e@{snapshot['vars']}"
    lab = Path(f"/tmp/berth-bench-{droplet}-monitoring.yml")
    lab.write_text(yaml.safe_dump(tm.LAB_MONITORING))
    run_playbook("playbooks/deploy.yml", settings, check=True)
    tm.on_droplet(f"cat > /usr/local/bin/berth-webhook.py <<'EOF'\n{tm.RECEIVER}\nEOF\n"
                  "rm -f /var/log/berth-webhook.jsonl; "
                  "systemd-run --unit=berth-webhook /usr/bin/python3 /usr/local/bin/berth-webhook.py")
    tm.on_droplet(f"cat > /usr/local/bin/berth-lab-load.py <<'EOF'\n{tm.LOAD}\nEOF")
    tm.on_droplet("systemctl start berth-pg-backup-sample.service")
    run_playbook("playbooks/provision.yml", settings, f"-e@{lab}", check=True)
    tm.on_droplet("for i in $(seq 60); do curl -fsS http://127.0.0.1:9090/-/ready && exit 0; sleep 1; done; exit 1")
    # Every target up before the first stimulus (the probe's first success included).
    deadline = time.time() + 60
    while time.time() < deadline and not tm.promql('probe_success{job="blackbox"} == 1'):
        time.sleep(1)


def measure(tm) -> list[tuple[str, float, float]]:
    """(alert, seconds to firing, seconds to resolved) for each stimulus."""
    rows = []

    colour = tm.live_colour()
    since = time.time()
    tm.on_droplet(f"docker stop sample-{colour}-web-1")
    fired = tm.wait_for("ServiceDown", "firing", since, 90)
    back = time.time()
    tm.on_droplet(f"docker start sample-{colour}-web-1")
    rows.append(("ServiceDown (live colour stopped)", fired, tm.wait_for("ServiceDown", "resolved", back, 90)))

    loud = tm.errors_under_load(5, 10, 300)
    fired = tm.wait_for("HighErrorRate", "firing", loud, 90)
    tm.on_droplet("systemctl stop berth-lab-load", check=False)
    quiet = tm.errors_under_load(5, 0, 120)  # the same traffic without errors: the ratio decays over the window
    resolved = tm.wait_for("HighErrorRate", "resolved", quiet, 120)
    tm.on_droplet("systemctl stop berth-lab-load", check=False)
    rows.append(("HighErrorRate (10 % of 5 requests/s)", fired, resolved))

    mount = "/srv/berth-bench-disk"
    tm.on_droplet(f"mkdir -p {mount} && mount -t tmpfs -o size=20m berth-bench-disk {mount}")
    try:
        since = time.time()
        tm.on_droplet(f"fallocate -l 19m {mount}/fill")
        fired = tm.wait_for("DiskSpaceLow", "firing", since, 90)
        freed = time.time()
        tm.on_droplet(f"rm -f {mount}/fill")
        rows.append(("DiskSpaceLow (filesystem at 95 %)", fired, tm.wait_for("DiskSpaceLow", "resolved", freed, 90)))
    finally:
        tm.on_droplet(f"umount {mount}", check=False)

    since = time.time()
    tm.on_droplet("docker stop sample-accessories-db-1")
    try:
        tm.on_droplet("systemctl start berth-pg-backup-sample.service", check=False)
        fired = tm.wait_for("BackupFailed", "firing", since, 90)
    finally:
        tm.on_droplet("docker start sample-accessories-db-1")
    tm.on_droplet("for i in $(seq 60); do docker exec sample-accessories-db-1 pg_isready -U sample && exit 0; "
                  "sleep 1; done")
    good = time.time()
    tm.on_droplet("systemctl start berth-pg-backup-sample.service")
    # From the start of the good backup run (the run itself takes a few seconds).
    rows.append(("BackupFailed (database stopped)", fired, tm.wait_for("BackupFailed", "resolved", good, 90)))
    return rows


def memory(tm) -> dict[str, float]:
    """RSS (MiB) of each daemon of the stack."""
    out = tm.on_droplet("ps -eo rss=,args=").stdout
    found = dict.fromkeys(DAEMONS, 0.0)
    for line in out.splitlines():
        rss, _, args = line.strip().partition(" ")
        program = args.split(" ", 1)[0]
        if program in found:
            found[program] += int(rss) / 1024
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--droplet", default="bench-monitoring")
    args = parser.parse_args()
    lab_droplets, tm = setup(args.droplet)
    try:
        started = time.monotonic()
        prepare(args.droplet, lab_droplets, tm)
        print(f"monitoring bench on {args.droplet}: prepared in {time.monotonic() - started:.0f} s (lab cadence)")
        idle = memory(tm)
        rows = measure(tm)
        busy = memory(tm)
        print(f"{'alert':40}{'firing':>10}{'resolved':>10}")
        for alert, fired, resolved in rows:
            print(f"{alert:40}{fired:>8.1f} s{resolved:>8.1f} s")
        sent = Counter(f"{alert} {n['status']}" for n in tm.notifications() for alert in n["alerts"])
        print("notifications received: " + ", ".join(f"{k} x{v}" for k, v in sorted(sent.items())))
        print(f"{'RSS (MiB)':40}{'settled':>10}{'after':>10}")
        for daemon in DAEMONS:
            print(f"{Path(daemon).name:40}{idle[daemon]:>10.1f}{busy[daemon]:>10.1f}")
        print(f"{'total (goal <= 300)':40}{sum(idle.values()):>10.1f}{sum(busy.values()):>10.1f}")
    finally:
        lab_droplets.sh(sys.executable, str(ROOT / "lab" / "lab.py"), "droplet", "destroy", args.droplet, check=False)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Bench: what replacing the warm standby costs a deploy when the app ignores SIGTERM (issue #21). The
lab's `stubborn` test app (ignores SIGTERM, warms up 10 s) with a 20 s stop_grace_period, on one clone of
the provisioned base snapshot (tests/base_snapshot.py). After two deploys both colours run a release;
then, alternately, a new release (an env value never deployed, so it renders, starts and gates cold)
replaces the standby in the idle colour:

- before: berth_standby_overlap false, the old order: the standby stops first, within its grace period
  (what `docker compose up` in its project did);
- after: the new release starts beside it, in the colour's other compose project, and the standby stops
  in the background.

Prints side by side per order: the deploy's wall time, the record's `start` and `total` seconds, and
whether the standby's grace period is inside the wall time. Uses its own droplet (sb-bench); removes it after."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _droplet import LAB, ROOT

sys.path.insert(0, str(ROOT / "tests"))
import base_snapshot

NAME = "sb-bench"
IMAGE = "registry.berth.test/berth/testapp"
GRACE = 20
ROUNDS = 2


def stack(version: int, echo: str, **extra: object) -> dict:
    web = {"image": f"{IMAGE}:stubborn-{version}", "port": 5000, "health_path": "/health",
           "health": {"interval": 1, "timeout": 2, "successes": 3, "start_timeout": 60},
           "stop_grace_period": f"{GRACE}s", "memory": "128m"}
    return {"berth_app": "stubborn", "berth_domain": "stubborn.berth.test", "berth_tls": "files",
            "berth_services": {"web": web}, "berth_accessories": {}, "berth_hooks": [], "berth_confirm_path": "",
            "berth_confirm_json_match": {}, "berth_env": {"web": {"APP_ECHO": echo}}, **extra}


def deploy(inventory: Path, variables: dict) -> tuple[float, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_INVENTORY=str(inventory))
    started = time.monotonic()
    result = subprocess.run(["ansible-playbook", "playbooks/deploy.yml", "-e", json.dumps(variables)], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"deploy.yml failed:\n{result.stdout[-3000:]}")
    return time.monotonic() - started, result.stdout


def latest_record() -> dict:
    out = subprocess.run(["docker", "exec", f"berth-{NAME}", "sh", "-c",
                          "ls -t /opt/stubborn/releases/*.json | head -1 | xargs cat"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


SAID = {"before": "berth_standby_overlap is false", "after": "stop in the background"}


def report_says(order: str, stdout: str) -> bool:
    """Whether the deploy report says how the standby stopped (the words may wrap: compare without breaks)."""
    return SAID[order] in " ".join(stdout.split())


def main() -> None:
    snapshot = base_snapshot.ready()
    if not snapshot:
        sys.exit("no provisioned base snapshot for this tree: build it first (tests/base_snapshot.py says how)")
    runs: dict[str, list[dict]] = {"before": [], "after": []}
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp)
        try:
            subprocess.run([*LAB, "droplet", "destroy", NAME], check=False, capture_output=True)
            created = json.loads(subprocess.run(
                [*LAB, "droplet", "create", NAME, "--image", snapshot["image"], "--docker-volume-from",
                 snapshot["volume"]], check=True, capture_output=True, text=True).stdout)
            (inventory / "group_vars").symlink_to(ROOT / "inventory" / "lab" / "group_vars")
            (inventory / "hosts.yml").write_text(json.dumps(
                {"droplets": {"hosts": {NAME: {"ansible_host": created["address"]}}}}))
            deploy(inventory, stack(1, "warm-up-1"))
            deploy(inventory, stack(2, "warm-up-2"))
            for n in range(ROUNDS):
                for order, extra in (("before", {"berth_standby_overlap": False}), ("after", {})):
                    wall, stdout = deploy(inventory, stack(1 + n % 2, f"{order}-{n}-{time.time():.0f}", **extra))
                    record = latest_record()
                    runs[order].append({"wall": wall, "start": float(record["timings"]["start"]),
                                        "total": float(record["timings"]["total"]),
                                        "said": report_says(order, stdout)})
        finally:
            subprocess.run([*LAB, "droplet", "destroy", NAME], check=False, capture_output=True)
    print(f"\nstubborn app (ignores SIGTERM), stop_grace_period {GRACE} s, {ROUNDS} deploys per order, "
          "each replacing a running standby")
    print("| order | wall s (each) | wall s median | record start s median | record total s median | "
          f"grace ({GRACE} s) inside the wall time |")
    print("|---|---|---:|---:|---:|---|")
    for order, label in (("before", "before: standby stops first (berth_standby_overlap false)"),
                         ("after", "after: standby stops in the background")):
        rows = runs[order]
        start = statistics.median(r["start"] for r in rows)
        walls = ", ".join(f"{r['wall']:.1f}" for r in rows)
        print(f"| {label} | {walls} | "
              f"{statistics.median(r['wall'] for r in rows):.1f} | {start:.1f} | "
              f"{statistics.median(r['total'] for r in rows):.1f} | {'yes' if start >= GRACE else 'no'} |")
    saved = statistics.median(r["wall"] for r in runs["before"]) - statistics.median(r["wall"] for r in runs["after"])
    print(f"\nwall time saved per deploy: {saved:.1f} s")
    for order, rows in runs.items():
        print(f"{order}: the deploy report says '{SAID[order]}' in {sum(r['said'] for r in rows)} of "
              f"{len(rows)} deploys")


if __name__ == "__main__":
    main()

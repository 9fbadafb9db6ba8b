#!/usr/bin/env python3
"""Bench: what a release costs against the work it has to wait for, for an ordinary app (the lab's
`lean` test app: its port opens after 8 s, its health endpoint takes 400 ms), on one fresh lab droplet,
under a steady HTTPS load. Prints side by side, in one run:

- provision of a fresh droplet and a provision rerun with nothing to change;
- new release, switch and rollback: berth's wall time beside the floor measured inside the same run
  (the sum of the release record's pull, start, gate, Traefik reload and confirm seconds; no drain
  is waited for because the previous colour stays warm);
- no-op deploy, switch and rollback to the warm colour;
- the same switch and rollback with berth_keep_warm: false (the cold path: start and warm-up again);
and the requests sent and failed during each.

Uses its own droplet (bench-speed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _droplet import ROOT, bench_droplet

sys.path.insert(0, str(ROOT / "tests"))
from edge import LoadGenerator

NAME = "bench-speed"
HOST = "bench.berth.test"
IMAGE = "registry.berth.test/berth/testapp"


def stack(tag: str, **extra: object) -> dict:
    web = {"image": f"{IMAGE}:{tag}", "port": 3000, "health": {"path": "/health", "start_timeout": 60}}
    return {"berth_app": "bench", "berth_domain": HOST, "berth_services": {"web": web}, "berth_accessories": {},
            "berth_hooks": [], "berth_confirm_path": "", "berth_env": {}, **extra}


def ansible(playbook: str, inventory: Path, extra: dict | None = None) -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               ANSIBLE_INVENTORY=f"{ROOT / 'inventory' / 'lab'},{inventory}")
    # localhost names the attempt (deploy.yml's first play), so the limit keeps it.
    args = ["ansible-playbook", playbook, "-e", json.dumps({"berth_hosts": NAME, **(extra or {})}),
            "-l", f"{NAME},localhost"]
    started = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{playbook} failed:\n{result.stdout[-3000:]}")
    return time.monotonic() - started


def latest_record() -> dict:
    out = subprocess.run(["docker", "exec", f"berth-{NAME}", "sh", "-c",
                          "ls -t /opt/bench/releases/*.json | head -1 | xargs cat"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def step_floor() -> float:
    """The work the latest release had to wait for, as timed inside it: pull, start, gate, Traefik
    reload and confirm (warm standby: no drain is waited for)."""
    timings = latest_record().get("timings", {})
    return sum(float(timings.get(k, 0)) for k in ("pull", "start", "gate", "switch", "confirm"))


def measured(address: str, playbook: str, inventory: Path, extra: dict) -> tuple[float, LoadGenerator]:
    with LoadGenerator(address, rate=100, host=HOST) as load:
        time.sleep(1)
        seconds = ansible(playbook, inventory, extra)
        time.sleep(1)
    return seconds, load


def main() -> None:
    rows = []
    with bench_droplet(NAME) as (address, inventory):
        seconds = ansible("playbooks/provision.yml", inventory)
        rows.append(("provision", "fresh droplet", seconds, None, None))
        rerun = ansible("playbooks/provision.yml", inventory)
        rows.append(("provision", "rerun, nothing to change", rerun, None, None))
        ansible("playbooks/deploy.yml", inventory, stack("lean-1"))
        for label, playbook, extra in (("new release", "playbooks/deploy.yml", stack("lean-2")),
                                       ("no-op deploy", "playbooks/deploy.yml", stack("lean-2")),
                                       ("switch (warm)", "playbooks/switch.yml", stack("lean-2")),
                                       ("rollback (warm)", "playbooks/rollback.yml", stack("lean-2"))):
            seconds, load = measured(address, playbook, inventory, extra)
            # A no-op writes no record: its floor is the one state read, not a release's steps.
            rows.append(("berth", label, seconds, None if label == "no-op deploy" else step_floor(), load))
        cold = {"berth_keep_warm": False}
        ansible("playbooks/deploy.yml", inventory, stack("lean-1", **cold))
        ansible("playbooks/deploy.yml", inventory, stack("lean-2", **cold))
        for label, playbook in (("switch (cold)", "playbooks/switch.yml"),
                                ("rollback (cold)", "playbooks/rollback.yml")):
            seconds, load = measured(address, playbook, inventory, stack("lean-2", **cold))
            rows.append(("berth", label, seconds, step_floor(), load))
    print("\n| what | action | seconds | floor s | ratio | requests | failed | versions |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for what, label, seconds, floor, load in rows:
        ratio = f"{seconds / floor:.2f}" if floor else ""
        counts = (f"{len(load.answers)} | {len(load.failures)} | {' -> '.join(load.versions())}" if load else " | | ")
        print(f"| {what} | {label} | {seconds:.1f} | {f'{floor:.1f}' if floor else ''} | {ratio} | {counts} |")


if __name__ == "__main__":
    main()

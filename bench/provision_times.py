#!/usr/bin/env python3
"""Bench: `ansible-playbook playbooks/provision.yml` on a fresh lab droplet, then its idempotent rerun.

Uses its own droplet (bench-provision), so the lab's droplet-1 is left as it is."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from _droplet import ROOT, bench_droplet

NAME = "bench-provision"


def provision(inventory: Path) -> tuple[float, str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    start = time.perf_counter()
    result = subprocess.run(["ansible-playbook", "playbooks/provision.yml", "-i", str(ROOT / "inventory" / "lab"),
                             "-i", str(inventory), "-l", NAME], cwd=ROOT, env=env, check=True,
                            capture_output=True, text=True)
    recap = result.stdout.rsplit("PLAY RECAP", 1)[-1].strip().splitlines()[1]
    return time.perf_counter() - start, " ".join(recap.split()[2:4])


def main() -> None:
    with bench_droplet(NAME) as (_address, inventory):
        fresh, fresh_recap = provision(inventory)
        rerun, rerun_recap = provision(inventory)
    print(f"provision.yml on a fresh lab droplet: {fresh:.1f} s ({fresh_recap}); "
          f"idempotent rerun: {rerun:.1f} s ({rerun_recap})")


if __name__ == "__main__":
    main()

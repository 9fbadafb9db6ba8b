#!/usr/bin/env python3
"""Bench: `ansible-playbook playbooks/provision.yml` on a fresh lab droplet, then its idempotent rerun.

Uses its own droplet (bench-provision), so the lab's droplet-1 is left as it is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = [sys.executable, str(ROOT / "lab" / "lab.py")]
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
    subprocess.run([*LAB, "droplet", "destroy", NAME], check=True, capture_output=True)
    created = json.loads(subprocess.run([*LAB, "droplet", "create", NAME], check=True, capture_output=True,
                                        text=True).stdout)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inventory = Path(tmp) / "bench.yml"
            inventory.write_text(f"droplets:\n  hosts:\n    {NAME}:\n      ansible_host: {created['address']}\n")
            fresh, fresh_recap = provision(inventory)
            rerun, rerun_recap = provision(inventory)
        print(f"provision.yml on a fresh lab droplet: {fresh:.1f} s ({fresh_recap}); "
              f"idempotent rerun: {rerun:.1f} s ({rerun_recap})")
    finally:
        subprocess.run([*LAB, "droplet", "destroy", NAME], check=False, capture_output=True)


if __name__ == "__main__":
    main()

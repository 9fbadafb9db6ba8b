#!/usr/bin/env python3
"""Bench: wall time of `ansible-playbook playbooks/deploy.yml` when nothing changed (no-op rerun)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run() -> float:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    start = time.perf_counter()
    subprocess.run(["ansible-playbook", "playbooks/deploy.yml"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    run()  # converge first, so the timed runs are true no-ops
    times = [run() for _ in range(3)]
    print(f"deploy.yml no-op rerun on 1 lab droplet: {', '.join(f'{t:.1f}' for t in times)} s "
          f"(min {min(times):.1f} s)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Run every benchmark in bench/ and print its numbers (`make bench`)."""

import runpy
from pathlib import Path

BENCHES = ("digest_resolution.py", "provision_times.py", "deploy_rerun.py", "release_vs_naive.py", "release_speed.py",
           "monitoring.py", "fleet_scale.py")
for bench in BENCHES:
    runpy.run_path(str(Path(__file__).parent / bench), run_name="__main__")

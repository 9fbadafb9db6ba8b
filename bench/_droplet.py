"""A throwaway lab droplet for one benchmark, and an inventory that names it."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAB = [sys.executable, str(ROOT / "lab" / "lab.py")]


@contextlib.contextmanager
def bench_droplet(name: str) -> Iterator[tuple[str, Path]]:
    """Create droplet `name` fresh; yield its address and an inventory file; destroy it after."""
    subprocess.run([*LAB, "droplet", "destroy", name], check=True, capture_output=True)
    created = json.loads(subprocess.run([*LAB, "droplet", "create", name], check=True, capture_output=True,
                                        text=True).stdout)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inventory = Path(tmp) / "bench.yml"
            inventory.write_text(f"droplets:\n  hosts:\n    {name}:\n      ansible_host: {created['address']}\n")
            yield created["address"], inventory
    finally:
        subprocess.run([*LAB, "droplet", "destroy", name], check=False, capture_output=True)

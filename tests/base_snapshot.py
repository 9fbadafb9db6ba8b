"""The provisioned base droplet: one droplet is provisioned from scratch per run (test_provision.py's
group, with its -vvv run and its rerun), and a snapshot of it (the droplet's image and its Docker
volume) lets every other e2e group start from a provisioned host in seconds instead of minutes.

The snapshot is named by the recipe hash of everything provisioning reads: the droplet image, the
host roles (provision.yml's fingerprint covers the same list), provision.yml, the lab inventory's
variables and the lab network's gateway (the firewall lets the controller in through it). A change
to any of them makes a new key, and groups never start from a stale host. Each clone still runs
provision.yml once, with the snapshot's own variables, and asserts that it stops after one read
(conftest.py). The suite runner (tests/groups.py) removes READY
before a run, so every run proves provisioning from scratch once and its groups start from that host."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAB_STATE = ROOT / ".lab"
BASE = LAB_STATE / "base"
READY = BASE / "ready"  # JSON {key, image, volume, vars}: the snapshot this run's groups start from
# Every snapshot taken is also kept by its key, so that checkouts of different recipes (two developers'
# worktrees) each find their own and one taking a snapshot never sends the other back to a from-scratch run.
BY_KEY = BASE / "keys"
NETWORK = "berth-lab"
HOST_ROLES = ("deploy_user", "ssh_hardening", "firewall", "docker", "layout", "registry_login", "traefik",
              "host_metrics", "pg_backup")
INPUTS = (*(f"roles/{role}" for role in HOST_ROLES), "playbooks/provision.yml",
          "playbooks/tasks/provision_fingerprint.yml", "plugins/filter/roles.py", "inventory/lab/group_vars",
          "tests/base_snapshot.py", "tests/e2e/conftest.py")


def _sh(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, check=True, timeout=600).stdout.strip()


def _lab(*args: str) -> str:
    return _sh(str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "lab" / "lab.py"), *args)


def _files() -> list[Path]:
    found: list[Path] = []
    for name in INPUTS:
        path = ROOT / name
        found += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return found


def key() -> str:
    """The recipe hash of a provisioned droplet (see the module's docstring)."""
    digest = hashlib.sha256()
    images = json.loads((LAB_STATE / "images.json").read_text())
    gateway = _sh("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK)
    digest.update(f"{images['droplet']}\n{gateway}\n".encode())
    for path in _files():
        digest.update(f"{path.relative_to(ROOT)}\n".encode() + path.read_bytes())
    return digest.hexdigest()[:16]


def ready() -> dict | None:
    """The snapshot of the current key, when one exists: this run's (READY) first, else the last one
    taken of the same recipe."""
    current = key()
    marks = [READY, BY_KEY / f"{current}.json"]
    found = [json.loads(mark.read_text()) for mark in marks if mark.exists()]
    found = [snap for snap in found if snap.get("key") == current and Path(snap["vars"]).exists()]
    if not found:
        return None
    snapshot = found[0]
    there = subprocess.run(["docker", "image", "inspect", snapshot["image"]], capture_output=True, check=False)
    return snapshot if there.returncode == 0 else None


def take(droplet: str, vars_file: str) -> dict:
    """Snapshot a droplet that was just provisioned with `vars_file` (it restarts: ask for its address
    again) and mark it ready for the other groups."""
    current = key()
    BASE.mkdir(parents=True, exist_ok=True)
    made = json.loads(_lab("droplet", "snapshot", droplet, f"berth-lab/provisioned:{current}",
                           f"berth-lab-provisioned-{current}"))
    kept = BASE / f"vars-{current}.yml"
    shutil.copyfile(vars_file, kept)
    kept.chmod(0o600)
    snapshot = {"key": current, "image": made["image"], "volume": made["volume"], "vars": str(kept)}
    BY_KEY.mkdir(exist_ok=True)
    for mark in (BY_KEY / f"{current}.json", READY):
        tmp = mark.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot))
        tmp.rename(mark)
    return snapshot


def clone(droplet: str, snapshot: dict) -> str:
    """A new droplet started from the snapshot; returns its address."""
    _lab("droplet", "destroy", droplet)
    made = json.loads(_lab("droplet", "create", droplet, "--image", snapshot["image"],
                           "--docker-volume-from", snapshot["volume"]))
    return str(made["address"])

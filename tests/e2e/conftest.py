"""The droplet this process's end-to-end tests use (BERTH_DROPLET, droplet-1 by default), provisioned
once per session: from scratch (the default), or, with BERTH_BASE=clone, started from the snapshot of
a droplet provisioned from scratch earlier in the run (base_snapshot.py), which provision.yml then
only reads. With BERTH_BASE=make, the from-scratch droplet is snapshotted for the others. Observers
outside it: two inside the SSH allow-list (one logs in, one scans; ufw rate-limits SSH per source, and
a port scan counts), one outside."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import base_snapshot
import pytest
import yaml
from lab_droplets import (
    DROPLET,
    NETWORK,
    Observer,
    create_droplet,
    droplet_address,
    refresh_address,
    sh,
    use_address,
)
from labtools import LAB_STATE, recap, run_playbook

BASE_MODE = os.environ.get("BERTH_BASE", "")


@pytest.fixture(scope="session")
def observers():
    images = json.loads((LAB_STATE / "images.json").read_text())
    made = {}
    for role in ("inside", "scanner", "outside"):
        name = f"berth-lab-observer-{DROPLET}-{role}"
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "run", "-d", "--name", name, "--network", NETWORK, "--label", "berth.lab=observer",
           images["tools"])
        sh("docker", "cp", str(LAB_STATE / "ssh" / "id_ed25519"), f"{name}:/root/lab_key")
        address = sh("docker", "inspect", "-f", f'{{{{(index .NetworkSettings.Networks "{NETWORK}").IPAddress}}}}',
                     name).stdout.strip()
        made[role] = Observer(name, address)
    yield made
    for observer in made.values():
        sh("docker", "rm", "-f", observer.container, check=False)


@dataclass
class Provisioned:
    address: str
    canary: str
    first: subprocess.CompletedProcess
    first_seconds: float
    second: subprocess.CompletedProcess | None  # only for test_provision.py (see below)
    second_seconds: float
    vars_file: str  # pass to every later playbook run (-e @file): deploy.yml rewrites env files too


@pytest.fixture(scope="session")
def provisioned(tmp_path_factory, request) -> Provisioned:
    """A provisioned droplet with a canary secret and SSH allowed from the controller and the inside
    observer only. From scratch, when test_provision.py runs, the first run is at -vvv (no secret may
    show even there) and a second run follows (it must change nothing); the other modules only need
    a provisioned droplet, and skip both costs. A clone of the base proves instead that provisioning
    it again stops after one read."""
    snapshot = base_snapshot.ready() if BASE_MODE == "clone" else None
    if snapshot is not None:
        return _clone(snapshot, tmp_path_factory)
    if BASE_MODE == "clone":
        print("\nno base snapshot of the current recipe: provisioning from scratch")
    proving = any(item.path.name == "test_provision.py" for item in request.session.items)
    observers = request.getfixturevalue("observers")
    # BERTH_REUSE_DROPLET=1 keeps a droplet an earlier run provisioned (quick reruns while developing).
    create_droplet(fresh=os.environ.get("BERTH_REUSE_DROPLET") != "1")
    gateway = sh("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK).stdout.strip()
    canary = f"berth-canary-{secrets.token_hex(12)}"
    extra = tmp_path_factory.mktemp("provision") / "vars.yml"
    extra.write_text(yaml.safe_dump({
        "firewall_ssh_allow": [f"{gateway}/32", observers["inside"].address, observers["scanner"].address],
        "berth_env": {"web": {"APP_GREETING": "hello", "BERTH_CANARY": canary},
                      "db": {"POSTGRES_USER": "sample", "POSTGRES_PASSWORD": secrets.token_hex(12)}},
    }))
    started = time.monotonic()
    first = run_playbook("playbooks/provision.yml", *(["-vvv"] if proving else []), "-e", f"@{extra}", check=True)
    first_seconds = time.monotonic() - started
    second, second_seconds = None, 0.0
    if proving:
        started = time.monotonic()
        second = run_playbook("playbooks/provision.yml", "-e", f"@{extra}", check=True)
        second_seconds = time.monotonic() - started
    if BASE_MODE == "make":
        started = time.monotonic()
        base_snapshot.take(DROPLET, str(extra))
        refresh_address()
        print(f"\nbase snapshot taken in {time.monotonic() - started:.1f} s")
    return Provisioned(droplet_address(), canary, first, first_seconds, second, second_seconds, str(extra))


def _clone(snapshot: dict, tmp_path_factory) -> Provisioned:
    started = time.monotonic()
    use_address(base_snapshot.clone(DROPLET, snapshot))
    extra = tmp_path_factory.mktemp("provision") / "vars.yml"
    extra.write_text(Path(snapshot["vars"]).read_text())
    cloned = time.monotonic() - started
    started = time.monotonic()
    first = run_playbook("playbooks/provision.yml", "-e", f"@{extra}", check=True)
    seconds = time.monotonic() - started
    # The clone is the host the snapshot was taken of: provisioning it again is one read.
    # The callback folds a long message at a width that depends on the droplet's name: compare the words.
    said = " ".join(first.stdout.split())
    assert "was converged with these inputs and roles already: nothing to do" in said, first.stdout[-3000:]
    assert recap(first.stdout)[DROPLET]["changed"] == 0, first.stdout[-3000:]
    print(f"\n{DROPLET} started from the base snapshot in {cloned:.1f} s; provision.yml read it in {seconds:.1f} s")
    canary = yaml.safe_load(extra.read_text())["berth_env"]["web"]["BERTH_CANARY"]
    return Provisioned(droplet_address(), canary, first, seconds, None, 0.0, str(extra))

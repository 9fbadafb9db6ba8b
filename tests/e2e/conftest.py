"""The droplet this process's end-to-end tests use (BERTH_DROPLET, droplet-1 by default), recreated
fresh and provisioned once per session,
and observers outside it: two inside the SSH allow-list (one logs in, one scans; ufw rate-limits
SSH per source, and a port scan counts), one outside."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass

import pytest
import yaml
from lab_droplets import DROPLET, NETWORK, Observer, create_droplet, droplet_address, sh
from labtools import LAB_STATE, run_playbook


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
def provisioned(observers, tmp_path_factory, request) -> Provisioned:
    """A fresh droplet, provisioned with a canary secret and SSH allowed from the controller and
    the inside observer only. When test_provision.py runs, the first run is at -vvv (no secret may
    show even there) and a second run follows (it must change nothing); the other modules only need
    a provisioned droplet, and skip both costs."""
    proving = any(item.path.name == "test_provision.py" for item in request.session.items)
    # BERTH_REUSE_DROPLET=1 keeps a droplet an earlier run provisioned (quick reruns while developing).
    create_droplet(fresh=os.environ.get("BERTH_REUSE_DROPLET") != "1")
    gateway = sh("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK).stdout.strip()
    canary = f"berth-canary-{secrets.token_hex(12)}"
    extra = tmp_path_factory.mktemp("provision") / "vars.yml"
    extra.write_text(yaml.safe_dump({
        "firewall_ssh_allow": [f"{gateway}/32", observers["inside"].address, observers["scanner"].address],
        "env_files_services": {"web": {"APP_GREETING": "hello", "BERTH_CANARY": canary},
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
    return Provisioned(droplet_address(), canary, first, first_seconds, second, second_seconds, str(extra))

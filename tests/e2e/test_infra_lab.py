"""End to end: infra.yml against the emulator, whose droplets are lab droplets, then provision.yml and
deploy.yml through the berth.ops.do_droplets inventory (run with BERTH_DROPLET set to your droplet).

The emulator hands out the lab droplet's address as the new droplet's public IPv4, so the inventory
plugin's host is a real machine that the host and release layers then work on.
"""

from __future__ import annotations

import os
import secrets
import subprocess

import base_snapshot
import pytest
import yaml
from do_emulator import harness
from lab_droplets import DROPLET, NETWORK, create_droplet, sh
from labtools import ROOT, recap

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("infra-lab")
    # A droplet provisioned before (the base snapshot) when there is one: provision.yml converges it
    # to this inventory's inputs all the same; a fresh one otherwise.
    snapshot = base_snapshot.ready() if os.environ.get("BERTH_BASE") == "clone" else None
    address = base_snapshot.clone(DROPLET, snapshot) if snapshot else create_droplet(DROPLET)
    emulator = harness.start(tmp, address_pool=[address])
    env = harness.environment("lab")
    env["droplets"]["web"]["count"] = 1
    yield emulator, tmp, env, address
    emulator.stop()
    sh(str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "lab" / "lab.py"), "droplet", "destroy", DROPLET,
       check=False)


def run(tmp, playbook: str, inventory, *args: str):
    return subprocess.run(["ansible-playbook", "-i", str(inventory), playbook, *args], cwd=ROOT,
                          env=harness._env(harness.TOKEN), capture_output=True, text=True, check=False, timeout=1200)


def test_infra_droplets_are_provisioned_and_deployed_through_the_inventory(world):
    emulator, tmp, env, address = world
    created = harness.playbook(emulator, tmp, "infra.yml", env)
    assert created.returncode == 0, created.stdout[-4000:]
    assert emulator.violations == []

    inventory = tmp / "inventory"
    inventory.mkdir()
    (inventory / "lab.do_droplets.yml").write_text(yaml.safe_dump({
        "plugin": "berth.ops.do_droplets", "tag": "berth-lab", "api_base_url": emulator.url,
        "ca_path": emulator.ca_path}))
    (inventory / "group_vars").symlink_to(ROOT / "inventory" / "lab" / "group_vars")
    listing = sh("ansible-inventory", "-i", str(inventory), "--list",
                 env=harness._env(harness.TOKEN)).stdout
    listing = harness.plain(yaml.safe_load(listing))
    assert listing["droplets"]["hosts"] == ["lab-web-1"]
    assert listing["berth_lab_web"]["hosts"] == ["lab-web-1"]
    assert listing["_meta"]["hostvars"]["lab-web-1"]["ansible_host"] == address

    gateway = sh("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK).stdout.strip()
    extra = tmp / "vars.yml"
    extra.write_text(yaml.safe_dump({
        "firewall_ssh_allow": [f"{gateway}/32"],
        "berth_env": {"web": {"APP_GREETING": "hello from infra"},
                      "db": {"POSTGRES_USER": "sample", "POSTGRES_PASSWORD": secrets.token_hex(12)}},
    }))
    provision = run(tmp, "playbooks/provision.yml", inventory, "-e", f"@{extra}")
    assert provision.returncode == 0, provision.stdout[-4000:]
    deploy = run(tmp, "playbooks/deploy.yml", inventory, "-e", f"@{extra}")
    assert deploy.returncode == 0, deploy.stdout[-4000:]
    assert "answers at https://sample.berth.test/" in deploy.stdout
    assert recap(deploy.stdout)["lab-web-1"]["failed"] == 0  # deploy.yml also runs a localhost play

"""A fresh droplet: provision.yml --check changes nothing, and the lockout guards refuse what would shut us out."""

from __future__ import annotations

import json
import subprocess

import pytest
from lab_droplets import on_droplet, sh
from labtools import ROOT, recap, run_playbook

NAME = "fresh-check"
CONTAINER = f"berth-{NAME}"


@pytest.fixture(scope="module")
def fresh_inventory(tmp_path_factory):
    python = str(ROOT / ".venv" / "bin" / "python")
    lab = str(ROOT / "lab" / "lab.py")
    sh(python, lab, "droplet", "destroy", NAME)
    created = json.loads(sh(python, lab, "droplet", "create", NAME).stdout)
    inventory = tmp_path_factory.mktemp("fresh") / "fresh.yml"
    inventory.write_text(f"droplets:\n  hosts:\n    {NAME}:\n      ansible_host: {created['address']}\n"
                         "      ansible_user: root\n")
    # localhost too: provision.yml pins images in a play on the controller first.
    yield ["-i", str(ROOT / "inventory" / "lab"), "-i", str(inventory), "-l", f"{NAME},localhost"]
    subprocess.run([python, lab, "droplet", "destroy", NAME], check=False, capture_output=True)


def test_check_mode_on_a_fresh_droplet_does_not_fail(fresh_inventory):
    result = run_playbook("playbooks/provision.yml", "--check", *fresh_inventory)
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)[NAME]["failed"] == 0
    # Check mode changed nothing: no deploy user, no ufw.
    assert on_droplet("id deploy", check=False, container=CONTAINER).returncode != 0
    assert on_droplet("command -v ufw", check=False, container=CONTAINER).returncode != 0


def test_ssh_hardening_refuses_when_the_deploy_user_has_no_key(fresh_inventory):
    before = on_droplet("md5sum /etc/ssh/sshd_config", container=CONTAINER).stdout
    result = run_playbook("tests/e2e/playbooks/apply_role.yml", *fresh_inventory,
                          "-e", f"target={NAME}", "-e", "role=ssh_hardening")
    assert result.returncode != 0
    assert "refusing to restrict sshd, it would lock out 'deploy'" in result.stdout, result.stdout[-2000:]
    assert "does not exist" in result.stdout
    assert on_droplet("md5sum /etc/ssh/sshd_config", container=CONTAINER).stdout == before


def test_firewall_refuses_an_allow_list_without_the_connecting_address(fresh_inventory):
    result = run_playbook("tests/e2e/playbooks/apply_role.yml", *fresh_inventory, "-e", f"target={NAME}",
                          "-e", "role=firewall", "-e", '{"firewall_ssh_allow": ["198.51.100.0/24"]}')
    assert result.returncode != 0
    assert "outside firewall_ssh_allow" in result.stdout, result.stdout[-2000:]
    assert on_droplet("command -v ufw", check=False, container=CONTAINER).returncode != 0

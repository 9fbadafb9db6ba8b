"""`make demo`'s job: deploy.yml puts the sample app behind Traefik on a lab droplet, idempotently."""

from __future__ import annotations

import requests
import yaml
from conftest import ROOT, recap, run_playbook


def droplet_address() -> str:
    inventory = yaml.safe_load((ROOT / "inventory" / "lab" / "hosts.yml").read_text())
    return next(iter(inventory["droplets"]["hosts"].values()))["ansible_host"]


def test_deploy_serves_sample_app_through_traefik_and_reruns_clean():
    first = run_playbook("playbooks/deploy.yml", check=True)
    assert "answers at http://" in first.stdout

    answer = requests.get(f"http://{droplet_address()}/", timeout=5)
    assert answer.status_code == 200
    assert answer.json()["version"] == "1.0.0"

    second = run_playbook("playbooks/deploy.yml", check=True)
    assert all(counts["changed"] == 0 for counts in recap(second.stdout).values()), second.stdout[-3000:]

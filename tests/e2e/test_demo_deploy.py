"""`make demo`'s job: deploy.yml puts the sample app behind Traefik on a lab droplet, idempotently."""

from __future__ import annotations

import requests
import yaml
from conftest import ROOT, recap, run_module, run_playbook


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


def test_deployed_containers_run_the_pinned_digests():
    """A digest the module resolved is what the droplet pulled and runs (app and Traefik)."""
    for name, repo in (("sample-blue-web-1", "berth/sample-app"), ("traefik-traefik-1", "berth/traefik")):
        failed, info = run_module("community.docker.docker_container_info", {"name": name}, host="droplet-1")
        assert not failed and info["exists"], info
        image = info["container"]["Config"]["Image"]
        assert image.startswith(f"registry.berth.test/{repo}@sha256:"), image
        assert info["container"]["State"]["Running"] is True

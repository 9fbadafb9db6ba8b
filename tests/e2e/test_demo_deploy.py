"""`make demo`'s job: deploy.yml puts the sample app behind Traefik on a lab droplet, idempotently."""

from __future__ import annotations

import pytest
import requests
from lab_droplets import droplet_address
from labtools import recap, run_module, run_playbook

pytestmark = pytest.mark.usefixtures("provisioned")


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


def test_health_gate_delegated_to_the_droplet_reaches_its_loopback_port():
    """Traefik's ping port is published on the droplet's loopback only: the gate must run there."""
    failed, result = run_module("berth.ops.health_gate",
                                {"url": "http://127.0.0.1:8082/ping", "body_regex": "OK",
                                 "container": "traefik-traefik-1", "interval": 0.5, "timeout": 0.4},
                                host="droplet-1")
    assert not failed and result["passed"] and result["attempts"] == 3, result.get("msg")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{droplet_address()}:8082/ping", timeout=2)


def test_modules_run_in_check_mode_and_change_nothing(lab_ca):
    for module, args in (("berth.ops.image_digest", {"images": ["registry.berth.test/berth/public-app:1.0.0"],
                                                     "ca_path": lab_ca}),
                         ("berth.ops.health_gate", {"url": f"http://{droplet_address()}/health"})):
        failed, result = run_module(module, args, check_mode=True)
        assert not failed and result["changed"] is False, result.get("msg")

"""`make demo`'s job: deploy.yml puts the sample app behind Traefik on a lab droplet, idempotently."""

from __future__ import annotations

import pytest
import requests
from edge import get
from lab_droplets import DROPLET, droplet_address
from labtools import recap, run_module, run_playbook


def test_deploy_serves_sample_app_through_traefik_and_reruns_clean(provisioned):
    first = run_playbook("playbooks/deploy.yml", "-e", f"@{provisioned.vars_file}", check=True)
    assert "answers at https://sample.berth.test/" in first.stdout

    status, body = get(droplet_address())
    assert status == 200 and body["version"] == "1.0.0", body
    plain = requests.get(f"http://{droplet_address()}/", headers={"Host": "sample.berth.test"},
                         allow_redirects=False, timeout=5)
    assert plain.status_code in (301, 308) and plain.headers["Location"] == "https://sample.berth.test/"

    second = run_playbook("playbooks/deploy.yml", "-e", f"@{provisioned.vars_file}", check=True,
                          env={"ANSIBLE_CALLBACK_RESULT_FORMAT": "json"})
    assert "is live on blue and nothing differs; nothing to do" in second.stdout
    assert all(counts["changed"] == 0 for counts in recap(second.stdout).values()), second.stdout[-3000:]


@pytest.mark.usefixtures("provisioned")
def test_deployed_containers_run_the_pinned_digests():
    """A digest the module resolved is what the droplet pulled and runs (the app from the private lab
    registry, Traefik from the public hub)."""
    for name, repo in (("sample-blue-web-1", "registry.berth.test/berth/sample-app"),
                       ("traefik-traefik-1", "hub.berth.test/library/traefik")):
        failed, info = run_module("community.docker.docker_container_info", {"name": name}, host=DROPLET)
        assert not failed and info["exists"], info
        image = info["container"]["Config"]["Image"]
        assert image.startswith(f"{repo}@sha256:"), image
        assert info["container"]["State"]["Running"] is True


@pytest.mark.usefixtures("provisioned")
def test_health_gate_delegated_to_the_droplet_reaches_its_loopback_port():
    """Traefik's ping port is published on the droplet's loopback only: the gate must run there."""
    failed, result = run_module("berth.ops.health_gate",
                                {"url": "http://127.0.0.1:8082/ping", "body_regex": "OK",
                                 "container": "traefik-traefik-1", "interval": 0.5, "timeout": 0.4},
                                host=DROPLET)
    assert not failed and result["passed"] and result["attempts"] == 3, result.get("msg")
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://{droplet_address()}:8082/ping", timeout=2)


@pytest.mark.usefixtures("provisioned")
def test_modules_run_in_check_mode_and_change_nothing(lab_ca):
    for module, args in (("berth.ops.image_digest", {"images": ["registry.berth.test/berth/public-app:1.0.0"],
                                                     "ca_path": lab_ca}),
                         ("berth.ops.health_gate", {"url": f"http://{droplet_address()}/health",
                                                    "status_codes": [301, 308]})):
        failed, result = run_module(module, args, check_mode=True)
        assert not failed and result["changed"] is False, result.get("msg")
        # Read-only modules still do their work in check mode: a pin, a passed gate.
        if module.endswith("image_digest"):
            assert result["images"][0]["pinned"].startswith("registry.berth.test/berth/public-app@sha256:"), result
        else:
            assert result["passed"] is True and result["attempts"] >= 1, result

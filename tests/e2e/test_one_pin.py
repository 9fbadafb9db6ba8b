"""One pin per deploy: a rolling deploy (berth_serial: 1) to two droplets while the tag it deploys is
moved between them. Every tag is resolved once on the controller, before any host is touched, so
both hosts end on the digest pinned at the start, with the same release id (issue #27).

The tag is moved by a test callback (callbacks/move_tag.py) in ansible-playbook's own process when the
serial play starts its second batch: after the first host went live, before the second host's first
task, with no race. The droplets (DROPLET and DROPLET-b) start from the provisioned base snapshot, or
are provisioned together from scratch when there is none."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import base_snapshot
import pytest
import yaml
from callbacks.move_tag import DOCKER_MANIFEST, move, registry
from lab_droplets import DROPLET, INVENTORY, clone_fleet, destroy_droplets, lab_settings, on_droplet
from labtools import ROOT, recap, run_playbook

HOSTS = (DROPLET, f"{DROPLET}-b")
REPO = "berth/sample-app"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> tuple[Path, str]:
    """An inventory of two provisioned droplets and the variables they were provisioned with."""
    inventory = INVENTORY.parent / f"{DROPLET}-fleet"
    snapshot = base_snapshot.ready()
    clone_fleet(HOSTS, inventory, snapshot)
    if snapshot:
        vars_file = snapshot["vars"]
    else:
        vars_path = tmp_path_factory.mktemp("fleet") / "vars.yml"
        vars_path.write_text(yaml.safe_dump(lab_settings(None)))
        vars_file = str(vars_path)
        result = run_playbook("playbooks/provision.yml", "-e", f"@{vars_file}",
                              env={"ANSIBLE_INVENTORY": str(inventory)})
        assert result.returncode == 0, result.stdout[-3000:]
    yield inventory, vars_file
    destroy_droplets(*HOSTS)


def running_image(host: str) -> str:
    """The image reference the app's web container runs on `host`."""
    return on_droplet("docker inspect -f '{{.Config.Image}}' "
                      "$(docker ps -q --filter label=com.docker.compose.service=web)",
                      container=f"berth-{host}").stdout.strip()


def records(host: str) -> list[dict]:
    """The host's successful release records."""
    out = on_droplet("""python3 -c 'import glob, json
print(json.dumps([json.load(open(f)) for f in glob.glob("/opt/sample/releases/*.json")]))'""",
                     container=f"berth-{host}").stdout
    return [record for record in json.loads(out) if record["status"] == "succeeded"]


def test_a_tag_moved_between_two_serial_hosts_leaves_both_on_the_digest_pinned_at_the_start(fleet):
    inventory, vars_file = fleet
    tag = f"pin-{secrets.token_hex(4)}"
    pinned = move(REPO, tag, "1.0.0")
    stack = {"berth_serial": 1, "berth_hooks": [],
             "berth_services": {"web": {"image": f"registry.berth.test/{REPO}:{tag}", "port": 8000,
                                        "health": {"path": "/health", "start_timeout": 20}}}}
    plan = {"play": "Deploy the stack", "batch": 2, "repo": REPO, "tag": tag, "to": "1.1.0"}
    result = run_playbook("playbooks/deploy.yml", "-e", f"@{vars_file}", "-e", json.dumps(stack), env={
        "ANSIBLE_INVENTORY": str(inventory), "ANSIBLE_CALLBACK_PLUGINS": str(ROOT / "tests" / "e2e" / "callbacks"),
        "ANSIBLE_CALLBACKS_ENABLED": "move_tag", "BERTH_MOVE_TAG": json.dumps(plan)})
    assert result.returncode == 0, result.stdout[-4000:]
    # The tag really moved after the first host went live and before the second one started.
    moved_at = result.stdout.index(f"berth-test: moved {REPO}:{tag}")
    assert result.stdout.index(f"on {HOSTS[0]}: deploy") < moved_at < result.stdout.index(f"on {HOSTS[1]}: deploy")
    moved = registry().digest_of(REPO, tag, DOCKER_MANIFEST)
    assert moved and moved != pinned
    assert all(recap(result.stdout)[host]["failed"] == 0 for host in HOSTS)
    # Both hosts run the digest the tag named at the start, under one release id.
    assert [running_image(host) for host in HOSTS] == [f"registry.berth.test/{REPO}@{pinned}"] * 2
    done = {host: [(r["id"], r["digests"]) for r in records(host)] for host in HOSTS}
    assert len(done[HOSTS[0]]) == 1 and done[HOSTS[0]] == done[HOSTS[1]], done
    assert os.environ.get("BERTH_MOVE_TAG") is None  # the plan reached only the playbook's process

"""One monitoring host scrapes the others over the private network, and only it may reach their exporters
(issue #24). Two droplets from the provisioned base snapshot in one inventory: <prefix>-1 with
berth_monitoring: true (a host variable), <prefix>-2 scraped; provision.yml alone decides who listens where
(berth.ops.scrape_plan). The lab's droplets have one network, so ansible_host is the private address; an
observer container on that network stands for everything else. Without a snapshot both are provisioned
from scratch."""

from __future__ import annotations

import json
import shlex
import time

import base_snapshot
import pytest
import yaml
from lab_droplets import DROPLET, INVENTORY, clone_fleet, destroy_droplets, lab_settings, on_droplet
from labtools import recap, run_playbook

PREFIX = DROPLET.rsplit("-", 1)[0]
MONITOR, SCRAPED = f"{PREFIX}-1", f"{PREFIX}-2"
# Lab cadence: a target is up within seconds of the monitoring host's first start.
FAST = {"monitoring_scrape_interval": "5s", "monitoring_evaluation_interval": "5s"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> dict:
    """Both droplets provisioned by one provision.yml run over the two-host inventory, then a second run."""
    inventory = INVENTORY.parent / f"{PREFIX}-monitoring-fleet"
    snapshot = base_snapshot.ready()
    addresses = clone_fleet((MONITOR, SCRAPED), inventory, snapshot)
    hosts = {MONITOR: {"ansible_host": addresses[MONITOR], "berth_monitoring": True},
             SCRAPED: {"ansible_host": addresses[SCRAPED]}}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"droplets": {"hosts": hosts}}))
    here = tmp_path_factory.mktemp("monitoring-fleet")
    settings = lab_settings(snapshot)
    vars_file = here / "vars.yml"
    vars_file.write_text(yaml.safe_dump({**settings, **FAST}))
    vars_file.chmod(0o600)
    env = {"ANSIBLE_INVENTORY": str(inventory)}
    started = time.monotonic()
    first = run_playbook("playbooks/provision.yml", "-e", f"@{vars_file}", env=env)
    assert first.returncode == 0, first.stdout[-3000:]
    print(f"\nprovision.yml over the two hosts: {time.monotonic() - started:.1f} s")
    again = run_playbook("playbooks/provision.yml", "-e", f"@{vars_file}", env=env)
    assert again.returncode == 0, again.stdout[-3000:]
    assert {host: counts["changed"] for host, counts in recap(again.stdout).items()} == {MONITOR: 0, SCRAPED: 0}, \
        again.stdout[-3000:]
    on_droplet("for i in $(seq 60); do curl -fsS http://127.0.0.1:9090/-/ready && exit 0; sleep 1; done; exit 1",
               container=f"berth-{MONITOR}")
    yield addresses
    destroy_droplets(MONITOR, SCRAPED)


def promql(query: str) -> list[dict]:
    out = on_droplet("curl -fsS --get http://127.0.0.1:9090/api/v1/query --data-urlencode "
                     + shlex.quote(f"query={query}"), container=f"berth-{MONITOR}").stdout
    return json.loads(out)["data"]["result"]


def test_the_monitoring_host_scrapes_the_others_node_exporter_and_berth_metrics(fleet):
    target = f"{fleet[SCRAPED]}:9100"
    wanted = {f'up{{job="node",instance="{target}"}} == 1',
              f'time() - berth_metrics_last_run_timestamp_seconds{{instance="{target}"}} < 60',
              'up{job="node",instance="127.0.0.1:9100"} == 1'}
    deadline = time.time() + 60
    while (missing := {q for q in wanted if not promql(q)}) and time.time() < deadline:
        time.sleep(2)
    assert not missing, {"missing": missing, "up": promql("up")}


def test_only_the_monitoring_host_reaches_the_others_exporter(fleet, observers):
    listening = on_droplet("ss -Htln", container=f"berth-{SCRAPED}").stdout
    assert f"{fleet[SCRAPED]}:9100 " in listening, listening
    for anywhere in ("0.0.0.0:9100 ", "127.0.0.1:9100 ", "*:9100 ", "[::]:9100 "):
        assert anywhere not in listening, listening
    # The monitoring host gets through (the port is open, so a refusal below is the firewall's).
    scraped = on_droplet(f"curl -fsS --max-time 5 http://{fleet[SCRAPED]}:9100/metrics", container=f"berth-{MONITOR}")
    assert "berth_metrics_last_run_timestamp_seconds" in scraped.stdout
    # Everything else on the network does not, nor reaches the monitoring host's own daemons.
    assert observers["outside"].open_ports(fleet[SCRAPED], "9100") == set()
    assert observers["outside"].open_ports(fleet[MONITOR], "9090,9093,9100,9115") == set()

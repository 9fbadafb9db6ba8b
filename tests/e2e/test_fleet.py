"""Many droplets behind a load balancer (issue #21): three droplets (BERTH_DROPLET's prefix with -1, -2, -3:
fleet-1, -2, -3 in the suite) behind the lab's HAProxy of that prefix, which checks each one's health route
with the DigitalOcean load balancer's contract and never retries. HTTPS load goes through the load balancer,
so a request that reaches a host in the wrong moment fails the test. HAProxy's own counters (show stat) say
when it marked a host DOWN and how many requests it sent each one; berth never asks HAProxy anything.

The droplets start from the provisioned base snapshot, or are provisioned together from scratch when
there is none. BERTH_FLEET_REUSE=1 keeps droplets an earlier run left (quick reruns while developing)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import base_snapshot
import pytest
import yaml
from edge import MOVING_RATE, STILL_RATE, LoadGenerator, get, wait_for_version
from lab_droplets import DROPLET, INVENTORY, clone_fleet, destroy_droplets, lab_settings, lb_down, on_droplet, sh
from labtools import ROOT, recap, run_playbook
from release_checks import ENV, App, stack

PREFIX = DROPLET.rsplit("-", 1)[0]
HOSTS = tuple(f"{PREFIX}-{i}" for i in (1, 2, 3))
APP = App("lean", 3000)
# Faster than DigitalOcean takes (interval and timeout from 3 s), the same contract.
LB = {"interval": 1, "timeout": 1, "unhealthy": 2, "healthy": 2}
# The lean app without its listen and health delays: this file tests the fleet, not the app.
QUICK = {"APP_LISTEN_DELAY": "0", "APP_HEALTH_DELAY_MS": "0"}


def _lab(*args: str) -> dict:
    return json.loads(sh(str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "lab" / "lab.py"), *args).stdout)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> dict:
    """Three provisioned droplets in one inventory, and the load balancer in front of them."""
    inventory = INVENTORY.parent / f"{PREFIX}-fleet"
    snapshot = base_snapshot.ready()
    reuse = os.environ.get("BERTH_FLEET_REUSE") == "1"
    if reuse:
        addresses = {host: _lab("droplet", "address", host)["address"] for host in HOSTS}
    else:
        addresses = clone_fleet(HOSTS, inventory, snapshot)
    if not snapshot and not reuse:
        vars_path = tmp_path_factory.mktemp("fleet") / "vars.yml"
        vars_path.write_text(yaml.safe_dump(lab_settings(None)))
        result = run_playbook("playbooks/provision.yml", "-e", f"@{vars_path}",
                              env={"ANSIBLE_INVENTORY": str(inventory)})
        assert result.returncode == 0, result.stdout[-3000:]
    lb = _lab("lb", "up", PREFIX, "--backends", ",".join(HOSTS), *(f"--{k}={v}" for k, v in LB.items()))
    yield {"inventory": inventory, "addresses": addresses, "lb": lb["address"]}
    lb_down(PREFIX)
    if not reuse:
        destroy_droplets(*HOSTS)


def write_inventory(fleet: dict, version: int, per_host: dict | None = None, echo: str = "alpha",
                    **extra: object) -> dict:
    """The stack as host variables of the three droplets in the inventory (they win over the lab's
    group_vars/all; extra vars would win over per-host ones). Returns the environment to run with."""
    variables = stack(APP, APP.tag(version), berth_env={"web": {"APP_ECHO": echo, **QUICK}},
                      **{"berth_lb": LB, "berth_serial": 1, **extra})
    hosts = {host: {"ansible_host": address, **variables, **(per_host or {}).get(host, {})}
             for host, address in fleet["addresses"].items()}
    (fleet["inventory"] / "hosts.yml").write_text(yaml.safe_dump({"droplets": {"hosts": hosts}}))
    return {**ENV, "ANSIBLE_INVENTORY": str(fleet["inventory"])}


def deploy(fleet: dict, version: int, per_host: dict | None = None, echo: str = "alpha", **extra: object):
    """deploy.yml to the three droplets (write_inventory)."""
    env = write_inventory(fleet, version, per_host, echo, **extra)
    result = run_playbook("playbooks/deploy.yml", env=env)
    return result


class LbWatch:
    """HAProxy's view of each server, sampled every 50 ms: (time, {server: (status, lbtot)})."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, dict[str, tuple[str, int]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> LbWatch:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        sock = base_snapshot.LAB_STATE / "lb" / PREFIX / "run" / "admin.sock"
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), {row["svname"]: (row["status"], int(row["lbtot"] or 0))
                                                    for row in stat(sock)}))
            time.sleep(0.05)

    def wait_for(self, condition, timeout: float) -> bool:
        """Until a sample taken from now on satisfies `condition` (an event, not a fixed sleep)."""
        seen, deadline = len(self.samples), time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(condition(servers) for _, servers in self.samples[seen:]):
                return True
            time.sleep(0.05)
        return False

    def most_out_at_once(self) -> int:
        """The most servers at one moment that HAProxy did not count UP (DOWN, or on the way either way)."""
        return max(sum(status != "UP" for status, _ in servers.values()) for _, servers in self.samples)

    def down_spells(self) -> dict[str, list[tuple[int, int]]]:
        """Per server, its lbtot when each DOWN spell began and when it ended."""
        spells: dict[str, list[tuple[int, int]]] = {host: [] for host in HOSTS}
        began: dict[str, int | None] = dict.fromkeys(HOSTS)
        last: dict[str, int] = {}
        for _, servers in self.samples:
            for host, (status, lbtot) in servers.items():
                if status.startswith("DOWN"):
                    began[host] = lbtot if began[host] is None else began[host]
                    last[host] = lbtot
                elif began[host] is not None:
                    spells[host].append((began[host], last[host]))
                    began[host] = None
        return spells


def stat(sock: Path) -> list[dict[str, str]]:
    with socket.socket(socket.AF_UNIX) as conn:
        conn.connect(str(sock))
        conn.sendall(b"show stat\n")
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    header, *rows = data.decode().strip().splitlines()
    fields = header.lstrip("# ").split(",")
    return [row for row in (dict(zip(fields, line.split(","), strict=False)) for line in rows)
            if row["pxname"] == "droplets" and row["svname"] in HOSTS]


def live_record(host: str) -> dict:
    out = on_droplet(f"""python3 -c 'import glob, json
records = [json.load(open(f)) for f in glob.glob("/opt/{APP.name}/releases/*.json")]
print(json.dumps(sorted(records, key=lambda r: r.get("time", ""))))'""", container=f"berth-{host}").stdout
    return [r for r in json.loads(out) if r["status"] == "succeeded"][-1]


def test_a_rolling_deploy_drains_one_host_at_a_time_and_drops_nothing(fleet):
    # The first release, to hosts that serve nothing yet and get no load: all three in one batch.
    first = deploy(fleet, 1, berth_serial=len(HOSTS), berth_lb={**LB, "min_in_rotation": 0})
    assert first.returncode == 0, first.stdout[-5000:]
    assert wait_for_version(fleet["lb"], APP.tag(1), host=APP.domain)
    with LbWatch() as watch, LoadGenerator(fleet["lb"], rate=MOVING_RATE, host=APP.domain) as load:
        with load.window_of():
            result = deploy(fleet, 2)
    print(f"\nrolling deploy of 3 hosts: {load.summary()}")
    assert result.returncode == 0, result.stdout[-5000:]
    assert all(counts["failed"] == 0 for counts in recap(result.stdout).values())
    problems = load.problems()
    assert not problems, "; ".join(problems)
    assert load.versions()[0] == APP.tag(1) and load.versions()[-1] == APP.tag(2), load.versions()
    # One release id on every host, each drained (and back) exactly once, one at a time.
    ids = {live_record(host)["id"] for host in HOSTS}
    assert len(ids) == 1, ids
    assert watch.most_out_at_once() == 1, watch.most_out_at_once()
    spells = watch.down_spells()
    assert all(len(spells[host]) == 1 for host in HOSTS), spells
    # HAProxy sent a DOWN host nothing: its request count did not move while it was DOWN.
    assert all(begin == end for host in HOSTS for begin, end in spells[host]), spells
    # logs.yml across the fleet reads each host's live colour: the new release's start line once per
    # host, none of the warm previous colour's.
    logs = run_playbook("playbooks/logs.yml", "-e", "berth_logs_service=web",
                        "-e", json.dumps({"berth_logs_grep": "testapp lean-"}), env=write_inventory(fleet, 2))
    assert logs.returncode == 0, logs.stdout[-3000:]
    started = logs.stdout.count(f"testapp {APP.tag(2)} listening")
    assert started == len(HOSTS) and f"testapp {APP.tag(1)} listening" not in logs.stdout, logs.stdout[-3000:]


@pytest.mark.parametrize("where", ["gate", "confirm"])
def test_a_release_failing_on_the_second_host_leaves_every_host_on_the_previous_one(fleet, where):
    """At the gate (prepare): no host ever switches. At the public confirm (flip): the second host's confirm,
    running after its rejoin while the third host drains, fails; the third host rejoins unchanged first, then
    the second and the first, already live, return to their warm previous colour, drained again."""
    if live_record(HOSTS[0])["digests"] == {}:
        pytest.fail("the rolling deploy test runs first and leaves release 2 live")
    before = {host: live_record(host)["id"] for host in HOSTS}
    # The gate: the app's /health answers 500 there, never a good answer, so the gate gives up at its start
    # timeout (3 s there, not the 60 s of the others). The confirm: its public answer must name a colour it
    # never has, so it fails when its window ends (5 s there, not the 20 s of the others).
    web = stack(APP, APP.tag(1))["berth_services"]["web"]
    unhealthy = {"berth_env": {"web": {"APP_ECHO": "alpha", **QUICK, "APP_HEALTHY": "false"}},
                 "berth_services": {"web": {**web, "health": {**web["health"], "start_timeout": 3}}}}
    unconfirmed = {"berth_confirm_json_match": {"colour": "none"}, "release_confirm_window": 5}
    per_host = {HOSTS[1]: unhealthy if where == "gate" else unconfirmed}
    # Nothing moves when the gate fails (no host switches): the lower load of tests/README.md's rule.
    rate = STILL_RATE if where == "gate" else MOVING_RATE
    with LbWatch() as watch, LoadGenerator(fleet["lb"], rate=rate, host=APP.domain) as load:
        with load.window_of():
            result = deploy(fleet, 1, per_host)
    print(f"\nfailure at the {where} of host 2: {load.summary()}")
    assert result.returncode != 0, result.stdout[-5000:]
    assert f"failed at step '{where}'" in result.stdout, result.stdout[-5000:]
    problems = load.problems()
    assert not problems, "; ".join(problems)
    # The first hosts served the new release between their flip and their revert, nobody else ever did.
    assert set(load.versions()) == ({APP.tag(2)} if where == "gate" else {APP.tag(1), APP.tag(2)}), load.versions()
    assert load.versions()[-1] == APP.tag(2)
    assert {host: live_record(host)["id"] for host in HOSTS} == before
    # The per-host table of the report: every host, and what happened there.
    table = result.stdout[result.stdout.rindex("Report | Show what went live where"):]
    assert all(host in table for host in HOSTS), table[:3000]
    assert all(status == "UP" for status, _ in watch.samples[-1][1].values()), watch.samples[-1]
    if where == "gate":
        assert watch.most_out_at_once() == 0
    else:
        spells = watch.down_spells()
        # Hosts 1 and 2 were drained for their flip and again for their revert; host 3 for its flip only
        # (it rejoined unchanged when host 2's confirm failed).
        assert [len(spells[host]) for host in HOSTS] == [2, 2, 1], spells
        assert all(begin == end for host in HOSTS for begin, end in spells[host]), spells
        assert watch.most_out_at_once() == 1
    for host in HOSTS:
        assert on_droplet(f"test ! -e /opt/{APP.name}/releases/.deploy.lock", check=False,
                          container=f"berth-{host}").returncode == 0, f"{host} is still locked"


KILLED_RUN: list[str] = []  # the killed run's output, for the assertion messages


def killed_when_drained(env: dict, host: str, timeout: float = 600) -> bool:
    """Start deploy.yml and SIGKILL every process of it as soon as HAProxy stops counting `host` UP (its
    drain under way: its health route answers 503, nothing switched there yet); False when the run ended
    first. The kill takes the process group (ansible-playbook, its workers and their ssh), as a dying CI
    runner would (NOTES.md: a worker mid-task may still finish it on the host)."""
    proc = subprocess.Popen(["ansible-playbook", "playbooks/deploy.yml"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                                     **env))
    reader = threading.Thread(target=lambda: KILLED_RUN.extend(proc.stdout or []), daemon=True)
    reader.start()
    sock = base_snapshot.LAB_STATE / "lb" / PREFIX / "run" / "admin.sock"
    deadline = time.monotonic() + timeout
    reached = False
    while proc.poll() is None and time.monotonic() < deadline:
        if any(row["svname"] == host and row["status"] != "UP" for row in stat(sock)):
            reached = True
            break
        time.sleep(0.05)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    reader.join(5)
    return reached


def answer_of(fleet: dict, host: str) -> dict:
    """What one droplet's public route answers (straight to it, not through the load balancer)."""
    status, body = get(fleet["addresses"][host], host=APP.domain)
    assert status == 200 and isinstance(body, dict), (host, status, body)
    return body


def test_a_controller_killed_mid_flip_leaves_a_split_fleet_the_next_run_brings_to_one_release(fleet):
    """SIGKILL of the whole controller as host 2 drains, host 1 already switched: users get both
    releases for a while and no error. The next deploy.yml, with nothing done by hand, adopts host 1's
    release (gated once, confirmed, recorded; not flipped, not drained), flips hosts 2 and 3 and puts
    host 2 back into rotation: one release id, every host UP, no request failed across both runs."""
    records = {host: live_record(host) for host in HOSTS}
    assert len({json.dumps(r["digests"], sort_keys=True) for r in records.values()}) == 1, records
    before = {host: record["id"] for host, record in records.items()}
    # The other version than the one live, with an env value never deployed: a new release, rendered cold.
    old = answer_of(fleet, HOSTS[0])["version"]
    version = 1 if old == APP.tag(2) else 2
    echo = f"kill-{time.time():.0f}"
    env = write_inventory(fleet, version, echo=echo)
    with LbWatch() as watch, LoadGenerator(fleet["lb"], rate=MOVING_RATE, host=APP.domain) as load:
        with load.window_of():
            reached = killed_when_drained(env, HOSTS[1])
            assert reached, "host 2 was never drained: " + "".join(KILLED_RUN)[-5000:]
            killed = time.monotonic()
            # The split fleet the dead run left: host 1 serves the new release, unrecorded; host 2 drained
            # (HAProxy marks it DOWN after `unhealthy` failed checks; a worker mid-task may finish its task).
            assert watch.wait_for(lambda servers: servers[HOSTS[1]][0].startswith("DOWN"), 10), watch.samples[-1]
            split = {host: (answer_of(fleet, host)["version"], live_record(host)["id"]) for host in HOSTS}
            assert split[HOSTS[0]] == (APP.tag(version), before[HOSTS[0]]), split
            assert split[HOSTS[2]][0] == old, split
            assert watch.samples[-1][1][HOSTS[1]][0].startswith("DOWN"), watch.samples[-1]
            resumed = time.monotonic()
            result = deploy(fleet, version, echo=echo)
    print(f"\nkilled mid-flip, then deployed again: {load.summary()}")
    assert result.returncode == 0, result.stdout[-5000:]
    problems = load.problems()
    assert not problems, "; ".join(problems)
    assert set(load.versions()) == {old, APP.tag(version)} and load.versions()[-1] == APP.tag(version), load.versions()
    records = {host: live_record(host) for host in HOSTS}
    assert len({r["id"] for r in records.values()}) == 1, records
    assert records[HOSTS[0]]["adopted"] is True and records[HOSTS[0]]["warm"] is True, records[HOSTS[0]]
    # Host 2 is adopted too when the kill came after its switch (a busy machine); host 3 never switched.
    assert not records[HOSTS[2]]["adopted"], records[HOSTS[2]]
    print(f"host 2 {'adopted' if records[HOSTS[1]]['adopted'] else 'flipped'} by the next run")
    assert all(answer_of(fleet, host)["version"] == APP.tag(version) for host in HOSTS)
    # Host 1 was not drained again (nothing to flip); host 2 came back; every host UP at the end.
    second_run = [servers for at, servers in watch.samples if at >= resumed]
    assert all(servers[HOSTS[0]][0] == "UP" for servers in second_run), "host 1 was drained by the next run"
    assert all(status == "UP" for status, _ in watch.samples[-1][1].values()), watch.samples[-1]
    assert max(sum(s != "UP" for s, _ in servers.values()) for at, servers in watch.samples if at >= killed) == 1
    for host in HOSTS:
        assert on_droplet(f"test ! -e /opt/{APP.name}/releases/.deploy.lock", check=False,
                          container=f"berth-{host}").returncode == 0, f"{host} is still locked"


@pytest.mark.parametrize("playbook", ["rollback", "switch"])
def test_a_rollback_and_a_switch_across_the_fleet_drain_one_host_at_a_time_and_drop_nothing(fleet, playbook):
    """rollback.yml and switch.yml behind the load balancer go in deploy.yml's phases: every host prepared
    (its warm previous colour gated), then flipped one at a time drained from the load balancer, then
    recorded: one release id on every host, nothing dropped, at most one host out at any moment. Runs on
    the stack the tests before it deployed (their inventory), the previous release kept warm."""
    before = {host: live_record(host) for host in HOSTS}
    assert len({json.dumps(r["digests"], sort_keys=True) for r in before.values()}) == 1, before
    old = answer_of(fleet, HOSTS[0])["version"]
    env = {**ENV, "ANSIBLE_INVENTORY": str(fleet["inventory"])}
    with LbWatch() as watch, LoadGenerator(fleet["lb"], rate=MOVING_RATE, host=APP.domain) as load:
        with load.window_of():
            result = run_playbook(f"playbooks/{playbook}.yml", env=env)
    print(f"\n{playbook} of 3 hosts: {load.summary()}")
    assert result.returncode == 0, result.stdout[-5000:]
    problems = load.problems()
    assert not problems, "; ".join(problems)
    after = {host: live_record(host) for host in HOSTS}
    assert len({r["id"] for r in after.values()}) == 1 and after[HOSTS[0]]["kind"] == playbook, after
    assert all(after[host]["colour"] != before[host]["colour"] for host in HOSTS), (before, after)
    new = answer_of(fleet, HOSTS[0])["version"]
    assert new != old and load.versions()[-1] == new, (old, new, load.versions())
    assert watch.most_out_at_once() == 1, watch.most_out_at_once()
    spells = watch.down_spells()
    assert all(len(spells[host]) == 1 for host in HOSTS), spells
    assert all(begin == end for host in HOSTS for begin, end in spells[host]), spells


def status(fleet: dict, *args: str):
    return run_playbook("playbooks/status.yml", *args, env={**ENV, "ANSIBLE_INVENTORY": str(fleet["inventory"])})


def test_status_shows_the_fleet_and_fails_loudly_when_the_hosts_disagree(fleet):
    """status.yml: per host the live release and colour, the load balancer's state and the lock, and one
    verdict; after one host alone is switched to its other colour (switch.yml -l), FLEET SPLIT names it
    and the play fails. The last test of the file: it leaves the fleet split."""
    ids = {live_record(host)["id"] for host in HOSTS}
    assert len(ids) == 1, ids
    (release,) = ids
    consistent = status(fleet)
    assert consistent.returncode == 0, consistent.stdout[-5000:]
    for host in HOSTS:
        assert f"{host}: release {release} on " in consistent.stdout, consistent.stdout[-5000:]
        assert re.search(rf"{host}: release {release} on (blue|green), load balancer in, lock free", consistent.stdout)
    assert "fleet: 3 host(s) serve one release: " + ", ".join(HOSTS) in consistent.stdout
    assert "FLEET SPLIT" not in consistent.stdout

    env = {**ENV, "ANSIBLE_INVENTORY": str(fleet["inventory"])}
    switched = run_playbook("playbooks/switch.yml", "-l", HOSTS[1], env=env)
    assert switched.returncode == 0, switched.stdout[-5000:]
    other = live_record(HOSTS[1])["id"]
    split = status(fleet)
    assert split.returncode != 0, split.stdout[-5000:]
    assert (f"FLEET SPLIT: the hosts do not serve one release: {HOSTS[0]}, {HOSTS[2]} on release {release} ("
            in split.stdout), split.stdout[-5000:]
    assert f"{HOSTS[1]} on release {other} (" in split.stdout, split.stdout[-5000:]

#!/usr/bin/env python3
"""Bench: what a rolling deploy behind a load balancer costs as the fleet grows (issue #21). In one run,
the same new release (the lab's `lean` app without its start delays, an env value never deployed, so
every host renders, pulls, starts and gates it cold) goes to 1 host and then to 3 hosts, each fleet behind
its own lab HAProxy with the DigitalOcean load balancer's contract (interval 1 s, timeout 1 s, 2 down,
2 up) and berth_serial 1. The droplets are clones of the provisioned base snapshot (tests/base_snapshot.py).
No load goes through the load balancer: a 1-host fleet drained for its flip has nobody to serve it.

Prints side by side, from a callback that times every task on every host (bench/callback_plugins):
- pin (the controller checks every host and pins the images), prepare (every host at once; and the
  slowest host's own time), flip per host (drain, switch, confirm, rejoin), finalize, and the wall time;
- whether 3 hosts take at most twice the time of 1;
- a cost model, prepare in parallel (Ansible's forks hosts at a time), flip in batches, fitted on the
  1-host run's steps: wall(N, batch) = pin + prepare * ceil(N / forks) + ceil(N / batch) * (flip - confirm)
  + confirm + finalize * ceil(N / forks) + rest (the time between plays). A batch's confirm runs in the
  background while the next batch drains (fleet_flip.yml), so only the last batch's confirm is on the
  critical path (a confirm longer than the next drain would show as that batch's confirm wait). Its
  prediction for 1 and 3 hosts beside what was measured, then for 20 hosts flipped 25 % at a time (batches of 5).

Uses its own droplets (fl-bench-0 for 1 host, fl-bench-1..3 for 3) and load balancers (fl-bench-one,
fl-bench-three); removes them after."""

from __future__ import annotations

import configparser
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _droplet import LAB, ROOT

sys.path.insert(0, str(ROOT / "tests"))
import base_snapshot

IMAGE = "registry.berth.test/berth/testapp"
DOMAIN = "lean.berth.test"
LB = {"interval": 1, "timeout": 1, "unhealthy": 2, "healthy": 2}
PLAYS = {"pin": "Check every host's inputs and pin every image once",
         "prepare": "Prepare every host behind the load balancer",
         "flip": "Deploy the stack",
         "finalize": "Finalize every host behind the load balancer"}
FLIP_STEPS = ("drain", "switch", "confirm", "rejoin")
FLEETS = (("fl-bench-one", ("fl-bench-0",)), ("fl-bench-three", ("fl-bench-1", "fl-bench-2", "fl-bench-3")))
BATCH_SHARE = 0.25
BIG = 20


def lab(*args: str) -> dict:
    out = subprocess.run([*LAB, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out) if out.strip().startswith("{") else {}


def stack(version: int, echo: str, lb: dict) -> dict:
    """The lean app as the fleet e2e deploys it (tests/e2e/test_fleet.py), without its start delays."""
    web = {"image": f"{IMAGE}:lean-{version}", "port": 3000, "health_path": "/health",
           "health": {"interval": 1, "timeout": 2, "successes": 3, "start_timeout": 60},
           "stop_grace_period": "10s", "memory": "128m"}
    return {"berth_app": "lean", "berth_domain": DOMAIN, "berth_tls": "files", "berth_services": {"web": web},
            "berth_accessories": {}, "berth_hooks": [], "berth_confirm_path": "/", "berth_confirm_json_match": {},
            "berth_env": {"web": {"APP_ECHO": echo, "APP_LISTEN_DELAY": "0", "APP_HEALTH_DELAY_MS": "0"}},
            "berth_lb": lb, "berth_serial": 1}


def deploy(inventory: Path, addresses: dict, variables: dict, timeline: Path | None = None) -> float:
    hosts = {host: {"ansible_host": address, **variables} for host, address in addresses.items()}
    (inventory / "hosts.yml").write_text(json.dumps({"droplets": {"hosts": hosts}}))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_INVENTORY=str(inventory))
    if timeline:
        env.update(ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "bench" / "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="bench_timeline", BERTH_BENCH_TIMELINE=str(timeline))
    started = time.monotonic()
    result = subprocess.run(["ansible-playbook", "playbooks/deploy.yml"], cwd=ROOT, env=env, capture_output=True,
                            text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"deploy.yml failed:\n{result.stdout[-3000:]}")
    return time.monotonic() - started


def steps(timeline: Path, wall: float, hosts: tuple[str, ...]) -> dict:
    """Seconds per step of one deploy, from the task timeline."""
    lines = [json.loads(line) for line in timeline.read_text().splitlines()]
    step_of = {name: step for step, name in PLAYS.items()}
    spans: dict[tuple[str, ...], tuple[float, float]] = {}
    flip_parts: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(FLIP_STEPS, 0.0))
    for line in lines:
        step = step_of.get(line["play"], "")
        if line["start"] is None or not step:
            continue
        for key in ((step,), (step, line["host"])):
            low, high = spans.get(key, (line["start"], line["end"]))
            spans[key] = (min(low, line["start"]), max(high, line["end"]))
        prefix = line["task"].split(" | ")[0].lower()
        if step == "flip" and prefix in FLIP_STEPS and line["status"] != "skipped":
            flip_parts[line["host"]][prefix] += line["end"] - line["start"]

    def seconds(*key: str) -> float:
        return spans[key][1] - spans[key][0]

    got = {step: seconds(step) for step in PLAYS}
    got.update(wall=wall, rest=wall - sum(got.values()), flip_batch=got["flip"] / len(hosts),
               prepare_host=max(seconds("prepare", h) for h in hosts),
               flips=[seconds("flip", h) for h in hosts], flip_parts=[flip_parts[h] for h in hosts])
    return got


def run_fleet(lb_name: str, hosts: tuple[str, ...], snapshot: dict, tmp: Path) -> dict:
    addresses = {}
    for host in hosts:
        lab("droplet", "destroy", host)
        addresses[host] = lab("droplet", "create", host, "--image", snapshot["image"],
                              "--docker-volume-from", snapshot["volume"])["address"]
    lab("lb", "up", lb_name, "--backends", ",".join(hosts), *(f"--{k}={v}" for k, v in LB.items()))
    inventory = tmp / lb_name
    inventory.mkdir(parents=True)
    (inventory / "group_vars").symlink_to(ROOT / "inventory" / "lab" / "group_vars")
    contract = {**LB, "min_in_rotation": 0 if len(hosts) == 1 else 1}
    deploy(inventory, addresses, stack(1, "bench-first", contract))
    timeline = tmp / f"{lb_name}.jsonl"
    load_before = os.getloadavg()[0]
    wall = deploy(inventory, addresses, stack(2, f"bench-{time.time():.0f}", contract), timeline)
    # The machine's load: the lab's droplets share its cores (and other users' work), so "every host at
    # once" is parallel on real droplets but not here.
    return {**steps(timeline, wall, hosts), "load": (load_before + os.getloadavg()[0]) / 2}


def forks() -> int:
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    return config.getint("defaults", "forks", fallback=5)


def model(fit: dict, hosts: int, batch: int, workers: int) -> float:
    # Fitted on a run's per-batch means: a batch's flip without its own confirm, and the last batch's confirm.
    last = fit["flip_parts"][-1]["confirm"]
    core = fit["flip_batch"] - sum(parts["confirm"] for parts in fit["flip_parts"]) / len(fit["flip_parts"])
    return (fit["pin"] + fit["prepare"] * math.ceil(hosts / workers) + math.ceil(hosts / batch) * core + last
            + fit["finalize"] * math.ceil(hosts / workers) + fit["rest"])


def main() -> None:
    snapshot = base_snapshot.ready()
    if not snapshot:
        sys.exit("no provisioned base snapshot for this tree: build it first (tests/base_snapshot.py says how)")
    # BERTH_BENCH_ROUNDS=N: N rounds of 1 host then 3 hosts, fresh droplets each; the least loaded round of
    # each size is shown (the lab shares 2 cores with other work), every round's wall time beside it.
    rounds = int(os.environ.get("BERTH_BENCH_ROUNDS", "1"))
    sizes: list[list[dict]] = [[] for _ in FLEETS]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for round_ in range(rounds):
                for i, (lb_name, hosts) in enumerate(FLEETS):
                    subprocess.run([*LAB, "lb", "down", lb_name], check=False, capture_output=True)
                    sizes[i].append(run_fleet(lb_name, hosts, snapshot, Path(tmp) / str(round_)))
        finally:
            for lb_name, hosts in FLEETS:
                subprocess.run([*LAB, "lb", "down", lb_name], check=False, capture_output=True)
                for host in hosts:
                    subprocess.run([*LAB, "droplet", "destroy", host], check=False, capture_output=True)
    one, three = (min(runs, key=lambda run: run["load"]) for runs in sizes)
    if rounds > 1:
        print("\nwall time per round (load): " + "; ".join(
            f"{len(hosts)} host(s) " + ", ".join(f"{r['wall']:.1f} s ({r['load']:.1f})" for r in runs)
            for (_, hosts), runs in zip(FLEETS, sizes, strict=True)))
    print("\n| step | 1 host s | 3 hosts s |")
    print("|---|---:|---:|")
    for step in ("pin", "prepare"):
        print(f"| {step} | {one[step]:.1f} | {three[step]:.1f} |")
    print(f"| prepare, slowest host alone | {one['prepare_host']:.1f} | {three['prepare_host']:.1f} |")
    for i in range(len(three["flips"])):
        mine = f"{one['flips'][i]:.1f}" if i < len(one["flips"]) else ""
        parts = three["flip_parts"][i]
        print(f"| flip host {i + 1} ({', '.join(f'{k} {parts[k]:.1f}' for k in FLIP_STEPS)} on 3) | {mine} | "
              f"{three['flips'][i]:.1f} |")
    for step in ("finalize", "rest", "wall"):
        print(f"| {step} | {one[step]:.1f} | {three[step]:.1f} |")
    print(f"| machine load average during the run ({os.cpu_count()} cores) | {one['load']:.1f} | {three['load']:.1f} |")
    ratio = three["wall"] / one["wall"]
    holds = ratio <= 2
    print(f"\n3 hosts / 1 host = {ratio:.2f} (at most 2: {'holds' if holds else 'DOES NOT HOLD'})")
    workers = forks()
    batch = max(1, math.floor(BIG * BATCH_SHARE))
    print(f"\ncost model (forks {workers}): wall(N, batch) = pin + prepare * ceil(N / forks)"
          " + ceil(N / batch) * (flip - confirm) + confirm of the last batch + finalize * ceil(N / forks) + rest")
    print("| fitted on | predicts 1 host s | measured | predicts 3 hosts s | measured | error on 3 | "
          f"predicts {BIG} hosts, batches of {batch} s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, fit in (("1-host run", one), ("3-host run", three)):
        p1, p3, big = model(fit, 1, 1, workers), model(fit, 3, 1, workers), model(fit, BIG, batch, workers)
        print(f"| {label} | {p1:.1f} | {one['wall']:.1f} | {p3:.1f} | {three['wall']:.1f} | "
              f"{(p3 - three['wall']) / three['wall']:+.0%} | {big:.1f} |")
    if not holds:
        sys.exit(1)


if __name__ == "__main__":
    main()

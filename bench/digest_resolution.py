#!/usr/bin/env python3
"""Bench: resolve 20 image references against the lab registry (TLS + bearer tokens).

Prints requests per image, token requests and wall time, in process (the module's client) and
through Ansible (berth.ops.image_digest, one task, with Ansible's own start-up included).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".collections"))
from ansible_collections.berth.ops.plugins.module_utils._http import make_transport  # noqa: E402
from ansible_collections.berth.ops.plugins.module_utils._oci import Client  # noqa: E402
from ansible_collections.berth.ops.plugins.module_utils._registries import Credential  # noqa: E402

LAB = ROOT / ".lab"
REG = "registry.berth.test/berth"
TAGS = [f"{REG}/sample-app:{t}" for t in ("1.0.0", "1.1.0", "broken", "multi", "multi-docker")] + [
    f"{REG}/public-app:1.0.0", f"{REG}/traefik:v3.7", f"{REG}/postgres:17"]


def client() -> Client:
    creds = json.loads((LAB / "credentials.json").read_text())
    pull = Credential(creds["pull_user"], creds["pull_password"], "pull")
    return Client(make_transport(True, str(LAB / "pki" / "ca.crt")), credentials={"registry.berth.test": pull})


def references() -> list[str]:
    pinned = [client().resolve(t)["pinned"] for t in TAGS]
    return TAGS + pinned + TAGS[:4]  # 8 tags, their 8 digests (verified, not trusted), 4 tags again


def in_process(refs: list[str], runs: int = 5) -> dict:
    times, last = [], None
    for _ in range(runs):
        c = client()
        start = time.perf_counter()
        for ref in refs:
            c.resolve(ref)
        times.append(time.perf_counter() - start)
        last = c.stats
    per_image = list(last.per_image.values())
    return {"images": len(refs), "median_s": statistics.median(times), "min_s": min(times),
            "requests": last.requests, "token_requests": last.token_requests,
            "requests_per_image_mean": last.requests / len(refs), "requests_per_image_max": max(per_image)}


def through_ansible(refs: list[str]) -> float:
    creds = json.loads((LAB / "credentials.json").read_text())
    args = {"images": refs, "username": creds["pull_user"], "password": creds["pull_password"],
            "ca_path": str(LAB / "pki" / "ca.crt")}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    start = time.perf_counter()
    subprocess.run(["ansible", "localhost", "-m", "berth.ops.image_digest", "-a", json.dumps(args)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    refs = references()
    result = in_process(refs)
    result["ansible_task_wall_s"] = through_ansible(refs)
    print("digest resolution, 20 references, lab registry (TLS + token auth):")
    print(f"  in-process: median {result['median_s'] * 1000:.0f} ms, min {result['min_s'] * 1000:.0f} ms")
    print(f"  requests: {result['requests']} total, {result['token_requests']} token requests, "
          f"{result['requests_per_image_mean']:.2f} per image (max {result['requests_per_image_max']})")
    print(f"  one ansible task (start-up included): {result['ansible_task_wall_s']:.2f} s")


if __name__ == "__main__":
    main()

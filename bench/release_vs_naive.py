#!/usr/bin/env python3
"""Bench: berth's blue/green deploy against the naive procedure (`docker compose pull && docker
compose up -d` on one compose project behind the same Traefik), on one fresh lab droplet, each
under a steady 150 requests/s over HTTPS: time for a new release, a no-op deploy and a rollback,
and the failed requests during each.

Uses its own droplet (bench-release), so the lab's droplet-1 is left as it is. The naive commands
run on the droplet's console (no SSH or Ansible overhead), which flatters their times."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from _droplet import ROOT, bench_droplet

sys.path.insert(0, str(ROOT / "tests"))
from edge import LoadGenerator, wait_for_version

NAME = "bench-release"
APP = "registry.berth.test/berth/sample-app"
NAIVE_COMPOSE = """services:
  web:
    image: {image}
    restart: unless-stopped
    labels:
      traefik.enable: "true"
      traefik.http.routers.naive.rule: Host(`naive.berth.test`)
      traefik.http.routers.naive.entrypoints: websecure
      traefik.http.routers.naive.tls: "true"
      traefik.http.services.naive.loadbalancer.server.port: "8000"
    networks: [edge]
networks:
  edge:
    name: berth-edge
    external: true
"""


def ansible(playbook: str, inventory: Path, extra: dict | None = None) -> None:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    args = ["ansible-playbook", playbook, "-i", str(ROOT / "inventory" / "lab"), "-i", str(inventory),
            "-e", json.dumps({"berth_hosts": NAME, **(extra or {})})]
    if playbook.endswith("provision.yml"):
        args += ["-l", NAME]
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"{playbook} failed:\n{result.stdout[-3000:]}")


def console(script: str) -> None:
    subprocess.run(["docker", "exec", f"berth-{NAME}", "sh", "-c", script], check=True, capture_output=True)


def naive(tag: str) -> None:
    compose = NAIVE_COMPOSE.format(image=f"{APP}:{tag}")
    console(f"mkdir -p /opt/naive && cat > /opt/naive/compose.yml <<'EOF'\n{compose}EOF\n"
            "cd /opt/naive && docker compose pull -q && docker compose up -d")


def timed(action, address: str, host: str, before: str, after: str) -> tuple[float, LoadGenerator]:
    """Time `action` under load. The load runs from a steady `before` until `after` answers steadily,
    so requests failed while the new version was not yet routed count too."""
    if not wait_for_version(address, before, host):
        sys.exit(f"{host} does not answer {before} before the action")
    with LoadGenerator(address, host=host) as load:
        time.sleep(1)
        start = time.perf_counter()
        action()
        seconds = time.perf_counter() - start
        if not wait_for_version(address, after, host):
            sys.exit(f"{host} does not answer {after} after the action")
        time.sleep(1)
    return seconds, load


def main() -> None:
    with bench_droplet(NAME) as (address, inventory):
        ansible("playbooks/provision.yml", inventory)

        def deploy(tag: str):
            return lambda: ansible("playbooks/deploy.yml", inventory,
                                   {"berth_services": {"web": {"image": f"{APP}:{tag}", "port": 8000,
                                                               "health_path": "/health"}}})

        deploy("1.0.0")()
        berth, plain = "sample.berth.test", "naive.berth.test"
        rows = [("berth", "new release", *timed(deploy("1.1.0"), address, berth, "1.0.0", "1.1.0")),
                ("berth", "no-op deploy", *timed(deploy("1.1.0"), address, berth, "1.1.0", "1.1.0")),
                ("berth", "rollback", *timed(lambda: ansible("playbooks/rollback.yml", inventory),
                                             address, berth, "1.1.0", "1.0.0"))]
        naive("1.0.0")
        rows += [("naive", "new release", *timed(lambda: naive("1.1.0"), address, plain, "1.0.0", "1.1.0")),
                 ("naive", "no-op deploy", *timed(lambda: naive("1.1.0"), address, plain, "1.1.0", "1.1.0")),
                 ("naive", "rollback", *timed(lambda: naive("1.0.0"), address, plain, "1.1.0", "1.0.0"))]
    print("release vs naive `docker compose pull && up -d`, one lab droplet, HTTPS load ~150 req/s:")
    print("  (seconds: the command's wall time; requests/failed: from steady old version to steady new)")
    print(f"  {'procedure':<10}{'action':<14}{'seconds':>9}{'requests':>10}{'failed':>8}  versions")
    for who, action, seconds, load in rows:
        print(f"  {who:<10}{action:<14}{seconds:>9.1f}{len(load.answers):>10}{len(load.failures):>8}"
              f"  {' -> '.join(load.versions())}")

if __name__ == "__main__":
    main()

#!/usr/bin/python3
# Copyright: berth developers
# Apache License 2.0
"""berth's textfile writer: what only berth knows, as Prometheus metrics for node_exporter.

Reads what is already on the host and changes none of it: each app's release records and deploy lock
under <apps root>/<app>/releases (the release record is the source: the live colour and release is
the newest succeeded record, the last result the newest record), and `docker inspect` of every
container (running, health, restarts, OOM kill). Writes <textfile dir>/berth.prom and the file-discovery
target of Traefik's unpublished metrics entrypoint, each to a temporary file renamed over the old one,
so node_exporter and Prometheus never read half a file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
from calendar import timegm

# A colour runs in one of two compose projects (<app>-<colour>, <app>-<colour>-2: a new release starts in
# the one its standby does not run in); accessories and singletons each in one outside the colours.
COLOUR_PROJECT = re.compile(r"^(?P<app>.+)-(?P<colour>blue|green)(?:-2)?$")
APP_PROJECT = re.compile(r"^(?P<app>.+)-(?:accessories|singletons)$")
# A standby moved aside for a new release: renamed <name>-retired-<release id>, stopping in the background.
RETIRED = "-retired-"

HELP = {
    "berth_release_live_info": "The live release and colour of an app (newest succeeded record).",
    "berth_release_last_success": "1 when the app's newest release record succeeded, 0 when it failed.",
    "berth_release_last_timestamp_seconds": "Time of the app's newest release record.",
    "berth_deploy_in_progress": "1 while the app's deploy lock is held.",
    "berth_deploy_lock_acquired_timestamp_seconds": "When the held deploy lock was taken.",
    "berth_container_up": "1 when the container is running.",
    "berth_container_unhealthy": "1 when the container's healthcheck reports unhealthy.",
    "berth_container_restarts_total": "The container's restart count (Docker's RestartCount).",
    "berth_container_oom_killed": "1 when the container's last exit was an OOM kill.",
    "berth_metrics_last_run_timestamp_seconds": "When the writer last ran.",
}


def parse_time(value: str) -> float:
    try:
        return float(timegm(time.strptime(value, "%Y-%m-%dT%H:%M:%SZ")))
    except (TypeError, ValueError):
        return 0.0


def load_records(directory: str) -> list[dict]:
    """Every release record, newest first (the release log's own order: time, then id)."""
    records = []
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    for name in names:
        if not name.endswith(".json") or name.startswith("."):
            continue
        try:
            with open(os.path.join(directory, name), encoding="utf-8") as fh:
                record = json.load(fh)
        except (OSError, ValueError):
            continue
        if isinstance(record, dict) and "id" in record:
            records.append(record)
    return sorted(records, key=lambda r: (r.get("time", ""), r["id"]), reverse=True)


def read_lock(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            lock = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # held, but unreadable: still a deploy in progress
    return lock if isinstance(lock, dict) else {}


def escape(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def sample(name: str, labels: dict, value: float) -> tuple[str, str]:
    inner = ",".join(f'{key}="{escape(val)}"' for key, val in sorted(labels.items()))
    return name, f"{name}{{{inner}}} {number(value)}" if inner else f"{name} {number(value)}"


def app_samples(app: str, records: list[dict], lock: dict | None) -> list[tuple[str, str]]:
    out = []
    live = next((r for r in records if r.get("status") == "succeeded"), None)
    if live is not None:
        out.append(sample("berth_release_live_info",
                          {"app": app, "colour": live.get("colour", ""), "release": live["id"]}, 1))
    if records:
        out.append(sample("berth_release_last_success", {"app": app},
                          1 if records[0].get("status") == "succeeded" else 0))
        out.append(sample("berth_release_last_timestamp_seconds", {"app": app},
                          parse_time(records[0].get("time", ""))))
    out.append(sample("berth_deploy_in_progress", {"app": app}, 0 if lock is None else 1))
    if lock is not None:
        out.append(sample("berth_deploy_lock_acquired_timestamp_seconds", {"app": app},
                          float(lock.get("acquired_at") or 0)))
    return out


def live_colours(apps: dict[str, list[dict]]) -> dict[str, str]:
    colours = {}
    for app, records in apps.items():
        live = next((r for r in records if r.get("status") == "succeeded"), None)
        if live is not None:
            colours[app] = live.get("colour", "")
    return colours


def container_samples(inspected: list[dict], colours: dict[str, str]) -> list[tuple[str, str]]:
    """Per container: up, unhealthy, restarts, OOM kill. `live` is "true" for the live colour of an
    app, an app's accessories and singletons and containers outside any app (Traefik), "false" for the
    standby and a retired standby on its way out."""
    out = []
    for container in inspected:
        config_labels = (container.get("Config") or {}).get("Labels") or {}
        project = config_labels.get("com.docker.compose.project", "")
        app, colour, live = "", "", "true"
        if match := COLOUR_PROJECT.match(project):
            app, colour = match["app"], match["colour"]
            live = "true" if colours.get(app) == colour else "false"
        elif match := APP_PROJECT.match(project):
            app = match["app"]
        name = container.get("Name", "").lstrip("/")
        if RETIRED in name:
            live = "false"
        state = container.get("State") or {}
        labels = {"name": name, "project": project,
                  "service": config_labels.get("com.docker.compose.service", ""),
                  "app": app, "colour": colour, "live": live}
        out.append(sample("berth_container_up", labels, 1 if state.get("Running") else 0))
        out.append(sample("berth_container_unhealthy", labels,
                          1 if (state.get("Health") or {}).get("Status") == "unhealthy" else 0))
        out.append(sample("berth_container_restarts_total", labels, float(container.get("RestartCount") or 0)))
        out.append(sample("berth_container_oom_killed", labels, 1 if state.get("OOMKilled") else 0))
    return out


def render(samples: list[tuple[str, str]], now: float) -> str:
    samples = [*samples, sample("berth_metrics_last_run_timestamp_seconds", {}, now)]
    lines: list[str] = []
    for name in sorted({name for name, _ in samples}):
        lines += [f"# HELP {name} {HELP[name]}", f"# TYPE {name} {'counter' if name.endswith('_total') else 'gauge'}"]
        lines += [line for got, line in samples if got == name]
    return "\n".join(lines) + "\n"


def traefik_targets(inspected: list[dict], project: str, network: str, port: int) -> list[dict]:
    for container in inspected:
        config_labels = (container.get("Config") or {}).get("Labels") or {}
        if config_labels.get("com.docker.compose.project") != project:
            continue
        address = ((container.get("NetworkSettings") or {}).get("Networks") or {}).get(network, {}).get("IPAddress")
        if address and (container.get("State") or {}).get("Running"):
            return [{"targets": [f"{address}:{port}"], "labels": {"job": "traefik"}}]
    return []


def docker_inspect() -> list[dict]:
    ids = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=True, timeout=30).stdout.split()
    if not ids:
        return []
    found = subprocess.run(["docker", "inspect", *ids], capture_output=True, text=True, check=False, timeout=30)
    # A container removed between ps and inspect makes inspect exit 1 but still print the others.
    return json.loads(found.stdout or "[]")


def write_atomically(path: str, content: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".berth-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def collect(apps_root: str) -> dict[str, tuple[list[dict], dict | None]]:
    apps = {}
    try:
        names = sorted(os.listdir(apps_root))
    except OSError:
        return {}
    for app in names:
        releases = os.path.join(apps_root, app, "releases")
        if os.path.isdir(releases):
            apps[app] = (load_records(releases), read_lock(os.path.join(releases, ".deploy.lock")))
    return apps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--apps-root", required=True)
    parser.add_argument("--textfile-dir", required=True)
    parser.add_argument("--targets-dir", required=True)
    parser.add_argument("--traefik-project", required=True)
    parser.add_argument("--traefik-network", required=True)
    parser.add_argument("--traefik-port", type=int, required=True)
    args = parser.parse_args()
    now = time.time()
    apps = collect(args.apps_root)
    samples = [s for app, (records, lock) in apps.items() for s in app_samples(app, records, lock)]
    inspected = docker_inspect()
    samples += container_samples(inspected, live_colours({app: records for app, (records, _) in apps.items()}))
    write_atomically(os.path.join(args.textfile_dir, "berth.prom"), render(samples, now))
    targets = traefik_targets(inspected, args.traefik_project, args.traefik_network, args.traefik_port)
    write_atomically(os.path.join(args.targets_dir, "traefik.json"), json.dumps(targets, indent=1) + "\n")


if __name__ == "__main__":
    main()

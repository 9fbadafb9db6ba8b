# Copyright: berth developers
# Apache License 2.0
"""What a host holds of one app's releases: the release directories, the live routing, the colours'
containers. Shared by the release_plan, release_render and release_switch modules."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from ansible.module_utils.basic import remove_values

# What a release directory keeps in place of a route file that did not exist before the attempt.
ABSENT = b"# berth: this file did not exist\n"


def release_arguments() -> dict:
    """The options every module that writes a release's files takes."""
    return {
        "root": {"type": "path", "required": True},
        "app": {"type": "str", "required": True},
        "dynamic_dir": {"type": "path", "default": "/opt/traefik/dynamic"},
        "release_id": {"type": "str", "required": True},
        "colour": {"type": "str", "required": True, "choices": ["blue", "green"]},
    }


def release_dir(root: str, release_id: str) -> str:
    return os.path.join(root, "releases", release_id)


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return None


def read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def read_routes(path: str) -> dict | None:
    """A Traefik dynamic config written by berth (JSON, which is YAML); None when absent or not ours."""
    data = read_bytes(path)
    if data is None:
        return None
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def write_atomic(path: str, data: bytes | str, mode: int = 0o644) -> bool:
    """Write by rename from a temporary file in the same directory; False when the content was already there.

    The temporary name starts with '.' and ends in '.tmp', which Traefik's file provider ignores."""
    if isinstance(data, str):
        data = data.encode()
    if read_bytes(path) == data and (os.stat(path).st_mode & 0o777) == mode:
        return False
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def release_env(root: str, release_id: str) -> dict[str, dict[str, str]]:
    """The env values a release was rendered with (root-only files)."""
    directory = os.path.join(release_dir(root, release_id), "env")
    env = {}
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return {}
    for name in names:
        if name.endswith(".json"):
            env[name[:-5]] = read_json(os.path.join(directory, name)) or {}
    return env


# The infix of a retired standby container's name (<name>-retired-<release id>).
RETIRED = "-retired-"


def labelled(run_command, app: str) -> list[dict]:
    """Every container of `app` (running or not) from one `docker ps`: {name, id, state, status, labels, networks}."""
    rc, out, err = run_command(["docker", "ps", "-a", "--filter", f"label=berth.app={app}", "--format", "{{json .}}"])
    if rc != 0:
        raise RuntimeError(f"docker ps failed: {err.strip() or out.strip()}")
    found = []
    for line in out.splitlines():
        entry = json.loads(line)
        found.append({"name": entry.get("Names", ""), "id": entry.get("ID", ""), "state": entry.get("State", ""),
                      "status": entry.get("Status", ""),
                      "labels": dict(item.split("=", 1) for item in entry.get("Labels", "").split(",") if "=" in item),
                      "networks": [n for n in entry.get("Networks", "").split(",") if n]})
    return found


def containers(run_command, app: str) -> dict[str, dict[str, dict]]:
    """{colour: {service: {running, release, checksum, status, name, project}}} from one `docker ps`. A retired
    standby (renamed aside by release_retire, stopping in the background) belongs to no colour."""
    found: dict[str, dict[str, dict]] = {"blue": {}, "green": {}}
    for entry in labelled(run_command, app):
        labels = entry["labels"]
        colour, service = labels.get("berth.colour"), labels.get("com.docker.compose.service")
        if colour in found and service and RETIRED not in entry["name"]:
            found[colour][service] = {"running": entry["state"] == "running", "status": entry["status"],
                                      "release": labels.get("berth.release", ""),
                                      "checksum": labels.get("berth.checksum", ""),
                                      "name": entry["name"], "id": entry["id"],
                                      "project": labels.get("com.docker.compose.project", "")}
    return found


def exit_unmasked(module, **result: Any) -> None:
    """exit_json for a result built to hold no secret. Ansible masks every no_log value wherever it
    appears inside a result string, so a secret env value '0' turns each 0 of a checksum into '********'
    and the records of one release disagree. The arguments shown in the invocation stay masked."""
    invocation = {"module_args": remove_values(module.params, module.no_log_values)}
    module.no_log_values = set()
    module.exit_json(invocation=invocation, **result)


def mem_available() -> int | None:
    """MemAvailable of /proc/meminfo in bytes (None when unreadable)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


CGROUP_MEMORY = ("/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.current",
                 "/sys/fs/cgroup/docker/{id}/memory.current",
                 "/sys/fs/cgroup/memory/docker/{id}/memory.usage_in_bytes")


def memory_usage(run_command, containers_by_service: dict[str, dict]) -> dict[str, int]:
    """{service: bytes} its running container uses now: its cgroup's (v2 or v1), else `docker stats`."""
    usage, missing = {}, {}
    for service, container in containers_by_service.items():
        if not container.get("running"):
            continue
        for pattern in CGROUP_MEMORY:
            try:
                with open(pattern.format(id=_full_id(run_command, container)), encoding="ascii") as fh:
                    usage[service] = int(fh.read().strip())
                break
            except (OSError, ValueError):
                continue
        else:
            missing[container["name"]] = service
    if missing:
        rc, out, _err = run_command(["docker", "stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}",
                                     *missing])
        for line in out.splitlines() if rc == 0 else []:
            name, _tab, text = line.partition("\t")
            amount = text.split("/")[0].strip().replace("iB", "").replace("B", "").lower()
            if name in missing and amount:
                usage[missing[name]] = _size(amount)
    return usage


def _full_id(run_command, container: dict) -> str:
    if len(container.get("id", "")) == 64:
        return container["id"]
    rc, out, _err = run_command(["docker", "inspect", "-f", "{{.Id}}",
                                 container.get("name") or container.get("id", "")])
    container["id"] = out.strip() if rc == 0 else container.get("id", "")
    return container["id"]


def _size(text: str) -> int:
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    try:
        return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(float(text))
    except ValueError:
        return 0

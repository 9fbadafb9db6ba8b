"""Where the lab is and how tests talk to it (playbooks, modules, the token server)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
LAB_STATE = ROOT / ".lab"
REGISTRY = "registry.berth.test"
# Tests read what a run did from Ansible's full output (task banners as they start, "changed:" under
# them): the default callback, not berth.ops.steps, whose quiet lines a person reads
# (tests/integration/test_output.py proves those; test_deploy_report.py runs the CI command line with them).
os.environ["ANSIBLE_STDOUT_CALLBACK"] = "default"


def at(path: str, value: object):
    """A change that sets a dotted path (berth_services.web.health.status) in inventory variables."""
    def change(variables: dict) -> None:
        *parents, last = path.split(".")
        node = variables
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return change


def run_playbook(playbook: str, *args: str, check: bool = False, env: dict | None = None
                 ) -> subprocess.CompletedProcess:
    """Run ansible-playbook from the project root against the lab inventory."""
    full_env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
                    **(env or {}))
    result = subprocess.run(["ansible-playbook", playbook, *args], cwd=ROOT, env=full_env,
                            capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        pytest.fail(f"{playbook} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
    return result


def recap(output: str) -> dict[str, dict[str, int]]:
    """Parse PLAY RECAP lines into {host: {ok: n, changed: n, ...}}."""
    hosts: dict[str, dict[str, int]] = {}
    lines = output.split("PLAY RECAP", 1)[-1].splitlines()[1:]
    for line in lines:
        if ":" not in line or "=" not in line:
            continue
        host, _, counters = line.partition(":")
        hosts[host.strip()] = {k: int(v) for k, v in (c.split("=") for c in counters.split())}
    return hosts


def failed_task(output: str) -> str:
    """The name of the task whose result was the first `fatal:` in a playbook's output ('' when none)."""
    task = ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[len("TASK ["):].rsplit("]", 1)[0]
        elif line.startswith("fatal:"):
            return task
    return ""


def run_module(module: str, args: dict, host: str = "localhost", extra_env: dict | None = None,
               check_mode: bool = False) -> tuple[bool, dict]:
    """Run one berth.ops module through Ansible (ad hoc) and return (failed, result)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_STDOUT_CALLBACK="ansible.posix.json", **(extra_env or {}))
    command = ["ansible", host, "-m", module, "-a", json.dumps(args)] + (["--check"] if check_mode else [])
    if host != "localhost":
        command.append("--become")  # droplets are reached as the deploy user, Docker needs root
    result = subprocess.run(command, cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False, timeout=300)
    try:
        data = json.loads(result.stdout)
        outcome = data["plays"][0]["tasks"][0]["hosts"][host]
    except (ValueError, KeyError, IndexError):
        pytest.fail(f"no JSON result from {module}: rc={result.returncode}\n{result.stdout[-2000:]}\n"
                    f"{result.stderr[-2000:]}")
    return bool(outcome.get("failed") or outcome.get("unreachable")), outcome


def registry_token(ca: str, repo: str | None, auth: tuple[str, str] | None = None,
                   actions: str = "pull") -> requests.Response:
    """Ask the lab token server for a token the way a client does: realm and service from the challenge."""
    challenge = requests.get(f"https://{REGISTRY}/v2/", verify=ca, timeout=10)
    assert challenge.status_code == 401
    scheme, _, raw = challenge.headers["WWW-Authenticate"].partition(" ")
    assert scheme == "Bearer"
    params = dict(re.findall(r'(\w+)="([^"]*)"', raw))
    query = {"service": params["service"]}
    if repo:
        query["scope"] = f"repository:{repo}:{actions}"
    return requests.get(params["realm"], verify=ca, timeout=10, auth=auth, params=query)

"""Helpers for tests that run berth's DO playbooks and modules against an in-process emulator."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import yaml

from .server import Emulator

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "dop_v1_emulatorTokenNeverPrinted0123456789abcdef"
PUBLIC_KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH8mQ0uS7n3xX1m8mE0r3pQ9c0f4X6b1c2d3e4f5a6b7 berth-test")


def environment(name: str = "t1", web: int = 2) -> dict:
    """A berth_infra tree that uses every part of infra.yml."""
    return {
        "name": name, "region": "nyc3",
        "vpc": {"ip_range": "10.20.0.0/20"},
        "ssh_key": {"name": f"{name}-deploy", "public_key": PUBLIC_KEY},
        "droplets": {"web": {"count": web, "size": "s-1vcpu-1gb", "image": "debian-13-x64",
                             "user_data": "#cloud-config\n{}\n"}},
        "firewall": {"public_ports": [80, 443], "ssh_sources": ["198.51.100.7/32"]},
        "load_balancer": {"group": "web", "health_check": {
            "protocol": "http", "port": 80, "path": "/lb-health", "check_interval_seconds": 5,
            "response_timeout_seconds": 3, "unhealthy_threshold": 2, "healthy_threshold": 2}},
        "databases": {"pg": {"engine": "pg", "version": "16", "size": "db-s-1vcpu-1gb",
                             "users": ["app"], "databases": ["app"]},
                      "cache": {"engine": "valkey", "version": "8", "size": "db-s-1vcpu-1gb"}},
        "domain": {"name": f"{name}.example.test", "records": [
            {"type": "CNAME", "name": "www", "data": f"{name}.example.test.", "ttl": 300}]},
        "project": {"name": f"berth-{name}", "environment": "Staging"},
    }


def start(tmp: Path, **kw) -> Emulator:
    return Emulator(TOKEN, certdir=tmp / "certs", **kw).start()


def api_vars(emulator: Emulator) -> dict:
    return {"base_url": emulator.url, "ca_path": emulator.ca_path, "poll_interval": 0.02}


def playbook(emulator: Emulator, tmp: Path, name: str, infra: dict, *args: str, token: str = TOKEN,
             url_from_env: bool = False, **extra) -> subprocess.CompletedProcess:
    """Run playbooks/<name> with berth_infra; the token reaches it only through the environment (and,
    with url_from_env, the API's address too: DIGITALOCEAN_API_URL, as a user would set it)."""
    infra = {**infra, "output": str(tmp / "out" / f"infra-{infra['name']}.yml")}
    api = api_vars(emulator)
    env = _env(token)
    if url_from_env:
        env["DIGITALOCEAN_API_URL"] = api.pop("base_url")
    varfile = tmp / "vars.yml"
    varfile.write_text(yaml.safe_dump({"berth_infra": infra, "berth_infra_api": api, **extra}))
    return subprocess.run(["ansible-playbook", "-i", "localhost,", f"playbooks/{name}", "-e", f"@{varfile}", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=300)


def module(emulator: Emulator, name: str, args: dict, *flags: str, token: str = TOKEN
           ) -> subprocess.CompletedProcess:
    """Run one berth.ops.do_* module ad hoc on localhost."""
    args = {"api_base_url": emulator.url, "ca_path": emulator.ca_path, "poll_interval": 0.02, **args}
    return subprocess.run(["ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", f"berth.ops.{name}",
                           "-a", json.dumps(args), "-e", "ansible_python_interpreter={{ ansible_playbook_python }}",
                           *flags], cwd=ROOT, env=_env(token), capture_output=True, text=True, check=False,
                          timeout=120)


def inventory(config: Path, token: str = TOKEN) -> subprocess.CompletedProcess:
    return subprocess.run(["ansible-inventory", "-i", str(config), "--list"], cwd=ROOT, env=_env(token),
                          capture_output=True, text=True, check=False, timeout=120)


def plain(value):
    """ansible-inventory --list marks values from an inventory plugin as unsafe: unwrap them."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _env(token: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DIGITALOCEAN_TOKEN", "DO_API_TOKEN", "DO_API_KEY",
                                                            "OAUTH_TOKEN", "ANSIBLE_INVENTORY")}
    env.update(DIGITALOCEAN_TOKEN=token, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               PATH=f"{ROOT / '.venv' / 'bin'}:{env.get('PATH', '')}")
    return env


def writes(emulator: Emulator) -> list[str]:
    """Writes in the journal, with ids replaced by the resource kind so tests can compare lists."""
    out = []
    for entry in emulator.journal:
        if entry["method"] == "GET":
            continue
        parts = entry["path"].split("/")
        out.append(entry["method"] + " " + "/".join(p if not _is_id(p) else "{id}" for p in parts))
    return out


def _is_id(part: str) -> bool:
    return part.isdigit() or (len(part) == 36 and part.count("-") == 4)

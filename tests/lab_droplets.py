"""Looking at lab droplets from outside (observers: lab "tools" containers) and from their console."""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from labtools import ROOT

NETWORK = "berth-lab"
# Each pytest process owns one droplet (BERTH_DROPLET), so independent e2e modules run in parallel
# on droplets of their own; its inventory (.inventories/<droplet>/) holds only that host.
DROPLET = os.environ.get("BERTH_DROPLET", "droplet-1")
CONTAINER = f"berth-{DROPLET}"
INVENTORY = ROOT / ".inventories" / DROPLET


def sh(*args: str, check: bool = True, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, check=check, timeout=timeout, **kw)


def on_droplet(script: str, check: bool = True, container: str = CONTAINER) -> subprocess.CompletedProcess:
    """Look at (or set up) the droplet from its console, the way an operator with console access would."""
    return sh("docker", "exec", container, "sh", "-c", script, check=check)


def droplet_address(name: str = DROPLET) -> str:
    inventory = yaml.safe_load((INVENTORY / "hosts.yml").read_text())
    return inventory["droplets"]["hosts"][name]["ansible_host"]


def refresh_address(name: str = DROPLET) -> str:
    """The droplet's address now (a restarted container may get another one on the lab network, when
    parallel groups reused its old one); the inventory follows."""
    return _inventory_for(name, yaml.safe_load(_lab("droplet", "address", name).stdout)["address"])


def _lab(*args: str) -> subprocess.CompletedProcess:
    return sh(str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "lab" / "lab.py"), *args)


def _inventory_for(name: str, address: str) -> str:
    """Write this process's inventory when `name` is its droplet; returns `address`."""
    if name == DROPLET:
        (INVENTORY / "hosts.yml").write_text(yaml.safe_dump({"droplets": {"hosts": {name: {"ansible_host": address}}}}))
    return address


def use_droplet_inventory() -> None:
    """Point every ansible run of this process at an inventory of this process's droplet alone,
    with the lab's group_vars."""
    INVENTORY.mkdir(parents=True, exist_ok=True)
    link = INVENTORY / "group_vars"
    if not link.is_symlink():
        link.symlink_to(ROOT / "inventory" / "lab" / "group_vars")
    os.environ["ANSIBLE_INVENTORY"] = str(INVENTORY)


def use_address(address: str) -> str:
    """This process's droplet now answers at `address` (e.g. a clone of the base snapshot)."""
    return _inventory_for(DROPLET, address)


def create_droplet(name: str = DROPLET, fresh: bool = True) -> str:
    """(Re)create the droplet and write its inventory; returns its address."""
    if fresh:
        _lab("droplet", "destroy", name)
    return _inventory_for(name, yaml.safe_load(_lab("droplet", "create", name).stdout)["address"])


def lab_json(*args: str) -> dict:
    """lab.py's answer (JSON) to `args`."""
    return json.loads(_lab(*args).stdout)


def destroy_droplets(*names: str) -> None:
    with ThreadPoolExecutor(max(1, len(names))) as pool:
        list(pool.map(lambda name: _lab("droplet", "destroy", name), names))


def lb_down(name: str) -> None:
    sh(str(ROOT / ".venv" / "bin" / "python"), str(ROOT / "lab" / "lab.py"), "lb", "down", name, check=False)


def clone_fleet(hosts: tuple[str, ...], inventory: Path, snapshot: dict | None,
                group_vars: Path = ROOT / "inventory" / "lab" / "group_vars") -> dict[str, str]:
    """Droplets `hosts` started from the provisioned base snapshot (empty ones when it is None: the caller
    provisions them), and `inventory`, a directory holding them with `group_vars` linked in.
    Returns their addresses."""
    extra = ["--image", snapshot["image"], "--docker-volume-from", snapshot["volume"]] if snapshot else []

    def create(host: str) -> str:
        _lab("droplet", "destroy", host)
        return lab_json("droplet", "create", host, *extra)["address"]

    # All at once: each waits mostly on its volume copy and its boot, not on this machine's CPU.
    with ThreadPoolExecutor(len(hosts)) as pool:
        addresses = dict(zip(hosts, pool.map(create, hosts), strict=True))
    inventory.mkdir(parents=True, exist_ok=True)
    (inventory / "hosts.yml").write_text(yaml.safe_dump(
        {"droplets": {"hosts": {host: {"ansible_host": address} for host, address in addresses.items()}}}))
    if not (inventory / "group_vars").is_symlink():
        (inventory / "group_vars").symlink_to(group_vars)
    return addresses


def lab_settings(snapshot: dict | None) -> dict:
    """The variables a fleet is provisioned with: the snapshot's, or the controller's SSH allow-list."""
    if snapshot:
        return yaml.safe_load(Path(snapshot["vars"]).read_text())
    gateway = sh("docker", "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", NETWORK).stdout.strip()
    return {"firewall_ssh_allow": [f"{gateway}/32"]}


def wait_for_boot(container: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        state = sh("docker", "exec", container, "systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    pytest.fail(f"{container} did not boot again")


@dataclass
class Observer:
    container: str
    address: str

    def run(self, *args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        return sh("docker", "exec", self.container, *args, check=check, timeout=timeout)

    def open_ports(self, target: str, ports: str = "1-65535") -> set[int]:
        """TCP connect scan; returns the ports that accepted a connection. The firewall drops the rest, so
        the scan's time is the rate: 12,000/s scans all ports in 15 s (33 s at 4,000/s; the same answers on
        the lab network, measured side by side)."""
        scan = self.run("nmap", "-Pn", "-n", "-sT", "-T4", "--min-rate", "12000", "--max-retries", "1",
                        "-p", ports, "-oG", "-", target, check=True)
        found = set()
        for line in scan.stdout.splitlines():
            if "Ports:" in line:
                for entry in line.split("Ports:", 1)[1].split(","):
                    port, state = entry.strip().split("/")[:2]
                    if state == "open":
                        found.add(int(port))
        return found

    def ssh(self, user: str, target: str, command: str = "id -un", *extra: str) -> subprocess.CompletedProcess:
        return self.run("ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", "StrictHostKeyChecking=no",
                        "-o", "UserKnownHostsFile=/dev/null", "-i", "/root/lab_key", *extra,
                        f"{user}@{target}", command, timeout=60)



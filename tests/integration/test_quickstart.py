"""docs/quickstart.md's DigitalOcean part, followed literally up to the first step that needs real droplets.

Each `**Step.**` paragraph's code blocks run as written, in one shell session (its exports carry over),
in a copy of the checkout with a fresh HOME. The test stands in for the person where the docs say "edit":
it is the $EDITOR, and it types the token and the vault password. What points the run at the
spec-checked emulator instead of DigitalOcean is the environment (DIGITALOCEAN_API_URL, SSL_CERT_FILE
for the emulator's CA) and, since infra.yml takes its endpoint from berth_infra, `api.base_url` in
env.yml. Provisioning needs real droplets: the test stops at the host keys.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from do_emulator import harness
from do_emulator.harness import TOKEN, writes

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "quickstart.md"
SECTION = "## 2. On DigitalOcean, step by step"
# The steps this test runs, in the docs' order; every one after them needs a real droplet.
STEPS = ("Token", "An SSH key for deploys", "The environment", "Inventory")
NEXT_STEP = "Host keys"
VAULT_PASSWORD = "quickstart-vault-password"
MY_ADDRESS = "203.0.113.7/32"

# What a person writes into the files the docs open in an editor (README.md's example, for this stack).
STACK = {
    "berth_app": "shop",
    "berth_registries": {"ghcr.io": {"username": "my-org-bot", "password": "{{ vault_ghcr_read_token }}"}},
    "berth_services": {"web": {"image": "ghcr.io/my-org/shop-web:1.4.2", "port": 8000,
                               "health": {"path": "/health"}}},
    "berth_env": {"web": {"DATABASE_URL": "{{ vault_database_url }}"}},
    "ansible_user": "deploy",
    "deploy_user_authorized_keys": ["{{ lookup('file', '~/.ssh/berth_prod.pub') }}"],
    "deploy_user_sudo": "full",
    "firewall_ssh_allow": [MY_ADDRESS],
}
SECRETS = {"vault_ghcr_read_token": "ghp_quickstartReadTokenNeverShown", "vault_database_url": "postgresql://app@db/app"}

EDITOR = r'''#!/usr/bin/env python3
"""The person editing a file the quickstart opens: env.yml, the group's variables, the vault."""
import json, os, sys, yaml
path = sys.argv[-1]
home = os.environ["HOME"]
if path.endswith("env.yml"):
    env = yaml.safe_load(open(path))
    infra = env["berth_infra"]
    infra["name"] = "prod"
    infra["region"] = "nyc3"
    infra["ssh_key"]["public_key"] = open(f"{home}/.ssh/berth_prod.pub").read().strip()
    infra["droplets"]["web"]["count"] = 1
    infra["firewall"]["ssh_sources"] = [os.environ["QS_MY_ADDRESS"]]
    infra["domain"]["name"] = "example.com"
    infra["api"] = {"base_url": os.environ["DIGITALOCEAN_API_URL"]}  # the emulator, not DigitalOcean
    yaml.safe_dump(env, open(path, "w"), sort_keys=False)
elif path.endswith("droplets/main.yml"):
    yaml.safe_dump(json.loads(os.environ["QS_STACK"]), open(path, "w"), sort_keys=False)
else:  # ansible-vault create hands over a temporary file
    yaml.safe_dump(json.loads(os.environ["QS_SECRETS"]), open(path, "w"))
'''


def doc_steps() -> list[tuple[str, list[tuple[str, str]]]]:
    """(step name, [(language, code)]) for each bold-headed paragraph of the DigitalOcean section."""
    text = DOC.read_text()
    assert SECTION in text, f"{DOC} has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    steps = []
    for chunk in re.split(r"^\*\*", section, flags=re.M)[1:]:
        name = re.match(r"([^*.(]+)", chunk).group(1).strip()
        blocks = re.findall(r"^```(\w+)\n(.*?)^```", chunk, flags=re.M | re.S)
        steps.append((name, blocks))
    return steps


class Session:
    """One shell the person types into: each call runs more commands in it, exports carried over."""

    def __init__(self, checkout: Path, home: Path, env: dict[str, str]) -> None:
        self.checkout, self.state = checkout, home / ".session"
        self.env = env
        self.state.write_text("")

    def run(self, commands: str, stdin: str = "", **extra_env: str) -> subprocess.CompletedProcess:
        script = f"set -euo pipefail\nsource {self.state}\ncd {self.checkout}\n{commands}\nexport -p > {self.state}\n"
        done = subprocess.run(["bash", "-c", script], input=stdin, env={**self.env, **extra_env},
                              capture_output=True, text=True, timeout=600, check=False)
        assert done.returncode == 0, f"$ {commands}\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
        return done

    def at_a_terminal(self, commands: str, answers: list[tuple[str, str]]) -> str:
        """Run commands at a terminal (ansible-vault refuses without one), answering each prompt once it shows."""
        script = f"set -euo pipefail\nsource {self.state}\ncd {self.checkout}\n{commands}\nexport -p > {self.state}\n"
        pid, fd = pty.fork()
        if pid == 0:
            os.execve("/bin/bash", ["bash", "-c", script], self.env)
        seen, pending, deadline = b"", list(answers), time.monotonic() + 300
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1)
            if ready:
                try:
                    chunk = os.read(fd, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if pending and seen.rstrip().endswith(pending[0][0].encode()):
                os.write(fd, pending.pop(0)[1].encode() + b"\r")
        _, status = os.waitpid(pid, 0)
        output = seen.decode(errors="replace")
        assert os.waitstatus_to_exitcode(status) == 0 and not pending, f"$ {commands}\n{output[-4000:]}"
        return output


def copy_checkout(into: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True).stdout
    for name in files.decode().split("\0"):
        source = ROOT / name
        if name and source.is_file() and not name.startswith(("tests/", "lab/", "bench/", "molecule/")):
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    (into / ".venv").symlink_to(ROOT / ".venv")
    (into / ".collections" / "ansible_collections" / "berth").mkdir(parents=True)
    (into / ".collections" / "ansible_collections" / "berth" / "ops").symlink_to("../../..")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    emu = harness.start(tmp_path_factory.mktemp("emulator"))
    yield emu
    emu.stop()


def test_the_quickstart_creates_the_environment_and_lists_its_droplets(emulator, tmp_path):
    steps = doc_steps()
    names = [name for name, _ in steps]
    assert names[: len(STEPS) + 1] == [*STEPS, NEXT_STEP], names
    blocks = dict(steps)

    checkout, home = tmp_path / "berth", tmp_path / "home"
    checkout.mkdir()
    home.mkdir()
    copy_checkout(checkout)
    editor = tmp_path / "editor"
    editor.write_text(EDITOR.replace("#!/usr/bin/env python3", f"#!{sys.executable}", 1))
    editor.chmod(0o755)
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("ANSIBLE_", "DIGITALOCEAN_", "DO_API_")) and key != "OAUTH_TOKEN"}
    env.update(HOME=str(home), EDITOR=str(editor), DIGITALOCEAN_API_URL=emulator.url,
               SSL_CERT_FILE=emulator.ca_path, QS_MY_ADDRESS=MY_ADDRESS, QS_STACK=json.dumps(STACK),
               QS_SECRETS=json.dumps(SECRETS), ANSIBLE_FORCE_COLOR="0")
    shell = Session(checkout, home, env)
    shell.run(f"export PATH={checkout}/.venv/bin:$PATH")  # "Everything below runs ... with .venv/bin on PATH"

    # Token: typed at the prompt, never in a file or the history.
    [(lang, code)] = blocks["Token"]
    assert lang == "sh" and "read -rs DIGITALOCEAN_TOKEN" in code
    shell.run(code, stdin=TOKEN + "\n")

    [(_, code)] = blocks["An SSH key for deploys"]
    shell.run(code, stdin="\n\n")
    assert (home / ".ssh" / "berth_prod.pub").read_text().startswith("ssh-ed25519 ")

    # The environment: the example, edited as the prose says; the plan sends no write, the run creates it
    # all, a rerun sends no write.
    (_, copy_and_edit), (_, plan_and_apply) = blocks["The environment"]
    shell.run(copy_and_edit)
    plan, apply = [line for line in plan_and_apply.splitlines() if line.startswith("ansible-playbook")]
    emulator.journal.clear()
    planned = shell.run(plan)
    assert writes(emulator) == [], writes(emulator)
    assert "create droplets prod-web-1" in planned.stdout
    created = shell.run(apply)
    counts = emulator.cloud.counts()
    assert {kind: counts[kind] for kind in ("vpcs", "ssh_keys", "droplets", "firewalls", "load_balancers",
                                            "databases", "domains", "projects")} == {
        "vpcs": 1, "ssh_keys": 1, "droplets": 1, "firewalls": 1, "load_balancers": 1, "databases": 2,
        "domains": 1, "projects": 1}
    droplet = next(iter(emulator.cloud.droplets.values()))
    assert droplet["name"] == "prod-web-1" and "berth-prod" in droplet["tags"]
    firewall = next(iter(emulator.cloud.firewalls.values()))
    assert ("tcp", "22", (MY_ADDRESS,)) in {
        (r["protocol"], r["ports"], tuple(r["sources"].get("addresses", []))) for r in firewall["inbound_rules"]}
    lb = next(iter(emulator.cloud.lbs.values()))
    records = {(r["type"], r["name"]): r["data"] for r in emulator.cloud.records["example.com"].values()}
    assert records[("A", "@")] == lb["ip"]  # the DNS paragraph: "@" points at the load balancer
    assert ("CNAME", "www") in records
    emulator.journal.clear()
    shell.run(apply)
    assert writes(emulator) == []
    assert TOKEN not in planned.stdout + planned.stderr + created.stdout + created.stderr

    # Inventory: the file as shown, listed by the command shown; the group's variables and the vault
    # reach the droplet.
    (lang, inventory_file), (_, graph), (_, group_vars) = blocks["Inventory"]
    assert lang == "yaml"
    (checkout / "inventory" / "prod.do_droplets.yml").write_text(inventory_file)
    listed = shell.run(graph)
    assert "|--@droplets:\n  |  |--prod-web-1\n" in listed.stdout, listed.stdout
    shell.at_a_terminal(group_vars, [("New Vault password:", VAULT_PASSWORD),
                                     ("Confirm New Vault password:", VAULT_PASSWORD)])
    vaults = [path for path in (checkout / "inventory").glob("**/vault.yml") if "examples" not in path.parts]
    assert [path.read_text()[:15] for path in vaults] == ["$ANSIBLE_VAULT;"], vaults
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    host = shell.run(f"ansible-inventory -i inventory/prod.do_droplets.yml --host prod-web-1 "
                     f"--vault-password-file {password_file}")
    hostvars = harness.plain(json.loads(host.stdout))
    assert hostvars["berth_app"] == "shop"
    assert hostvars["ansible_host"] == droplet["networks"]["v4"][0]["ip_address"]
    assert hostvars["vault_ghcr_read_token"] == SECRETS["vault_ghcr_read_token"]
    assert emulator.violations == [], "\n".join(emulator.violations)

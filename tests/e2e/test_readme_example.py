"""The README's example inventory is real (issue #27): its YAML blocks, read from README.md as they are,
with only what names the outside world replaced by the lab's stand-ins (GHCR -> registry.berth.test,
Docker Hub -> hub.berth.test, the vault values, the domain, ACME -> the lab's certificate), pass
`deploy.yml --check` against a lab droplet: every input checked, every image pinned in both
registries, the plan made, nothing changed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from labtools import LAB_STATE, REGISTRY, recap, run_playbook
from release_checks import ENV, fingerprint

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
HUB = "hub.berth.test"


def inventory_blocks() -> str:
    """Every ```yaml block of the README that is inventory (it says it is inventory/prod/group_vars, or
    sets berth_ variables), in order."""
    blocks = []
    for block in re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S):
        data = yaml.safe_load(block)
        if isinstance(data, dict) and ("inventory/prod/group_vars" in block or any(k.startswith("berth_")
                                                                                   for k in data)):
            blocks.append(block)
    return "\n".join(blocks)


def lab_values(text: str) -> str:
    """The README's inventory as text, with each outside-world value replaced: every replacement must
    find its text, so a README that changes its example makes this test say what to update."""
    credentials = json.loads((LAB_STATE / "credentials.json").read_text())
    replacements = {
        "ghcr.io/my-org/shop-web:1.4.2": f"{REGISTRY}/berth/sample-app:1.0.0",
        "image: postgres:17": f"image: {HUB}/library/postgres:17",
        "traefik_image: traefik:v3.7": f"traefik_image: {HUB}/library/traefik:v3.7",
        "ghcr.io: {username: my-org-bot, password: \"{{ vault_ghcr_read_token }}\"}":
            f"{REGISTRY}: {{username: {credentials['pull_user']}, password: {credentials['pull_password']}}}",
        "docker.io: {}": f"{HUB}: {{}}",
        "\"{{ vault_database_url }}\"": "postgres://shop:lab@db:5432/shop",
        "\"{{ lookup('file', '~/.ssh/id_ed25519.pub') }}\"":
            json.dumps((LAB_STATE / "ssh" / "id_ed25519.pub").read_text().strip()),
        "berth_domain: shop.example.com": "berth_domain: shop.berth.test",
        "berth_tls: acme": "berth_tls: files",
    }
    for old, new in replacements.items():
        assert old in text, f"the README's example no longer has {old!r}: update this test's lab values"
        text = text.replace(old, new)
    return text


def test_the_readmes_example_inventory_passes_deploy_check_with_lab_values(provisioned):
    variables = yaml.safe_load(lab_values(inventory_blocks()))
    # The lab inventory's own registry shorthand is not the README's: the example has only berth_registries.
    variables.update(berth_registry_username="", berth_registry_password="")
    assert {"berth_app", "berth_registries", "berth_services", "berth_env", "berth_accessories",
            "berth_hooks", "berth_domain"} <= set(variables), sorted(variables)
    before = fingerprint()
    result = run_playbook("playbooks/deploy.yml", "--check", "-e", f"@{provisioned.vars_file}",
                          "-e", json.dumps(variables), env=ENV)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "shop on " in result.stdout and "nothing is live yet" in result.stdout, result.stdout[-4000:]
    # The deploy report of the check run: planned, every image pinned in its own registry (the app
    # privately, the database anonymously in the hub).
    report = json.loads((ROOT / re.search(r"report: (\S+\.json)", result.stdout).group(1)).read_text())
    assert report["check_mode"] is True and report["result"] == "planned", report
    digests = report["targets"][0]["digests"]
    assert digests["web"].startswith(f"{REGISTRY}/berth/sample-app@sha256:"), digests
    assert digests["db"].startswith(f"{HUB}/library/postgres@sha256:"), digests
    assert all(counts["changed"] == 0 for counts in recap(result.stdout).values()), result.stdout[-3000:]
    assert fingerprint() == before, "deploy.yml --check changed the host"

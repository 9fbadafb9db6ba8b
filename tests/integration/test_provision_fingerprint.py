"""provision.yml's fingerprint cannot miss an input (issue #27): changing any option that a host role
declares in its argument specs, one at a time, or what provision passes the roles (a db accessory
turns pg_backup on; its user follows the accessory's POSTGRES_USER), changes the fingerprint; a value no
role reads does not. Runs the real task file (playbooks/tasks/provision_fingerprint.yml) with the
Provision play's own variables and role imports, one localhost "host" per variant, in one
ansible-playbook run. The host side (a rerun converges) is tests/e2e/test_provision_inputs.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROVISION = yaml.safe_load((ROOT / "playbooks" / "provision.yml").read_text())
PLAY = next(play for play in PROVISION if play["name"] == "Provision")
ROLES = PLAY["vars"]["__provision_roles"]
CHANGED = "berth-test-changed"


def role_imports(tasks: list[dict]) -> list[dict]:
    return [task for task in tasks if "ansible.builtin.import_role" in task]


def changed_value(spec: dict, default: object) -> object:
    """A value of the option's type that differs from its default."""
    kind = spec.get("type", "str")
    if kind == "bool":
        return not default if isinstance(default, bool) else True
    return {"int": 4242, "float": 42.5, "list": [CHANGED], "dict": {CHANGED: 1},
            "path": f"/{CHANGED}"}.get(kind, CHANGED)


def variants() -> dict[str, dict]:
    """Host name -> its variables: one per role option, the passed inputs, and a control."""
    hosts: dict[str, dict] = {"base": {}}
    for role in ROLES:
        options = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
        for name, spec in options["argument_specs"]["main"]["options"].items():
            hosts[f"option-{name}"] = {name: changed_value(spec, spec.get("default", defaults.get(name)))}
    db = {"image": "postgres:17"}
    hosts.update({
        "passed-db-accessory": {"berth_accessories": {"db": db}},
        "passed-backups-on": {"berth_backups": True},
        "passed-traefik-image": {"traefik_image": "traefik:v3.8"},
        "db-user-env-files-services": {"env_files_services": {"db": {"POSTGRES_USER": "shop"}}},
        "db-user-berth-env": {"berth_env": {"db": {"POSTGRES_USER": "shop"}}},
        "shared-berth-app": {"berth_app": "shop"},
        "shared-berth-registries": {"berth_registries": {"hub.berth.test": {}}},
        # Read by no host role: must not make provision converge again.
        "control-app-secret": {"berth_env": {"web": {"SECRET_KEY": "another"}}},
    })
    return hosts


@pytest.fixture(scope="module")
def fingerprints(tmp_path_factory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("fingerprint")
    out = work / "out"
    out.mkdir()
    hosts = variants()
    (work / "hosts.yml").write_text(yaml.safe_dump({"variants": {
        "hosts": hosts,
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}))
    play = {
        "name": "Fingerprint each variant as provision.yml does",
        "hosts": "variants", "gather_facts": False, "vars": PLAY["vars"],
        "pre_tasks": [
            {"name": "Fingerprint",
             "ansible.builtin.include_tasks": str(ROOT / "playbooks" / "tasks" / "provision_fingerprint.yml")},
            {"name": "Keep them all", "run_once": True, "ansible.builtin.copy": {
                "content": "{{ dict(ansible_play_hosts | zip(ansible_play_hosts | map('extract', hostvars, "
                           "'__provision_fingerprint'))) | to_json }}",
                "dest": f"{out}/fingerprints.json", "mode": "0600"}},
            {"name": "Stop before the roles", "ansible.builtin.meta": "end_play"},
        ],
        # The same role imports, never run: imported at parse time, their defaults are the play's, as in
        # provision.yml.
        "tasks": [{**task, "when": False} for task in role_imports(PLAY["tasks"])],
    }
    (work / "play.yml").write_text(yaml.safe_dump([play]))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_INVENTORY=str(work / "hosts.yml"))
# The facts the roles' defaults read (provision gathers them first), given: a setup run per
    # variant would cost more than all the rest.
    facts = {"ansible_facts": {"distribution": "Debian", "default_ipv4": {"interface": "eth0"}}}
    result = subprocess.run(["ansible-playbook", str(work / "play.yml"), "-f", "8", "-e", json.dumps(facts)],
                            cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    found = json.loads((out / "fingerprints.json").read_text())
    assert sorted(found) == sorted(hosts)
    return found


def test_the_test_covers_every_option_of_every_host_role():
    names = {name for host in variants() if host.startswith("option-") for name in variants()[host]}
    assert len(names) > 90 and {"pg_backup_user", "traefik_image", "registry_login_registries"} <= names


@pytest.mark.parametrize("variant", [h for h in variants() if h != "base" and not h.startswith("control-")])
def test_each_input_changes_the_fingerprint(fingerprints, variant):
    assert len(fingerprints["base"]) == 64
    assert fingerprints[variant] != fingerprints["base"], json.dumps(variants()[variant])


def test_a_value_no_host_role_reads_leaves_it_alone(fingerprints):
    assert fingerprints["control-app-secret"] == fingerprints["base"]


def test_the_role_imports_read_only_their_own_variables_and_what_the_play_passes():
    """So the fingerprint's parts are all there is: an import's vars and condition use only the play's
    internals (__provision_passed, or __provision_traefik: the pin of __provision_passed.traefik_image)."""
    for task in role_imports(PLAY["tasks"]):
        for value in [*task.get("vars", {}).values(), *([task["when"]] if "when" in task else [])]:
            names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", str(value))) - {"bool", "images", "pinned", "not"}
            assert names and names <= {"__provision_passed", "__provision_traefik", "pg_backup"}, task

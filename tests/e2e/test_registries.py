"""A stack that mixes registries (issue #27): the app's image private in registry.berth.test (GHCR's
stand-in, the lab inventory's berth_registry* shorthand), the database's and the proxy's public in
hub.berth.test (Docker Hub's stand-in, asked anonymously; the lab's Traefik comes from there, pinned by
provision.yml); the host logged in to both registries in one root-only file; and a wrong password for the
hub refused on the controller, naming the hub and the variable, with nothing changed on the host."""

from __future__ import annotations

import json
import re
import time

import pytest
from lab_droplets import DROPLET, on_droplet
from labtools import LAB_STATE, REGISTRY, failed_task, recap, run_playbook
from release_checks import ENV, App, fingerprint, live, playbook, stack

HUB = "hub.berth.test"
APP = App("mixed", 8000)
APP_IMAGE = f"{REGISTRY}/berth/sample-app:1.0.0"  # private: needs the lab's pull account
DB_IMAGE = f"{HUB}/library/postgres:17"  # public: anonymous
HUB_PRIVATE = f"{HUB}/acme/private-app:1.0.0"
WRONG = "wrong-Hub-Secret-4712"


def hub_credentials() -> dict[str, str]:
    return json.loads((LAB_STATE / "hub-credentials.json").read_text())


def mixed(registries: dict) -> dict:
    db_password = "mixed-db-" + hub_credentials()["pull_password"][:8]
    return stack(APP, "unused", web={"image": APP_IMAGE},
                 berth_accessories={"db": {"image": DB_IMAGE, "volumes": ["mixed-db:/var/lib/postgresql/data"],
                                           "healthcheck": {"test": ["CMD", "pg_isready", "-U", "mixed"],
                                                           "interval": "2s", "retries": 30}}},
                 berth_env={"web": {"APP_ECHO": "alpha"},
                             "db": {"POSTGRES_USER": "mixed", "POSTGRES_PASSWORD": db_password}},
                 berth_registries=registries)


def image_of(container: str) -> str:
    return on_droplet(f"docker inspect -f '{{{{.Config.Image}}}}' {container}").stdout.strip()


def docker_logins() -> tuple[list[str], str]:
    config = on_droplet("cat /root/.docker/config.json").stdout
    mode = on_droplet("stat -c '%a %U' /root/.docker/config.json").stdout.strip()
    return sorted(json.loads(config)["auths"]), mode


def test_a_stack_mixing_a_private_and_a_public_registry_deploys(provisioned):
    started = time.monotonic()
    result = playbook(provisioned, "deploy", mixed({HUB: {}}))
    print(f"\ndeploy.yml of the mixed stack: {time.monotonic() - started:.1f} s")
    assert result.returncode == 0, result.stdout[-4000:]
    assert live(provisioned, APP)["version"] == "1.0.0"
    # The host has no login for the hub: the database image was pulled anonymously.
    assert docker_logins()[0] == [REGISTRY]
    web = on_droplet(f"docker ps -q --filter name='^{APP.name}-(blue|green)-web-'").stdout.split()
    images = {image_of(container) for container in web}
    assert len(images) == 1 and re.fullmatch(rf"{re.escape(REGISTRY)}/berth/sample-app@sha256:[0-9a-f]{{64}}",
                                             images.pop()), images
    db = on_droplet(f"docker ps -q --filter name='^{APP.name}-accessories-db-'").stdout.split()
    assert len(db) == 1
    assert re.fullmatch(rf"{re.escape(HUB)}/library/postgres@sha256:[0-9a-f]{{64}}", image_of(db[0]))
    # The proxy too: provision pinned the lab's Traefik from the hub (inventory/lab), pulled anonymously.
    proxy = on_droplet("docker ps -q --filter name='^traefik-traefik-'").stdout.split()
    assert len(proxy) == 1
    assert re.fullmatch(rf"{re.escape(HUB)}/library/traefik@sha256:[0-9a-f]{{64}}", image_of(proxy[0]))


def test_a_wrong_password_for_one_registry_is_refused_on_the_controller_naming_it(provisioned):
    before = fingerprint()
    variables = mixed({HUB: {"username": hub_credentials()["pull_user"], "password": WRONG}})
    started = time.monotonic()
    result = run_playbook("playbooks/deploy.yml", "-e", f"@{provisioned.vars_file}",
                          "-e", json.dumps(variables),
                          env={**ENV, "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks"})
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"the token server of {HUB} refused user" in output, result.stdout[-3000:]
    assert f"check berth_registries['{HUB}'].password" in output, result.stdout[-3000:]
    assert WRONG not in output
    # Refused where the images are pinned, on the controller, before the host was touched.
    assert " : Spec |" in failed_task(result.stdout), result.stdout[-3000:]
    assert recap(result.stdout)[DROPLET]["changed"] == 0
    assert fingerprint() == before
    # The refusal itself takes under a second: from the pin's first request to the hub's token server
    # saying no (the module's `seconds`); Ansible's start of the task and the whole run come on top.
    refusal = fatal_result(result.stdout)["seconds"]
    task = task_seconds(result.stdout, failed_task(result.stdout))
    print(f"\nwrong hub password: refused in {refusal:.3f} s (its task {task:.2f} s, the whole run {took:.1f} s)")
    assert refusal < 1, f"the refusal took {refusal:.3f} s"
    assert took < 20, f"{took:.1f} s"


def fatal_result(output: str) -> dict:
    """The result of the first failed task (the run's results are one-line JSON)."""
    line = next(line for line in output.splitlines() if line.startswith("fatal:"))
    return json.loads(line.split("=> ", 1)[1])


@pytest.fixture(scope="module")
def logged_in_to_both(provisioned):
    """The registry_login role on the provisioned host, with the hub's private account added to the lab's
    shorthand (provision.yml applies the same role; its full rerun took 106 s here, so the role alone)."""
    hub = hub_credentials()
    variables = {"target": DROPLET, "role": "registry_login",
                 "berth_registries": {HUB: {"username": hub["pull_user"], "password": hub["pull_password"]}}}
    result = run_playbook("tests/e2e/playbooks/apply_role.yml", "-e", f"@{provisioned.vars_file}",
                          "-e", json.dumps(variables), env=ENV)
    assert result.returncode == 0, result.stdout[-4000:]
    assert hub["pull_password"] not in result.stdout + result.stderr
    return provisioned


def test_the_host_holds_every_registrys_login_in_one_root_only_file(logged_in_to_both):
    assert docker_logins() == ([HUB, REGISTRY], "600 root")
    # The hub's login on the host works: its private repository pulls (it shares the sample app's layers).
    on_droplet(f"docker pull -q {HUB_PRIVATE} && docker image rm -f {HUB_PRIVATE}")


def task_seconds(output: str, task: str) -> float:
    """The duration ansible.posix.profile_tasks printed for `task` (its name after the role prefix)."""
    name = task.split(" : ", 1)[-1]
    for line in output.splitlines():
        match = re.match(r"^(.*?) -+ (\d+\.\d+)s$", line.strip())
        if match and match.group(1).endswith(name):
            return float(match.group(2))
    raise AssertionError(f"no profile_tasks line for {task!r}")

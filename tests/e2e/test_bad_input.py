"""Malformed input is refused on the controller before anything changes (issue #9, part 5): each
case fails in under 10 s, its message names the variable path and the bad value, no deploy lock
appears, and the host fingerprint (containers, every file under /opt, the dynamic configuration
Traefik has loaded) is identical before and after. One good release is deployed once for all."""

from __future__ import annotations

import copy
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lab_droplets import DROPLET, on_droplet
from labtools import REGISTRY, recap
from release_checks import App, LockWatch, fingerprint, live, playbook, releases, stack

APP = App("inputs", 8000)
# The good release only has to deploy: the sample app, quick and healthy at once.
GOOD_IMAGE = f"{REGISTRY}/berth/sample-app:1.0.0"
LIMIT_SECONDS = 10
# A run still going after this is killed (and counted as not refused in time), so that one input the
# release layer accepts costs seconds, not a whole deploy.
KILL_SECONDS = 30


def good() -> dict:
    return stack(APP, "unused", web={"image": GOOD_IMAGE})


def at(path: str, value: object) -> Callable[[dict], None]:
    """Set a dotted path (berth_services.web.health.status) in the variables."""
    def change(variables: dict) -> None:
        *parents, last = path.split(".")
        node = variables
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return change


def rename_service(new: str) -> Callable[[dict], None]:
    def change(variables: dict) -> None:
        variables["berth_services"] = {new: variables["berth_services"]["web"]}
        variables["env_files_services"] = {new: variables["env_files_services"]["web"]}
    return change


@dataclass
class Case:
    id: str
    change: Callable[[dict], None]
    path: str            # a regular expression for the variable path the message must name
    value: str           # the bad value, as it must appear on the same line
    playbook: str = "deploy"


def web(key: str) -> str:
    return re.escape(f"berth_services.web.{key}")


CASES = [
    Case("port 70000", at("berth_services.web.port", 70000), web("port"), "70000"),
    Case("port 0", at("berth_services.web.port", 0), web("port"), "0"),
    Case("port a word", at("berth_services.web.port", "eighty"), web("port"), "eighty"),
    Case("health_path without slash", at("berth_services.web.health_path", "up"), web("health_path"), "up"),
    Case("health.path without slash", at("berth_services.web.health.path", "healthz"), web("health.path"),
         "healthz"),
    Case("memory lots", at("berth_services.web.memory", "lots"), web("memory"), "lots"),
    Case("memory negative", at("berth_services.web.memory", "-5m"), web("memory"), "-5m"),
    Case("cpus x", at("berth_services.web.cpus", "x"), web("cpus"), "x"),
    Case("cpus negative", at("berth_services.web.cpus", -1), web("cpus"), "-1"),
    Case("domain with a space", at("berth_domain", "inputs berth.test"), "berth_domain", "inputs berth.test"),
    Case("domain with an underscore", at("berth_domain", "in_puts.berth.test"), "berth_domain",
         "in_puts.berth.test"),
    Case("domain label of 64", at("berth_domain", "a" * 64 + ".berth.test"), "berth_domain", "a" * 64),
    # A secret's value is never shown: the message names the key and says "(hidden)".
    Case("env file value with a NUL", at("env_files_services.web.APP_ECHO", "line1\0line2"),
         re.escape("env_files_services.web.APP_ECHO"), "(hidden)"),
    Case("env file value with a carriage return", at("env_files_services.web.APP_ECHO", "line1\rline2"),
         re.escape("env_files_services.web.APP_ECHO"), "(hidden)"),
    Case("env file key with a space", at("env_files_services.web.BAD KEY", "x"),
         re.escape("env_files_services.web"), "BAD KEY"),
    Case("env key not a name", at("berth_services.web.env", {"1-BAD": "x"}), web("env"), "1-BAD"),
    Case("app name", at("berth_app", "Shop!"), "berth_app", "Shop!"),
    Case("app name too long", at("berth_app", "a" * 40), "berth_app", "a" * 40),
    Case("colour", at("release_colour", "purple"), "release_colour", "purple"),
    Case("tls mode", at("berth_tls", "ssl"), "berth_tls", "ssl"),
    Case("service name upper case", rename_service("Web"), re.escape("berth_services"), "Web"),
    Case("image not a reference", at("berth_services.web.image", "not an image!"), web("image"), "not an image!"),
    Case("accessory image not a reference", at("berth_accessories", {"db": {"image": "::"}}),
         re.escape("berth_accessories.db.image"), "::"),
    Case("hook for an unknown service",
         at("berth_hooks", [{"name": "migrate", "service": "worker", "command": ["migrate"]}]),
         r"berth_hooks(\[0\]|\.0)\.service", "worker"),
    Case("rule of unknown syntax", at("berth_services.web.rule", "Hots(`inputs.berth.test`)"), web("rule"), "Hots"),
    Case("duration in parsecs", at("berth_services.web.stop_grace_period", "10 parsecs"), web("stop_grace_period"),
         "10 parsecs"),
    Case("status 700", at("berth_services.web.health.status", [700]), web("health.status"), "700"),
    Case("json match not a dict", at("berth_services.web.health.json", "ok"), web("health.json"), "ok"),
    Case("negative start_timeout", at("berth_services.web.health.start_timeout", -5), web("health.start_timeout"),
         "-5"),
    Case("interval 0", at("berth_services.web.health.interval", 0), web("health.interval"), "0"),
    Case("timeout a word", at("berth_services.web.health.timeout", "soon"), web("health.timeout"), "soon"),
    Case("successes 0", at("berth_services.web.health.successes", 0), web("health.successes"), "0"),
    Case("negative bad-answer budget", at("berth_services.web.health.max_bad_answers", -1),
         web("health.max_bad_answers"), "-1"),
    Case("command a number", at("berth_services.web.command", 42), web("command"), "42"),
    Case("volumes a string", at("berth_services.web.volumes", "/opt/inputs/data:/data"), web("volumes"),
         "/opt/inputs/data:/data"),
    Case("healthcheck a string", at("berth_services.web.healthcheck", "curl localhost"), web("healthcheck"),
         "curl localhost"),
    Case("user with a shell command", at("berth_services.web.user", "root; rm -rf /"), web("user"),
         "root; rm -rf /"),
    Case("keep_warm maybe", at("berth_keep_warm", "maybe"), "berth_keep_warm", "maybe"),
    Case("confirm path without slash", at("berth_confirm_path", "health"), "berth_confirm_path", "health"),
    Case("rollback to a path", at("release", "../../etc/passwd"), "release", "../../etc/passwd", "rollback"),
]


@pytest.fixture(scope="module")
def good_release(provisioned):
    result = playbook(provisioned, "deploy", good())
    assert result.returncode == 0, result.stdout[-4000:]
    assert live(provisioned, APP)["version"] == "1.0.0"
    return provisioned


def named_on_one_line(output: str, path: str, value: str) -> bool:
    return any(value in line for line in output.splitlines() if re.search(path, line))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_refused_before_any_change(good_release, case):
    variables = copy.deepcopy(good())
    case.change(variables)
    before = fingerprint()
    with LockWatch(APP) as lock:
        started = time.monotonic()
        result = playbook(good_release, case.playbook, variables, timeout=KILL_SECONDS)
        took = time.monotonic() - started
    output = result.stdout + result.stderr
    problems = []
    if result.returncode == 0:
        problems.append("accepted")
    if took >= LIMIT_SECONDS:
        problems.append(f"took {took:.1f} s" + (" (killed)" if result.returncode == -signal.SIGKILL else ""))
    if not named_on_one_line(output, case.path, case.value):
        problems.append(f"no line names /{case.path}/ and {case.value!r}")
    if lock.seen:
        problems.append("the deploy lock was taken")
        # A killed run leaves its lock: remove it so the next case starts from the same host.
        on_droplet(f"rm -f {lock.path}")
    if fingerprint() != before:
        problems.append("the host changed")
    changed = recap(result.stdout).get(DROPLET, {}).get("changed", 0) if "PLAY RECAP" in result.stdout else 0
    if changed:
        problems.append(f"changed={changed}")
    assert not problems, "; ".join(problems) + "\n" + "\n".join(result.stdout.splitlines()[-25:])


def test_the_table_is_big_enough():
    assert len(CASES) >= 25


def test_a_value_with_newlines_and_tabs_reaches_the_app_exactly(good_release):
    """The other half of "values an env file cannot carry": newlines and tabs are passed, byte for byte."""
    variables = good()
    variables["env_files_services"]["web"]["APP_ECHO"] = "line1\nline2\ttabbed 'quoted' $HOME \\"
    result = playbook(good_release, "deploy", variables)
    assert result.returncode == 0, result.stdout[-3000:]
    colour = releases(APP)[0]["colour"]
    got = on_droplet(f"docker exec {APP.name}-{colour}-web-1 python3 -c "
                     "'import os, sys; sys.stdout.write(repr(os.environ[\"APP_ECHO\"]))'").stdout
    assert got == repr("line1\nline2\ttabbed 'quoted' $HOME \\"), got

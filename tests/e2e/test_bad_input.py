"""Malformed input is refused on the controller before anything changes (issue #9, part 5), proven
end to end once per refusal stage: each case fails in under 10 s, its message names the variable path
and the bad value, no deploy lock appears, and the host fingerprint (containers, every file under /opt,
the dynamic configuration Traefik has loaded) is identical before and after. One good release is
deployed once for all.

Every malformed input's exact message is a unit test (tests/unit/test_spec_refusals.py): the
refusals all happen in the same controller-side step, so one case of each stage here proves the
host side (the spec check of the release role, a secret's value kept hidden, the rollback's release
id); a tag that does not exist and wrong registry credentials (the pinning stage) are in
test_release.py."""

from __future__ import annotations

import copy
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from edge import STILL_RATE
from lab_droplets import DROPLET, on_droplet
from labtools import REGISTRY, at, failed_task, recap
from release_checks import App, LockWatch, assert_load, fingerprint, live, playbook, releases, stack, under_load

APP = App("inputs", 8000)
# The good release only has to deploy: the sample app, quick and healthy at once.
GOOD_IMAGE = f"{REGISTRY}/berth/sample-app:1.0.0"
LIMIT_SECONDS = 10
# A run still going after this is killed (and counted as not refused in time), so that one input the
# release layer accepts costs seconds, not a whole deploy.
KILL_SECONDS = 30


def good() -> dict:
    return stack(APP, "unused", web={"image": GOOD_IMAGE})


@dataclass
class Case:
    id: str
    change: Callable[[dict], None]
    path: str            # a regular expression for the variable path the message must name
    value: str           # the bad value, as it must appear on the same line
    playbook: str = "deploy"
    secret: str = ""     # a secret value that must appear nowhere in the output


CASES = [
    Case("domain with an underscore", at("berth_domain", "in_puts.berth.test"), "berth_domain",
         "in_puts.berth.test"),
    # A secret's value is never shown: the message names the key and says "(hidden)".
    Case("env file value with a NUL", at("berth_env.web.APP_ECHO", "line1\0line2"),
         re.escape("berth_env.web.APP_ECHO"), "(hidden)", secret="line1"),
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
    if case.secret and case.secret in output:
        problems.append("the secret value was shown")
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


def test_a_malformed_domain_is_refused_under_load_and_users_see_nothing(good_release):
    """Users of the live release notice nothing of a refused deploy: no failed or slowed request."""
    before = fingerprint()
    with LockWatch(APP) as lock:
        result, load = under_load(good_release, APP, "deploy", {**good(), "berth_domain": "inputs.berth_test"},
                                  rate=STILL_RATE)
    assert result.returncode != 0
    assert named_on_one_line(result.stdout, "berth_domain", "inputs.berth_test"), result.stdout[-4000:]
    assert failed_task(result.stdout).startswith("berth.ops.release : Spec |"), result.stdout[-4000:]
    assert not lock.seen, "the deploy took the lock"
    assert fingerprint() == before
    assert_load(load, ["1.0.0"])


def test_a_value_with_newlines_and_tabs_reaches_the_app_exactly(good_release):
    """The other half of "values an env file cannot carry": newlines and tabs are passed, byte for byte."""
    variables = good()
    variables["berth_env"]["web"]["APP_ECHO"] = "line1\nline2\ttabbed 'quoted' $HOME \\"
    result = playbook(good_release, "deploy", variables)
    assert result.returncode == 0, result.stdout[-3000:]
    colour = releases(APP)[0]["colour"]
    got = on_droplet(f"docker exec {APP.name}-{colour}-web-1 python3 -c "
                     "'import os, sys; sys.stdout.write(repr(os.environ[\"APP_ECHO\"]))'").stdout
    assert got == repr("line1\nline2\ttabbed 'quoted' $HOME \\"), got

"""Malformed input is refused on the controller, before anything changes: the unit twin of the ~40
cases of tests/e2e/test_bad_input.py (as of 1396abe; each test id here is that file's case id, and the
e2e keeps one case per refusal stage for the host side).

Each case starts from the e2e's good stack, changes one inventory variable as a user would, and
goes the way ansible-playbook goes: the role's defaults (roles/release/defaults/main.yml) map the
berth_* variables to release_* ones, the release_spec task of roles/release/tasks/main.yml turns
them into its arguments (templated by Ansible's own Templar from the real YAML files), and the
berth.ops.release_spec action plugin runs with them. The refusal must be exactly one line that names
the variable as the user wrote it and the bad value (a secret value shown as '(hidden)'), and it
must come before the registry is asked and before any task that touches a host.

The rollback case goes the same way through playbooks/rollback.yml and the assert task that opens
roles/release/tasks/rollback.yml, run by ansible.builtin.assert's own action plugin.
"""

from __future__ import annotations

import copy
import importlib
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template
from ansible_collections.berth.ops.plugins.action import release_spec as release_spec_action
from ansible_collections.berth.ops.plugins.modules import release_plan
from labtools import at

ROOT = Path(__file__).resolve().parents[2]
LOADER = DataLoader()
ENV_KEY = "0123456789abcdef0123456789abcdef01234567"


def trusted(data: Any) -> Any:
    """YAML as Ansible reads a role's own files: every string may be a template."""
    if isinstance(data, str):
        return trust_as_template(data)
    if isinstance(data, dict):
        return {key: trusted(value) for key, value in data.items()}
    if isinstance(data, list):
        return [trusted(value) for value in data]
    return data


def load(relative: str) -> Any:
    return trusted(LOADER.load_from_file(str(ROOT / relative)))


DEFAULTS = load("roles/release/defaults/main.yml")
MAIN_TASKS = load("roles/release/tasks/main.yml")
ROLLBACK_TASKS = load("roles/release/tasks/rollback.yml")
ROLLBACK_PLAYBOOK = load("playbooks/rollback.yml")
ARGUMENT_SPECS = LOADER.load_from_file(str(ROOT / "roles/release/meta/argument_specs.yml"))["argument_specs"]


def the_task(tasks: list[dict], action: str) -> dict:
    return next(task for task in tasks if action in task)


def role_vars(user: dict) -> dict:
    """What the role sees: its defaults under the user's variables (extra vars and inventory beat defaults)."""
    return {**DEFAULTS, **copy.deepcopy(user), "__release_env_key": ENV_KEY}


def fake_task(args: dict, action: str) -> mock.MagicMock:
    return mock.MagicMock(args=args, async_val=0, check_mode=False, action=action)


def registry_must_not_be_asked(*_args, **_kwargs):
    raise AssertionError("the registry was asked before the inputs were refused")


def deploy(user: dict) -> dict:
    """The release_spec task of tasks/main.yml with the user's variables, as ansible-playbook runs it."""
    variables = role_vars(user)
    templar = Templar(loader=LOADER, variables=variables)
    args = templar.template(the_task(MAIN_TASKS, "berth.ops.release_spec")["berth.ops.release_spec"])
    action = release_spec_action.ActionModule(fake_task(args, "berth.ops.release_spec"), mock.MagicMock(),
                                              mock.MagicMock(), LOADER, templar)
    with mock.patch.object(release_spec_action, "Client", registry_must_not_be_asked):
        return action.run(task_vars=variables)


def tasks_in(tasks: list[dict]) -> list[dict]:
    """Every task of a list, those inside blocks included."""
    return [found for task in tasks for found in [task, *tasks_in(task.get("block", []))]]


def rollback_vars(user: dict) -> dict:
    include = next(task for play in ROLLBACK_PLAYBOOK for task in tasks_in(play.get("tasks", []))
                   if task.get("ansible.builtin.include_role", {}).get("tasks_from") == "rollback.yml")
    return {**DEFAULTS, **include["vars"], **copy.deepcopy(user)}


def rollback(user: dict) -> dict:
    """playbooks/rollback.yml's include of the role, then the assert that opens tasks/rollback.yml."""
    variables = rollback_vars(user)
    templar = Templar(loader=LOADER, variables=variables)
    raw = ROLLBACK_TASKS[0]["ansible.builtin.assert"]
    # As the task executor finalises an assert's arguments: `that` stays an expression, the rest is templated.
    args = {key: value if key == "that" else templar.template(value) for key, value in raw.items()}
    assert_plugin = importlib.import_module("ansible.plugins.action.assert")
    action = assert_plugin.ActionModule(fake_task(args, "ansible.builtin.assert"), mock.MagicMock(),
                                        mock.MagicMock(), LOADER, templar)
    return action.run(task_vars=variables)


# --- The e2e's good stack (tests/e2e/release_checks.py stack(App("inputs", 8000), ...)) -----------------
GOOD_IMAGE = "registry.berth.test/berth/sample-app:1.0.0"


def good() -> dict:
    return {"berth_app": "inputs", "berth_domain": "inputs.berth.test", "berth_tls": "files",
            "berth_services": {"web": {"image": GOOD_IMAGE, "port": 8000, "health_path": "/health",
                                       "health": {"interval": 1, "timeout": 2, "successes": 3, "start_timeout": 60},
                                       "stop_grace_period": "10s", "memory": "128m"}},
            "berth_accessories": {}, "berth_hooks": [],
            "berth_env": {"web": {"APP_ECHO": "alpha"}},
            "berth_confirm_path": "/", "berth_confirm_json_match": {"colour": "{colour}"}}


def rename_service(new: str) -> Callable[[dict], None]:
    def change(variables: dict) -> None:
        variables["berth_services"] = {new: variables["berth_services"]["web"]}
        variables["berth_env"] = {new: variables["berth_env"]["web"]}
    return change


HOST_NAME = "is not an RFC 1123 host name (lower-case letters, digits, '-', dot-separated labels of 1-63)"
APP_NAME = "is not an app name (lower-case letter, then letters, digits or '-', at most 31)"
ENV_FILE = "which an env file cannot carry (newlines and tabs can)"
MATCHERS = "ClientIP, Header, HeaderRegexp, Host, HostRegexp, Method, Path, PathPrefix, PathRegexp, Query, QueryRegexp"

# (e2e case id, the change, the one line that refuses it)
CASES: list[tuple[str, Callable[[dict], None], str]] = [
    ("port 70000", at("berth_services.web.port", 70000), "berth_services.web.port: 70000 is not a port (1-65535)"),
    ("port 0", at("berth_services.web.port", 0), "berth_services.web.port: 0 is not a port (1-65535)"),
    ("port a word", at("berth_services.web.port", "eighty"),
     "berth_services.web.port: 'eighty' is not a port (1-65535)"),
    ("health_path without slash", at("berth_services.web.health_path", "up"),
     "berth_services.web.health_path: 'up' must be a URL path starting with '/'"),
    ("health.path without slash", at("berth_services.web.health.path", "healthz"),
     "berth_services.web.health.path: 'healthz' must be a URL path starting with '/'"),
    ("memory lots", at("berth_services.web.memory", "lots"),
     "berth_services.web.memory: 'lots' is not a memory size (for example 256m or 1g)"),
    ("memory negative", at("berth_services.web.memory", "-5m"),
     "berth_services.web.memory: '-5m' is not a memory size (for example 256m or 1g)"),
    ("cpus x", at("berth_services.web.cpus", "x"),
     "berth_services.web.cpus: 'x' is not a number of CPUs (for example 0.5)"),
    ("cpus negative", at("berth_services.web.cpus", -1),
     "berth_services.web.cpus: -1 is not a number of CPUs (for example 0.5)"),
    ("domain with a space", at("berth_domain", "inputs berth.test"), f"berth_domain: 'inputs berth.test' {HOST_NAME}"),
    ("domain with an underscore", at("berth_domain", "in_puts.berth.test"),
     f"berth_domain: 'in_puts.berth.test' {HOST_NAME}"),
    ("domain label of 64", at("berth_domain", "a" * 64 + ".berth.test"),
     f"berth_domain: '{'a' * 64}.berth.test' {HOST_NAME}"),
    ("env file value with a NUL", at("berth_env.web.APP_ECHO", "line1\0line2"),
     f"berth_env.web.APP_ECHO: '(hidden)' contains '\\x00', {ENV_FILE}"),
    ("env file value with a carriage return", at("berth_env.web.APP_ECHO", "line1\rline2"),
     f"berth_env.web.APP_ECHO: '(hidden)' contains '\\r', {ENV_FILE}"),
    ("env file key with a space", at("berth_env.web.BAD KEY", "x"),
     "berth_env.web: 'BAD KEY' is not an environment variable name (letters, digits, '_')"),
    # env_files_services is berth_env's deprecated alias: still read, and named by its one name.
    ("env file value under the old name env_files_services",
     lambda v: v.update(env_files_services={"web": {"APP_ECHO": "line1\0line2"}}) or v.pop("berth_env"),
     f"berth_env.web.APP_ECHO: '(hidden)' contains '\\x00', {ENV_FILE}"),
    ("env key not a name", at("berth_services.web.env", {"1-BAD": "x"}),
     "berth_services.web.env: '1-BAD' is not an environment variable name (letters, digits, '_')"),
    ("app name", at("berth_app", "Shop!"), f"berth_app: 'Shop!' {APP_NAME}"),
    ("app name too long", at("berth_app", "a" * 40), f"berth_app: '{'a' * 40}' {APP_NAME}"),
    ("tls mode", at("berth_tls", "ssl"), "berth_tls: 'ssl' is not a TLS mode (files, acme, none)"),
    ("service name upper case", rename_service("Web"),
     "berth_services.Web: 'Web' is not a service name (lower-case letter, then letters, digits or '-', at most 31)"),
    ("image not a reference", at("berth_services.web.image", "not an image!"),
     "berth_services.web.image: 'not an image!' is not an image reference (registry/name:tag)"),
    ("accessory image not a reference", at("berth_accessories", {"db": {"image": "::"}}),
     "berth_accessories.db.image: '::' is not an image reference (registry/name:tag)"),
    ("hook for an unknown service",
     at("berth_hooks", [{"name": "migrate", "service": "worker", "command": ["migrate"]}]),
     "berth_hooks[0].service: 'worker' is not an app service (web)"),
    ("rule of unknown syntax", at("berth_services.web.rule", "Hots(`inputs.berth.test`)"),
     f"berth_services.web.rule: 'Hots(`inputs.berth.test`)' uses unknown matcher Hots() (known: {MATCHERS})"),
    ("duration in parsecs", at("berth_services.web.stop_grace_period", "10 parsecs"),
     "berth_services.web.stop_grace_period: '10 parsecs' is not a duration (for example 30s)"),
    ("status 700", at("berth_services.web.health.status", [700]),
     "berth_services.web.health.status: [700] must be HTTP statuses (100-599)"),
    ("json match not a dict", at("berth_services.web.health.json", "ok"),
     "berth_services.web.health.json: 'ok' must be a dict of JSON fields and values"),
    ("negative start_timeout", at("berth_services.web.health.start_timeout", -5),
     "berth_services.web.health.start_timeout: -5 must be seconds between 1 and 3600"),
    ("interval 0", at("berth_services.web.health.interval", 0),
     "berth_services.web.health.interval: 0 must be seconds between 0.05 and 300"),
    ("timeout a word", at("berth_services.web.health.timeout", "soon"),
     "berth_services.web.health.timeout: 'soon' must be seconds between 0.05 and 300"),
    ("successes 0", at("berth_services.web.health.successes", 0),
     "berth_services.web.health.successes: 0 must be a whole number between 1 and 100"),
    ("negative bad-answer budget", at("berth_services.web.health.max_bad_answers", -1),
     "berth_services.web.health.max_bad_answers: -1 must be a whole number between 0 and 1000"),
    ("command a number", at("berth_services.web.command", 42),
     "berth_services.web.command: 42 must be a list of strings"),
    ("volumes a string", at("berth_services.web.volumes", "/opt/inputs/data:/data"),
     "berth_services.web.volumes: '/opt/inputs/data:/data' must be a list of 'source:/container/path[:ro]'"),
    ("healthcheck a string", at("berth_services.web.healthcheck", "curl localhost"),
     "berth_services.web.healthcheck: 'curl localhost' must be a compose healthcheck "
     "(disable, interval, retries, start_interval, start_period, test, timeout)"),
    ("user with a shell command", at("berth_services.web.user", "root; rm -rf /"),
     "berth_services.web.user: 'root; rm -rf /' is not a user (name or uid, optionally :group)"),
    ("keep_warm maybe", at("berth_keep_warm", "maybe"), "berth_keep_warm: 'maybe' must be true or false"),
    ("confirm path without slash", at("berth_confirm_path", "health"),
     "berth_confirm_path: 'health' must be a URL path starting with '/'"),
    ("confirm json match a list", at("berth_confirm_json_match", ["colour"]),
     "berth_confirm_json_match: ['colour'] must be a dict of JSON path: value ('{colour}' for the colour going live)"),
]
# Routes, middlewares and container hardening (issue 22): one case per refusal, with its whole line.
ROUTE = "berth_services.web.routes[0]"
MIDDLEWARE = ROUTE + ".middlewares[0]"


def route(**settings: Any) -> Callable[[dict], None]:
    return at("berth_services.web.routes", [settings])


def middleware(kind: str, settings: Any) -> Callable[[dict], None]:
    return route(middlewares=[{kind: settings}])


HEADER_OPTIONS = ("accessControlAllowCredentials, accessControlAllowHeaders, accessControlAllowMethods, "
                  "accessControlAllowOriginList, accessControlExposeHeaders, accessControlMaxAge, addVaryHeader, "
                  "browserXssFilter, contentSecurityPolicy, contentTypeNosniff, customFrameOptionsValue, "
                  "customRequestHeaders, customResponseHeaders, forceSTSHeader, frameDeny, permissionsPolicy, "
                  "referrerPolicy, stsIncludeSubdomains, stsPreload, stsSeconds")
ULIMITS = ("as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, "
           "sigpending, stack")
CASES += [
    ("routes a string", at("berth_services.web.routes", "Host(`a`)"),
     "berth_services.web.routes: 'Host(`a`)' must be a list of routes ({rule} or {host, path}, with middlewares)"),
    ("routes and rule", lambda v: (at("berth_services.web.rule", "Host(`a`)")(v), route(path="/a")(v)),
     "berth_services.web.routes: [{'path': '/a'}] and rule both given: rule is the one-route shorthand"),
    ("route setting misspelt", route(hots="a"),
     f"{ROUTE}.hots: 'a' is not a route setting (host, middlewares, path, priority, rule)"),
    ("route rule and host", route(rule="Host(`a`)", host="b"),
     f"{ROUTE}.rule: 'Host(`a`)' is a whole rule: give it or host/path, not both"),
    ("route host not a name", route(host="forum_{domain}"), f"{ROUTE}.host: 'forum_{{domain}}' {HOST_NAME}"),
    ("route path without slash", route(path="api"), f"{ROUTE}.path: 'api' must be a URL path starting with '/'"),
    ("route priority 0", route(path="/api", priority=0),
     f"{ROUTE}.priority: 0 must be a whole number between 1 and 1000000"),
    ("middleware unknown", route(middlewares=[{"compress": True}]),
     f"{MIDDLEWARE}: {{'compress': True}} must be a dict with one of strip_prefix, redirect_scheme, redirect_regex, "
     "headers, basic_auth, rate_limit"),
    ("strip_prefix without slash", middleware("strip_prefix", "api"),
     f"{MIDDLEWARE}.strip_prefix: 'api' must be a URL path starting with '/' or a list of them"),
    ("headers option unknown", middleware("headers", {"cors": True}),
     f"{MIDDLEWARE}.headers.cors: True is not a headers option ({HEADER_OPTIONS})"),
    ("headers flag a word", middleware("headers", {"frameDeny": "yes"}),
     f"{MIDDLEWARE}.headers.frameDeny: 'yes' must be true or false"),
    ("headers value with a newline", middleware("headers", {"customResponseHeaders": {"X-A": "a\nb"}}),
     f"{MIDDLEWARE}.headers.customResponseHeaders: {{'X-A': 'a\\nb'}} must be a dict of header names and "
     "one-line values ('' removes one)"),
    ("redirect to ftp", middleware("redirect_scheme", {"scheme": "ftp"}),
     f"{MIDDLEWARE}.redirect_scheme.scheme: 'ftp' must be http or https"),
    ("redirect regex unbalanced", middleware("redirect_regex", {"regex": "(", "replacement": "/"}),
     f"{MIDDLEWARE}.redirect_regex.regex: '(' is not a regular expression (missing ), unterminated subpattern at "
     "position 0)"),
    ("basic auth users not in the secret env", middleware("basic_auth", {"users_from": "ADMIN_USERS"}),
     f"{MIDDLEWARE}.basic_auth.users_from: 'ADMIN_USERS' is not a key of berth_env.web (its secret env)"),
    ("basic auth users not htpasswd", lambda v: (middleware("basic_auth", {"users_from": "ADMIN_USERS"})(v),
                                                 at("berth_env.web.ADMIN_USERS", "line1 line2")(v)),
     "berth_env.web.ADMIN_USERS: '(hidden)' must be htpasswd lines (user:hash) for basic_auth"),
    ("rate limit 0", middleware("rate_limit", {"average": 0}),
     f"{MIDDLEWARE}.rate_limit.average: 0 must be a whole number between 1 and 1000000"),
    ("rate limit period a word", middleware("rate_limit", {"average": 10, "period": "soon"}),
     f"{MIDDLEWARE}.rate_limit.period: 'soon' is not a duration (for example 1s)"),
    ("read_only yes", at("berth_services.web.read_only", "yes"),
     "berth_services.web.read_only: 'yes' must be true or false"),
    ("tmpfs relative", at("berth_services.web.tmpfs", ["tmp"]),
     "berth_services.web.tmpfs: ['tmp'] must be a list of '/container/path[:mode=1777,size=64m]'"),
    ("cap_drop a sentence", at("berth_services.web.cap_drop", ["all the things"]),
     "berth_services.web.cap_drop: ['all the things'] must be a list of capabilities (ALL, NET_BIND_SERVICE, ...)"),
    ("cap_add a string", at("berth_accessories", {"db": {"image": "postgres:17", "cap_add": "SYS_NICE"}}),
     "berth_accessories.db.cap_add: 'SYS_NICE' must be a list of capabilities (ALL, NET_BIND_SERVICE, ...)"),
    ("no_new_privileges 1", at("berth_services.web.no_new_privileges", 1),
     "berth_services.web.no_new_privileges: 1 must be true or false"),
    ("ulimit unknown", at("berth_services.web.ulimits", {"files": 10}),
     f"berth_services.web.ulimits.files: 10 is not a limit ({ULIMITS})"),
    ("ulimit soft over hard", at("berth_services.web.ulimits", {"nofile": {"soft": 10, "hard": 5}}),
     "berth_services.web.ulimits.nofile: {'soft': 10, 'hard': 5} must be a whole number or {soft, hard} with "
     "soft <= hard (-1: unlimited)"),
    ("logging key misspelt", at("berth_services.web.logging", {"driver": "local", "opts": {}}),
     "berth_services.web.logging: {'driver': 'local', 'opts': {}} must be {driver, options}"),
    ("logging driver with a space", at("berth_services.web.logging", {"driver": "Local Disk"}),
     "berth_services.web.logging.driver: 'Local Disk' is not a log driver name (json-file, local...)"),
    ("logging option a list", at("berth_services.web.logging", {"options": {"max-size": ["10m"]}}),
     "berth_services.web.logging.options: {'max-size': ['10m']} must be a dict of option: string (max-size: 10m)"),
    ("drain negative", at("berth_services.web.drain", -1),
     "berth_services.web.drain: -1 must be a whole number between 0 and 3600"),
    ("drain a word", at("berth_services.web.drain", "soon"),
     "berth_services.web.drain: 'soon' must be a whole number between 0 and 3600"),
    ("drain of an hour and more", at("berth_services.web.drain", 3601),
     "berth_services.web.drain: 3601 must be a whole number between 0 and 3600"),
    ("drain a fraction", at("berth_services.web.drain", 2.5),
     "berth_services.web.drain: 2.5 must be a whole number between 0 and 3600"),
    ("drain of a service without a port", at("berth_services.worker", {"image": GOOD_IMAGE, "drain": 5}),
     "berth_services.worker.drain: 5 needs a port (only a routed service has connections to drain)"),
]
ROLLBACK_CASES = [
    ("rollback to a path", at("release", "../../etc/passwd"),
     "release: '../../etc/passwd' is not a release id (letters, digits, '.', '_', '-'). Nothing was changed."),
]
SECRETS = ("line1", "line2")


def variables_of(change: Callable[[dict], None]) -> dict:
    variables = good()
    change(variables)
    return variables


def test_the_good_stack_passes_and_asks_the_registry_for_every_image():
    asked = []

    class Registry:
        def __init__(self, *_args, **_kwargs):
            pass

        def resolve(self, image: str) -> dict:
            asked.append(image)
            return {"pinned": image + "@sha256:" + "c" * 64}

    variables = role_vars(good())
    templar = Templar(loader=LOADER, variables=variables)
    args = templar.template(the_task(MAIN_TASKS, "berth.ops.release_spec")["berth.ops.release_spec"])
    action = release_spec_action.ActionModule(fake_task(args, "berth.ops.release_spec"), mock.MagicMock(),
                                              mock.MagicMock(), LOADER, templar)
    with mock.patch.object(release_spec_action, "Client", Registry):
        result = action.run(task_vars=variables)
    assert "failed" not in result, result
    assert asked == [GOOD_IMAGE]
    assert result["spec"]["services"]["web"]["image"] == GOOD_IMAGE + "@sha256:" + "c" * 64
    # Without the bad value, deploy() (which refuses to ask the registry) only fails there: proof the
    # good stack is good and each case below fails for its one change.
    with pytest.raises(AssertionError, match="the registry was asked"):
        deploy(good())


@pytest.mark.parametrize(("change", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_malformed_input_is_refused_before_any_change(change, line):
    result = deploy(variables_of(change))
    assert result["failed"] is True
    assert result["errors"] == [line]
    assert result["msg"] == f"1 bad input, nothing was changed: {line}"
    assert "spec" not in result and "env_digests" not in result
    shown = json.dumps(result)
    assert not any(secret in shown for secret in SECRETS), "a secret value was shown"


@pytest.mark.parametrize(("change", "line"), [c[1:] for c in ROLLBACK_CASES], ids=[c[0] for c in ROLLBACK_CASES])
def test_a_rollback_to_something_not_a_release_id_is_refused(change, line):
    result = rollback(variables_of(change))
    assert result["failed"] is True and result["msg"] == line


@pytest.mark.parametrize("release", ["", "20250101T000000Z-0a1b", "r1.2_3-x"])
def test_a_rollback_to_a_release_id_or_the_previous_one_passes_the_check(release):
    result = rollback({**good(), "release": release} if release else good())
    assert not result.get("failed"), result


def test_release_plan_refuses_a_rollback_target_it_has_no_record_of():
    """Behind the check above: release_plan looks a target up among the records by id and never as a path."""
    def docker(_module, args, **_kwargs):
        assert args[:2] == ["docker", "ps"], args
        return 0, "", ""

    def stop(_module, msg="", **kwargs):
        raise SystemExit({**kwargs, "msg": msg, "failed": True})

    with tempfile.TemporaryDirectory() as directory:
        top = Path(directory)
        args = {"root": str(top / "opt" / "inputs"), "app": "inputs", "dynamic_dir": str(top / "dynamic"),
                "kind": "rollback", "target": "../../etc/passwd"}
        with patch_module_args(args), mock.patch.object(AnsibleModule, "run_command", docker), \
                mock.patch.object(AnsibleModule, "fail_json", stop), pytest.raises(SystemExit) as stopped:
            release_plan.main()
    result = stopped.value.args[0]
    assert result["msg"] == "rollback refused: no succeeded release ../../etc/passwd. Nothing was changed."
    assert result["target"] is None


# Cases whose refusals can be combined in one stack: one per variable path (health_path gives way to
# health.path when both are set, so it is left out; its own case above proves it).
TOGETHER = ["port 70000", "health.path without slash", "memory lots", "cpus x", "domain with a space",
            "env file value with a NUL", "env file key with a space", "env key not a name", "app name",
            "confirm json match a list",
            "tls mode", "image not a reference", "accessory image not a reference", "hook for an unknown service",
            "rule of unknown syntax", "duration in parsecs", "status 700", "json match not a dict",
            "negative start_timeout", "interval 0", "timeout a word", "successes 0", "negative bad-answer budget",
            "command a number", "volumes a string", "healthcheck a string", "user with a shell command",
            "keep_warm maybe", "confirm path without slash"]


def test_a_name_the_json_match_uses_that_is_not_defined_stops_the_spec_step():
    """release_colour is gone: the old '{{ release_colour }}' (now '{colour}') fails where the inputs are
    checked, on the controller before the lock, not at the confirm after the switch."""
    variables = good()
    variables["berth_confirm_json_match"] = {"colour": trust_as_template("{{ release_colour }}")}
    with pytest.raises(Exception, match="release_colour"):
        deploy(variables)
    assert "release_colour" not in DEFAULTS and "release_colour" not in ARGUMENT_SPECS["main"]["options"]


def test_every_bad_input_is_named_at_once():
    chosen = [case for case in CASES if case[0] in TOGETHER]
    assert len(chosen) == len(TOGETHER)
    variables = good()
    for _id, change, _line in chosen:
        change(variables)
    result = deploy(variables)
    lines = [line for _id, _change, line in chosen]
    assert sorted(result["errors"]) == sorted(lines)
    assert result["msg"] == f"{len(lines)} bad inputs, nothing was changed: " + "; ".join(result["errors"])
    assert not any(secret in json.dumps(result) for secret in SECRETS)


def test_each_case_reaches_release_spec_unrefused_by_the_roles_argument_specs():
    """The refusal is release_spec's: the role's own argument validation lets every case through."""
    options = ARGUMENT_SPECS["main"]["options"]
    validator = ArgumentSpecValidator({name: {k: v for k, v in option.items() if k != "description"}
                                       for name, option in options.items()})
    checked = ["release_app", "release_domain", "release_tls", "release_services", "release_accessories",
               "release_env", "release_hooks", "release_keep_warm", "release_public_service", "release_confirm_path",
               "release_confirm_json_match"]
    for case_id, change, _line in CASES:
        variables = role_vars(variables_of(change))
        templar = Templar(loader=LOADER, variables=variables)
        values = {name: templar.template(variables[name]) for name in checked}
        errors = validator.validate(values).error_messages
        assert errors == [], f"{case_id}: {errors}"


KEYWORDS = {"name", "no_log", "register", "vars", "when", "loop", "loop_control"}


def actions(tasks: list[dict]) -> list[str]:
    return [next(key for key in task if key not in KEYWORDS) for task in tasks]


def test_the_checks_come_before_anything_touches_a_host():
    """release_spec is the role's first module (the env key before it is a controller-side fact), and the
    release id check is the first task of a rollback; neither needs a connection."""
    assert actions(MAIN_TASKS)[:3] == ["ansible.builtin.set_fact", "berth.ops.release_spec", "berth.ops.release_plan"]
    assert actions(ROLLBACK_TASKS)[:2] == ["ansible.builtin.assert", "berth.ops.release_plan"]
    assert release_spec_action.ActionModule._requires_connection is False


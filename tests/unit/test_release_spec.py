"""The controller-side check of a stack's inputs: every bad input named with its variable and value."""

import pytest
from ansible_collections.berth.ops.plugins.module_utils._spec import build, pin, rule_problem

GOOD = {"app": "shop", "domain": "shop.example.com", "tls": "files",
        "services": {"web": {"image": "registry.example.com/acme/web:1.0", "port": 8000, "health_path": "/health"},
                     "worker": {"image": "registry.example.com/acme/web:1.0", "command": ["worker"]}},
        "accessories": {"db": {"image": "postgres:17", "volumes": ["db-data:/var/lib/postgresql/data"]}},
        "env": {"web": {"SECRET_KEY": "s3cret", "MULTI": "a\nb"}},
        "hooks": [{"service": "web", "command": ["migrate"]}]}


def with_web(**changes):
    web = {**GOOD["services"]["web"], **changes}
    return {**GOOD, "services": {**GOOD["services"], "web": web}}


def test_a_good_stack_has_no_errors_and_a_normalised_spec():
    spec, errors = build(GOOD)
    assert errors == []
    web = spec["services"]["web"]
    assert web["port"] == 8000 and web["health"]["path"] == "/health" and web["health"]["start_timeout"] == 120
    assert spec["routers"] == {"web": "Host(`shop.example.com`)"} and spec["public_service"] == "web"
    assert "health" not in spec["services"]["worker"]
    assert spec["hooks"] == [{"name": "web", "service": "web", "command": ["migrate"]}]


# Refusals the e2e never ran; the e2e's own cases (port 70000, memory lots, a secret with a NUL...) are
# in test_spec_refusals.py, through the role and the action plugin. Each is the whole line, exactly.
HOST_NAME = "is not an RFC 1123 host name (lower-case letters, digits, '-', dot-separated labels of 1-63)"
BAD = [
    ("port a boolean", with_web(port=True), "berth_services.web.port: True is not a port (1-65535)"),
    ("cpus 0", with_web(cpus=0), "berth_services.web.cpus: 0 is not a number of CPUs (for example 0.5)"),
    ("health setting misspelt", with_web(health={"succeses": 3}),
     "berth_services.web.health.succeses: 3 is not a health setting (body, interval, json, max_bad_answers, "
     "max_errors, path, start_timeout, status, successes, timeout)"),
    ("healthcheck interval not a duration", with_web(healthcheck={"test": ["CMD", "true"], "interval": "often"}),
     "berth_services.web.healthcheck.interval: 'often' is not a duration (for example 5s)"),
    ("rule incomplete", with_web(rule="Host(`a`) &&"),
     "berth_services.web.rule: 'Host(`a`) &&' is not a Traefik rule (incomplete)"),
    ("volume without a container path", with_web(volumes=["data"]),
     "berth_services.web.volumes: ['data'] must be a list of 'source:/container/path[:ro]'"),
    ("service setting misspelt", with_web(helth="/x"),
     "berth_services.web.helth: '/x' is not a setting here (known: cap_add, cap_drop, command, cpus, drain, env, "
     "health, health_path, healthcheck, image, logging, memory, no_new_privileges, port, read_only, replicas, "
     "routes, rule, singleton, stop_grace_period, tmpfs, ulimits, user, volumes)"),
    ("domain label starting with '-'", {**GOOD, "domain": "-shop.example.com"},
     f"berth_domain: '-shop.example.com' {HOST_NAME}"),
    ("env for a service the stack lacks", {**GOOD, "env": {"ghost": {"K": "v"}}},
     "berth_env: 'ghost' is not a service or accessory of this stack"),
    ("public service without a port", {**GOOD, "public_service": "worker"},
     "berth_public_service: 'worker' is not an app service with a port (web)"),
]


@pytest.mark.parametrize(("inputs", "line"), [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_each_bad_input_is_named_with_its_value(inputs, line):
    _spec, errors = build(inputs)
    assert errors == [line]


@pytest.mark.parametrize("rule", ["Host(`a.b`)", "Host(`a`) && PathPrefix(`/api`)", "!Method(`POST`)",
                                  "(Host(`a`) || Host(`b`)) && Header(`X`, `y`)"])
def test_known_rule_syntax_passes(rule):
    assert rule_problem(rule) is None


def test_pin_replaces_every_image_and_names_those_without_a_digest():
    spec, _ = build(GOOD)
    digest = "@sha256:" + "a" * 64
    pinned, errors = pin(spec, {"registry.example.com/acme/web:1.0": "registry.example.com/acme/web" + digest})
    assert pinned["services"]["web"]["image"].endswith(digest)
    assert errors == ["berth_accessories.db.image: 'postgres:17' was not resolved to a digest"]


# singleton and replicas (#22): a worker that must never run twice; several copies of a routed service.
SINGLETON = "cannot be given to a singleton (it runs outside the colours, alone, and nothing routes to it or gates it)"


def with_worker(**changes):
    worker = {**GOOD["services"]["worker"], **changes}
    return {**GOOD, "services": {**GOOD["services"], "worker": worker}}


SCALE_BAD = [
    ("singleton not a boolean", with_worker(singleton="yes"),
     ["berth_services.worker.singleton: 'yes' must be true or false"]),
    ("singleton with a port", with_worker(singleton=True, port=8000),
     [f"berth_services.worker.port: 8000 {SINGLETON}"]),
    ("singleton with routes", with_worker(singleton=True, routes=[{"path": "/jobs"}]),
     ["berth_services.worker.routes: [{'path': '/jobs'}] needs a port to route to",
      f"berth_services.worker.routes: [{{'path': '/jobs'}}] {SINGLETON}"]),
    ("singleton with a rule", with_worker(singleton=True, rule="PathPrefix(`/`)"),
     [f"berth_services.worker.rule: 'PathPrefix(`/`)' {SINGLETON}"]),
    ("singleton with health", with_worker(singleton=True, health_path="/health"),
     ["berth_services.worker.health: '/health' needs a port to probe",
      f"berth_services.worker.health_path: '/health' {SINGLETON}"]),
    ("singleton with replicas", with_worker(singleton=True, replicas=2),
     [f"berth_services.worker.replicas: 2 {SINGLETON}"]),
    ("singleton as a hook's service",
     {**with_worker(singleton=True), "hooks": [{"service": "worker", "command": ["m"]}]},
     ["berth_hooks[0].service: 'worker' is a singleton: hooks run in a one-off container of the new colour's "
      "services"]),
    ("every service a singleton", {**GOOD, "services": {"worker": {"image": "acme/w:1", "singleton": True}},
                                   "env": {}, "hooks": []},
     ["berth_services: ['worker'] are all singletons: at least one service runs in the colours"]),
    ("singleton on an accessory", {**GOOD, "accessories": {"db": {"image": "postgres:17", "singleton": True}}},
     ["berth_accessories.db.singleton: True is not a setting here (known: cap_add, cap_drop, command, cpus, env, "
      "healthcheck, image, logging, memory, no_new_privileges, read_only, stop_grace_period, tmpfs, ulimits, user, "
      "volumes)"]),
    ("replicas 0", with_web(replicas=0), ["berth_services.web.replicas: 0 must be a whole number between 1 and 20"]),
    ("replicas 21", with_web(replicas=21), ["berth_services.web.replicas: 21 must be a whole number between 1 and 20"]),
    ("replicas a fraction", with_web(replicas=1.5),
     ["berth_services.web.replicas: 1.5 must be a whole number between 1 and 20"]),
    ("replicas a boolean", with_web(replicas=True),
     ["berth_services.web.replicas: True must be a whole number between 1 and 20"]),
]


@pytest.mark.parametrize(("inputs", "lines"), [case[1:] for case in SCALE_BAD], ids=[case[0] for case in SCALE_BAD])
def test_singleton_and_replicas_refusals_name_the_variable_and_value(inputs, lines):
    _spec, errors = build(inputs)
    assert errors == lines


def test_singleton_and_replicas_enter_the_spec_only_when_set():
    spec, errors = build(with_worker(singleton=True))
    assert errors == [] and spec["services"]["worker"]["singleton"] is True
    spec, errors = build(with_web(replicas=3))
    assert errors == [] and spec["services"]["web"]["replicas"] == 3
    # false and 1 are the defaults: the spec (and the checksum of a stack without them) is unchanged.
    plain, _ = build(GOOD)
    assert build(with_worker(singleton=False))[0] == plain == build(with_web(replicas=1))[0]

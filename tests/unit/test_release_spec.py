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
     "berth_services.web.helth: '/x' is not a setting here (known: cap_add, cap_drop, command, cpus, env, health, "
     "health_path, healthcheck, image, logging, memory, no_new_privileges, port, read_only, routes, rule, "
     "stop_grace_period, tmpfs, ulimits, user, volumes)"),
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

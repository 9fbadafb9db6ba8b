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


BAD = [
    (with_web(port=70000), "berth_services.web.port: 70000"),
    (with_web(port="eighty"), "berth_services.web.port: 'eighty'"),
    (with_web(port=True), "berth_services.web.port: True"),
    (with_web(health_path="up"), "berth_services.web.health_path: 'up'"),
    (with_web(health={"path": "health"}), "berth_services.web.health.path: 'health'"),
    (with_web(memory="lots"), "berth_services.web.memory: 'lots'"),
    (with_web(cpus="x"), "berth_services.web.cpus: 'x'"),
    (with_web(cpus=0), "berth_services.web.cpus: 0"),
    (with_web(stop_grace_period="10 parsecs"), "berth_services.web.stop_grace_period: '10 parsecs'"),
    (with_web(health={"start_timeout": -5}), "berth_services.web.health.start_timeout: -5"),
    (with_web(health={"status": [700]}), "berth_services.web.health.status: [700]"),
    (with_web(health={"json": "ok"}), "berth_services.web.health.json: 'ok'"),
    (with_web(health={"succeses": 3}), "berth_services.web.health.succeses: 3"),
    (with_web(healthcheck={"test": ["CMD", "true"], "interval": "often"}), "berth_services.web.healthcheck.interval"),
    (with_web(image="Not An Image"), "berth_services.web.image: 'Not An Image'"),
    (with_web(rule="Hots(`x`)"), "berth_services.web.rule: 'Hots(`x`)' uses unknown matcher Hots()"),
    (with_web(rule="Host(`a`) &&"), "berth_services.web.rule: 'Host(`a`) &&'"),
    (with_web(volumes=["data"]), "berth_services.web.volumes: ['data']"),
    (with_web(user="root; rm"), "berth_services.web.user: 'root; rm'"),
    (with_web(env={"BAD KEY": "x"}), "berth_services.web.env: 'BAD KEY'"),
    (with_web(helth="/x"), "berth_services.web.helth: '/x' is not a setting here"),
    ({**GOOD, "domain": "shop .example.com"}, "berth_domain: 'shop .example.com'"),
    ({**GOOD, "domain": "-shop.example.com"}, "berth_domain: '-shop.example.com'"),
    ({**GOOD, "app": "Shop"}, "berth_app: 'Shop'"),
    ({**GOOD, "tls": "yes"}, "berth_tls: 'yes'"),
    ({**GOOD, "keep_warm": "maybe"}, "berth_keep_warm: 'maybe'"),
    ({**GOOD, "services": {"Web": GOOD["services"]["web"]}}, "berth_services.Web: 'Web'"),
    ({**GOOD, "hooks": [{"service": "nope", "command": ["x"]}]}, "berth_hooks[0].service: 'nope'"),
    ({**GOOD, "env": {"web": {"K": "a\0b"}}}, "env_files_services.web.K: '(hidden)' contains '\\x00'"),
    ({**GOOD, "env": {"web": {"K": "a\rb"}}}, "env_files_services.web.K: '(hidden)' contains '\\r'"),
    ({**GOOD, "env": {"ghost": {"K": "v"}}}, "env_files_services: 'ghost'"),
    ({**GOOD, "public_service": "worker"}, "berth_public_service: 'worker'"),
    ({**GOOD, "confirm_path": "up"}, "berth_confirm_path: 'up'"),
]


@pytest.mark.parametrize(("inputs", "named"), BAD, ids=[f"{n.split(':')[0]}-{i}" for i, (_, n) in enumerate(BAD)])
def test_each_bad_input_is_named_with_its_value(inputs, named):
    _spec, errors = build(inputs)
    assert any(named in error for error in errors), errors


def test_secret_values_never_appear_in_errors():
    _spec, errors = build({**GOOD, "env": {"web": {"K": "topsecret\0"}}})
    assert errors and not any("topsecret" in e for e in errors)


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


def test_the_colour_is_berths_to_choose():
    _spec, errors = build({**GOOD, "colour": "purple"})
    assert any(e.startswith("release_colour: 'purple'") for e in errors), errors

"""One set of defaults per kind of check: health_gate's option defaults, its Policy and its documentation
come from _gate.CHECK_DEFAULTS; a release's gate and confirm checks name every setting from the service's
health (defaults in _spec.HEALTH_DEFAULTS), so the module's never stand in for a service's."""

import yaml
from ansible_collections.berth.ops.plugins.module_utils import _render
from ansible_collections.berth.ops.plugins.module_utils._gate import CHECK_DEFAULTS, DEFAULT_DEADLINE, Policy
from ansible_collections.berth.ops.plugins.module_utils._spec import HEALTH_DEFAULTS, build
from ansible_collections.berth.ops.plugins.modules import health_gate

DIGEST = "@sha256:" + "c" * 64
SPEC, _ = build({"app": "shop", "domain": "shop.example.com", "tls": "files",
                 "services": {"web": {"image": "r/web" + DIGEST, "port": 8000}}})


def test_the_modules_options_documentation_and_policy_share_one_set_of_defaults():
    options = yaml.safe_load(health_gate.DOCUMENTATION)["options"]
    spec = health_gate.argument_spec()
    for key, value in CHECK_DEFAULTS.items():
        assert spec[key]["default"] == value, key
        assert options[key]["default"] == value, key
    policy = Policy()
    assert (policy.successes, policy.max_bad_answers, policy.max_connection_errors, policy.interval,
            policy.timeout, list(policy.expected_status)) == \
        tuple(CHECK_DEFAULTS[k] for k in ("successes", "max_bad_answers", "max_connection_errors", "interval",
                                          "timeout", "status_codes"))
    assert policy.deadline == DEFAULT_DEADLINE
    assert f"Defaults to {DEFAULT_DEADLINE:g}," in " ".join(options["deadline"]["description"])
    check = {**{key: spec[key].get("default") for key in health_gate.CHECK_KEYS}, "url": "http://127.0.0.1/"}
    assert health_gate.policy_of(check) == Policy()


def test_a_releases_checks_name_every_setting_from_the_services_health():
    gate = _render.gate_checks(SPEC, "blue", "http://127.0.0.1:8081")[0]
    confirm = _render.confirm_checks(SPEC, "https://127.0.0.1", 20)[0]
    for check in (gate, confirm):
        assert set(CHECK_DEFAULTS) <= set(check), "a module default would stand in for the service's setting"
        assert (check["timeout"], check["max_bad_answers"], check["max_connection_errors"]) == \
            (HEALTH_DEFAULTS["timeout"], HEALTH_DEFAULTS["max_bad_answers"], HEALTH_DEFAULTS["max_errors"])
        assert check["status_codes"] == HEALTH_DEFAULTS["status"] and check["successes"] == HEALTH_DEFAULTS["successes"]
    assert gate["start_timeout"] == HEALTH_DEFAULTS["start_timeout"]


def test_the_confirm_path_takes_the_modules_defaults():
    extra = _render.confirm_checks(SPEC, "https://127.0.0.1", 20, path="/", colour="blue")[-1]
    assert not set(CHECK_DEFAULTS) & set(extra), "berth_confirm_path's check is health_gate's own"
    merged = {**{key: health_gate.argument_spec()[key].get("default") for key in health_gate.CHECK_KEYS}, **extra}
    policy = health_gate.policy_of(merged)
    assert (policy.timeout, policy.max_bad_answers, policy.deadline) == (CHECK_DEFAULTS["timeout"],
                                                                         CHECK_DEFAULTS["max_bad_answers"], 20)

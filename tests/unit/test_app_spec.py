"""berth's inventory rendered to an App Platform spec, and the comparison with a live app (_app_spec.py)."""

from __future__ import annotations

import copy

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _app_spec

DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64
KEY = "fingerprint-key"


def inputs(**over) -> dict:
    base = {
        "app": "shop", "domain": "shop.example.com",
        "services": {"web": {"image": f"ghcr.io/acme/web@{DIGEST}", "port": 8000, "health": {"path": "/healthz"},
                             "env": {"MODE": "prod"}},
                     "api": {"image": f"ghcr.io/acme/api@{DIGEST}", "port": 9000,
                             "rule": "Host(`shop.example.com`) && PathPrefix(`/api`)"},
                     "worker": {"image": f"ghcr.io/acme/api@{DIGEST}", "command": "python worker.py"}},
        "env": {"api": {"SECRET_KEY": "plain-secret"}},
        "hooks": [{"name": "migrate", "service": "api", "command": "alembic upgrade head"}],
        "infra": {"name": "t1", "region": "ams3", "databases": {"pg": {"engine": "pg", "users": ["app"],
                                                                       "databases": ["app"]}}},
        "registries": {"ghcr.io": {"username": "bot", "password": "token"}},
    }
    base.update(over)
    return base


def render(**over) -> dict:
    spec, errors = _app_spec.render(inputs(**over))
    assert errors == []
    return spec


def stored(spec: dict) -> dict:
    """What the platform keeps: its defaults, secrets as ciphertext (enough of the emulator's rules)."""
    out = _app_spec.with_defaults(spec)
    for _label, holder, field in _app_spec._secret_slots(out):
        holder[field] = "EV[1:" + holder[field][::-1] + "]"
    return out


def test_services_workers_jobs_databases_domains_and_ingress():
    spec = render()
    assert spec["region"] == "ams"
    assert [s["name"] for s in spec["services"]] == ["web", "api"]
    assert [w["name"] for w in spec["workers"]] == ["worker"]
    assert spec["workers"][0]["run_command"] == "python worker.py"
    web = spec["services"][0]
    assert web["image"] == {"registry_type": "GHCR", "registry": "acme", "repository": "web", "digest": DIGEST,
                            "registry_credentials": "bot:token"}
    assert web["health_check"]["http_path"] == "/healthz" and web["http_port"] == 8000
    assert spec["jobs"] == [{"name": "migrate", "kind": "PRE_DEPLOY", "image": spec["services"][1]["image"],
                             "envs": spec["services"][1]["envs"], "run_command": "alembic upgrade head",
                             "instance_size_slug": "apps-s-1vcpu-0.5gb", "instance_count": 1}]
    assert {"key": "SECRET_KEY", "value": "plain-secret", "scope": "RUN_TIME", "type": "SECRET"} in \
        spec["services"][1]["envs"]
    assert spec["databases"] == [{"name": "pg", "engine": "PG", "production": True, "cluster_name": "t1-pg",
                                  "db_name": "app", "db_user": "app"}]
    assert spec["domains"] == [{"domain": "shop.example.com", "type": "PRIMARY"}]
    assert [r["match"]["path"]["prefix"] for r in spec["ingress"]["rules"]] == ["/api", "/"]
    assert all(r["component"]["preserve_path_prefix"] is True for r in spec["ingress"]["rules"])


@pytest.mark.parametrize(("over", "message"), [
    ({"app": "shop-"}, "berth_app: 'shop-' is not an App Platform name"),
    ({"app": "Shop"}, "berth_app: 'Shop' is not an app name"),
    ({"env": {"api": {"SECRET-KEY": "x"}}}, "berth_env.api: 'SECRET-KEY' is not an environment variable"),
    ({"services": {"web": {"port": 80}}}, "berth_services.web.image: None is not an image reference"),
    ({"services": {"web": {"image": "ghcr.io/acme/web:1.0", "port": 80}}},
     "berth_services.web.image: 'ghcr.io/acme/web:1.0' was not resolved to a digest"),
    ({"services": {"web": {"image": f"quay.io/acme/web@{DIGEST}", "port": 80}}},
     "is not on a registry App Platform pulls from"),
    ({"services": {"web": {"image": f"ghcr.io/a/w@{DIGEST}", "port": 80, "volumes": ["d:/data"]}}},
     "berth_services.web.volumes: ['d:/data'] App Platform has no volumes"),
    ({"services": {"web": {"image": f"ghcr.io/a/w@{DIGEST}", "port": 80, "rule": "Path(`/x`)"}}},
     "berth_services.web.rule: 'Path(`/x`)' cannot be an App Platform ingress rule"),
    ({"platform": {"instance_count": 2, "autoscaling": {"min": 1, "max": 3}}},
     "berth_app_platform.autoscaling: {'min': 1, 'max': 3} excludes instance_count"),
    ({"platform": {"instance_size": "huge"}}, "berth_app_platform.instance_size: 'huge' is not an App Platform size"),
    ({"platform": {"region": "mars"}}, "berth_app_platform.region: 'mars' is not an App Platform region"),
    ({"platform": {"alerts": [{"rule": "NOPE"}]}}, "berth_app_platform.alerts[0].rule: 'NOPE' is not an alert rule"),
    ({"platform": {"components": {"nope": {"instance_count": 2}}}},
     "berth_app_platform.components.nope: 'nope' is not a service or accessory"),
    ({"hooks": [{"name": "m_1", "service": "api", "command": "x"}]},
     "berth_hooks[0].name: 'm_1' is not an App Platform name"),
])
def test_bad_inputs_are_refused_naming_the_variable(over, message):
    _spec, errors = _app_spec.render(inputs(**over))
    assert any(message in error for error in errors), errors


def test_secrets_never_leave_a_refusal():
    _spec, errors = _app_spec.render(inputs(env={"api": {"BAD-KEY": "plain-secret", "OK": {"a": 1}}}))
    assert errors and "plain-secret" not in " ".join(errors)


def test_scaling_per_component_overrides_the_default():
    spec = render(platform={"instance_size": "apps-s-1vcpu-1gb", "instance_count": 2,
                            "components": {"web": {"autoscaling": {"min": 1, "max": 4, "cpu": 70}}}})
    web, api = spec["services"]
    assert "instance_count" not in web
    assert web["autoscaling"] == {"min_instance_count": 1, "max_instance_count": 4, "metrics": {"cpu": {"percent": 70}}}
    assert (api["instance_size_slug"], api["instance_count"]) == ("apps-s-1vcpu-1gb", 2)


def test_the_same_spec_stored_with_defaults_and_ciphertext_is_no_difference():
    first = _app_spec.seal(render(), None, KEY)
    live = stored(first)
    again = _app_spec.seal(render(), live, KEY)
    assert _app_spec.differences(again, live) == []
    assert all(holder[field].startswith("EV[") for _l, holder, field in _app_spec._secret_slots(again))


def test_a_rotated_secret_is_sent_in_plain_text_and_is_a_difference():
    live = stored(_app_spec.seal(render(), None, KEY))
    rotated = _app_spec.seal(render(env={"api": {"SECRET_KEY": "new-secret"}}), live, KEY)
    assert "services.api.envs.SECRET_KEY.value" in _app_spec.differences(rotated, live)
    sent = {e["key"]: e["value"] for e in rotated["services"][1]["envs"]}
    assert sent["SECRET_KEY"] == "new-secret"
    assert rotated["services"][0]["image"]["registry_credentials"].startswith("EV[")  # unchanged one: ciphertext


def test_a_fingerprint_under_another_key_resends_every_secret():
    live = stored(_app_spec.seal(render(), None, KEY))
    other = _app_spec.seal(render(), live, "another-key")
    assert not any(holder[field].startswith("EV[") for _l, holder, field in _app_spec._secret_slots(other))


def test_a_new_digest_is_exactly_that_difference():
    live = stored(_app_spec.seal(render(), None, KEY))
    services = copy.deepcopy(inputs()["services"])
    services["web"]["image"] = f"ghcr.io/acme/web@{OTHER}"
    assert _app_spec.differences(_app_spec.seal(render(services=services), live, KEY), live) == [
        "services.web.image.digest"]


def test_removed_env_component_or_domain_is_a_difference():
    live = stored(_app_spec.seal(render(), None, KEY))
    services = copy.deepcopy(inputs()["services"])
    del services["web"]["env"]
    assert _app_spec.differences(_app_spec.seal(render(services=services), live, KEY), live) == [
        "services.web.envs.MODE"]
    del services["worker"]
    assert "workers.worker" in _app_spec.differences(_app_spec.seal(render(services=services), live, KEY), live)
    # without berth_domain the api's Host rule keeps the name, as an alias
    assert "domains.shop.example.com.type" in _app_spec.differences(_app_spec.seal(render(domain=""), live, KEY), live)


def test_read_only_and_unrendered_live_fields_are_not_differences():
    desired = _app_spec.seal(render(), None, KEY)
    live = stored(desired)
    live["services"][0]["internal_ports"] = [9090]
    live["static_sites"] = [{"name": "docs"}]
    live["features"] = ["buildpack-stack=ubuntu-22"]
    assert _app_spec.differences(_app_spec.seal(render(), live, KEY), live) == []


def test_digests_of_a_deployment_spec():
    assert _app_spec.digests(render()) == {"web": DIGEST, "api": DIGEST, "worker": DIGEST, "migrate": DIGEST}
    assert _app_spec.digests(None) == {}


def test_redacted_hides_every_secret():
    shown = repr(_app_spec.redacted(render()))
    assert "plain-secret" not in shown and "bot:token" not in shown

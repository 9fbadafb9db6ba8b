"""A release rendered from its spec: files, checksums, what differs, routes and the checks derived from them."""

import json

from ansible_collections.berth.ops.plugins.module_utils import _release
from ansible_collections.berth.ops.plugins.module_utils._spec import build

DIGEST = "@sha256:" + "b" * 64
SPEC, _ = build({"app": "shop", "domain": "shop.example.com", "tls": "files",
                 "services": {"web": {"image": "r/web" + DIGEST, "port": 8000,
                                      "health": {"path": "/up", "timeout": 0.5, "start_timeout": 30}},
                              "worker": {"image": "r/web" + DIGEST}},
                 "accessories": {"db": {"image": "r/pg" + DIGEST, "volumes": ["data:/var/lib/pg"]}}})
ENV = {"web": {"SECRET_KEY": "hunter2", "DEBUG": "0"}}


def test_env_file_keeps_quotes_newlines_and_dollars():
    text = _release.env_file_text({"A": "plain", "B": "it's", "C": "line1\nline2", "D": "$HOME"})
    assert "A='plain'\n" in text and 'B="it\'s"\n' in text and 'C="line1\\nline2"\n' in text and "D='$HOME'\n" in text


def test_checksums_change_with_any_part_and_only_then():
    base = _release.checksums(SPEC, ENV)
    assert _release.checksums(SPEC, ENV) == base
    bigger = json.loads(json.dumps(SPEC))
    bigger["services"]["web"]["memory"] = "256m"
    assert _release.checksums(bigger, ENV)["release"] != base["release"]
    assert _release.checksums(SPEC, {"web": {**ENV["web"], "DEBUG": "1"}})["release"] != base["release"]
    moved = {**SPEC, "domain": "new.example.com"}
    assert _release.checksums(moved, ENV)["routing"] != base["routing"]


def test_differences_name_fields_and_env_keys_never_values():
    new = json.loads(json.dumps(SPEC))
    new["services"]["web"]["memory"] = "256m"
    new["services"]["web"]["health"]["path"] = "/health"
    new["domain"] = "shop2.example.com"
    report = _release.differences(SPEC, new)
    assert "memory of web: none -> 256m" in report
    assert any(line.startswith("health of web:") and "/health" in line for line in report)
    assert "domain: shop.example.com -> shop2.example.com" in report
    digests = _release.env_digests({"web": {"SECRET_KEY": "hunter3", "NEW": "x"}}, "k")
    env_lines = _release.env_report(ENV, digests, "k")
    assert env_lines == ["env file of web: 1 key added (NEW); 1 key removed (DEBUG); 1 key changed (SECRET_KEY)"]
    assert not any("hunter" in line for line in report + env_lines)
    assert _release.env_report(ENV, _release.env_digests(ENV, "k"), "k") == []
    assert _release.differences(SPEC, SPEC) == []


def test_compose_of_a_colour_pins_images_labels_the_release_and_shares_named_volumes():
    doc = _release.compose_colour(SPEC, "green", "r1", "/opt/shop/releases/r1", "sum")
    web = doc["services"]["web"]
    assert doc["name"] == "shop-green" and web["image"] == "r/web" + DIGEST
    assert web["labels"]["berth.release"] == "r1" and web["environment"]["BERTH_COLOUR"] == "green"
    assert web["networks"]["edge"] == {"aliases": ["shop-green-web"]}
    assert "edge" not in doc["services"]["worker"]["networks"]
    assert web["env_file"] == [{"path": "/opt/shop/releases/r1/env/web.env", "required": False}]
    assert _release.compose_accessories(SPEC, "/opt/shop")["volumes"] == {"data": {}}


def test_routes_public_follow_the_live_colour_and_private_ones_stay_per_colour():
    public = _release.public_routes(SPEC, "green")
    assert public["http"]["routers"]["shop-web"]["rule"] == "Host(`shop.example.com`)"
    assert public["http"]["services"]["shop-web"]["weighted"]["services"] == [{"name": "shop-web-green", "weight": 1}]
    assert _release.live_colour(public, "shop") == "green" and _release.live_colour(None, "shop") == ""
    private = _release.colour_routes(SPEC, "blue")
    assert private["http"]["routers"]["shop-web-blue-gate"]["rule"] == "Host(`web.blue.shop.gate`)"
    assert private["http"]["services"]["shop-web-blue"]["loadBalancer"]["servers"] == [{"url": "http://shop-blue-web:8000"}]


def test_loaded_compares_traefiks_view_with_the_expected_routes():
    public = _release.public_routes(SPEC, "green")
    api = {"routers/shop-web": {"rule": "Host(`shop.example.com`)", "service": "shop-web"},
           "services/shop-web": {"weighted": {"services": [{"name": "shop-web-green", "weight": 1}]}}}
    assert _release.loaded(public, api)
    api["services/shop-web"] = {"weighted": {"services": [{"name": "shop-web-blue", "weight": 1}]}}
    assert not _release.loaded(public, api)
    assert not _release.loaded(public, {"routers/shop-web": None})


def test_gate_and_confirm_checks_use_each_services_health_settings():
    gate = _release.gate_checks(SPEC, "green", "http://127.0.0.1:8081")
    assert gate == [{"name": "web", "url": "http://127.0.0.1:8081/up", "headers": {"Host": "web.green.shop.gate"},
                     "status_codes": [200], "body_regex": None, "json_match": None, "successes": 3, "interval": 1.0,
                     "timeout": 0.5, "max_bad_answers": 3, "max_connection_errors": 3, "start_timeout": 30.0,
                     "container": "shop-green-web-1"}]
    confirm = _release.confirm_checks(SPEC, "https://127.0.0.1:443", 20)
    assert confirm[0]["headers"] == {"Host": "shop.example.com"} and confirm[0]["timeout"] == 0.5
    assert confirm[0]["deadline"] == 20 and "start_timeout" not in confirm[0]


def test_a_warm_colour_is_gated_for_one_good_answer_under_the_same_settings():
    cold = _release.gate_checks(SPEC, "green", "http://127.0.0.1:8081")[0]
    warm = _release.gate_checks(SPEC, "green", "http://127.0.0.1:8081", warm=True)[0]
    assert warm["successes"] == 1
    assert {k: v for k, v in warm.items() if k != "successes"} == {k: v for k, v in cold.items() if k != "successes"}


def test_a_host_and_root_path_rule_is_confirmed_with_that_host():
    assert _release.public_host(SPEC, "Host(`a.example.com`) && PathPrefix(`/`)") == "a.example.com"
    assert _release.public_host(SPEC, "Host(`a.example.com`) && PathPrefix(`/api`)") is None

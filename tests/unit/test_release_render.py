"""A release rendered from its spec: files, checksums, what differs, routes and the checks derived from them."""

import json

import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args
from ansible_collections.berth.ops.plugins.module_utils import _host, _render
from ansible_collections.berth.ops.plugins.module_utils._spec import build
from ansible_collections.berth.ops.plugins.modules import release_render

DIGEST = "@sha256:" + "b" * 64
SPEC, _ = build({"app": "shop", "domain": "shop.example.com", "tls": "files",
                 "services": {"web": {"image": "r/web" + DIGEST, "port": 8000,
                                      "health": {"path": "/up", "timeout": 0.5, "start_timeout": 30}},
                              "worker": {"image": "r/web" + DIGEST}},
                 "accessories": {"db": {"image": "r/pg" + DIGEST, "volumes": ["data:/var/lib/pg"]}}})
ENV = {"web": {"SECRET_KEY": "hunter2", "DEBUG": "0"}}


def test_env_file_keeps_quotes_newlines_and_dollars():
    text = _render.env_file_text({"A": "plain", "B": "it's", "C": "line1\nline2", "D": "$HOME"})
    assert "A='plain'\n" in text and 'B="it\'s"\n' in text and 'C="line1\\nline2"\n' in text and "D='$HOME'\n" in text


def test_checksums_change_with_any_part_and_only_then():
    base = _render.checksums(SPEC, ENV)
    assert _render.checksums(SPEC, ENV) == base
    bigger = json.loads(json.dumps(SPEC))
    bigger["services"]["web"]["memory"] = "256m"
    assert _render.checksums(bigger, ENV)["release"] != base["release"]
    assert _render.checksums(SPEC, {"web": {**ENV["web"], "DEBUG": "1"}})["release"] != base["release"]
    moved = {**SPEC, "domain": "new.example.com"}
    assert _render.checksums(moved, ENV)["routing"] != base["routing"]


def test_differences_name_fields_and_env_keys_never_values():
    new = json.loads(json.dumps(SPEC))
    new["services"]["web"]["memory"] = "256m"
    new["services"]["web"]["health"]["path"] = "/health"
    new["domain"] = "shop2.example.com"
    report = _render.differences(SPEC, new)
    assert "memory of web: none -> 256m" in report
    assert any(line.startswith("health of web:") and "/health" in line for line in report)
    assert "domain: shop.example.com -> shop2.example.com" in report
    digests = _render.env_digests({"web": {"SECRET_KEY": "hunter3", "NEW": "x"}}, "k")
    env_lines = _render.env_report(ENV, digests, "k")
    assert env_lines == ["env file of web: 1 key added (NEW); 1 key removed (DEBUG); 1 key changed (SECRET_KEY)"]
    assert not any("hunter" in line for line in report + env_lines)
    assert _render.env_report(ENV, _render.env_digests(ENV, "k"), "k") == []
    assert _render.differences(SPEC, SPEC) == []


def test_compose_of_a_colour_pins_images_labels_the_release_and_shares_named_volumes():
    doc = _render.compose_colour(SPEC, "green", "r1", "/opt/shop/releases/r1", "sum")
    web = doc["services"]["web"]
    assert doc["name"] == "shop-green" and web["image"] == "r/web" + DIGEST
    assert web["labels"]["berth.release"] == "r1" and web["environment"]["BERTH_COLOUR"] == "green"
    assert web["networks"] == {"colour": {"aliases": ["shop-green-web"]}}
    assert doc["services"]["worker"]["networks"] == {"colour": {}}
    assert web["env_file"] == [{"path": "/opt/shop/releases/r1/env/web.env", "required": False}]
    assert _render.compose_accessories(SPEC, "/opt/shop")["volumes"] == {"data": {}}


def test_routes_public_follow_the_live_colour_and_private_ones_stay_per_colour():
    public = _render.public_routes(SPEC, "green")
    assert public["http"]["routers"]["shop-web"]["rule"] == "Host(`shop.example.com`)"
    assert public["http"]["services"]["shop-web"]["weighted"]["services"] == [{"name": "shop-web-green", "weight": 1}]
    assert _render.live_colour(public, "shop") == "green" and _render.live_colour(None, "shop") == ""
    private = _render.colour_routes(SPEC, "blue")
    assert private["http"]["routers"]["shop-web-blue-gate"]["rule"] == "Host(`web.blue.shop.gate`)"
    assert private["http"]["services"]["shop-web-blue"]["loadBalancer"]["servers"] == [{"url": "http://shop-blue-web:8000"}]


def test_loaded_compares_traefiks_view_with_the_expected_routes():
    public = _render.public_routes(SPEC, "green")
    api = {"routers/shop-web": {"rule": "Host(`shop.example.com`)", "service": "shop-web"},
           "services/shop-web": {"weighted": {"services": [{"name": "shop-web-green", "weight": 1}]}}}
    assert _render.loaded(public, api)
    api["services/shop-web"] = {"weighted": {"services": [{"name": "shop-web-blue", "weight": 1}]}}
    assert not _render.loaded(public, api)
    assert not _render.loaded(public, {"routers/shop-web": None})


def test_gate_and_confirm_checks_use_each_services_health_settings():
    gate = _render.gate_checks(SPEC, "green", "http://127.0.0.1:8081")
    assert gate == [{"name": "web", "url": "http://127.0.0.1:8081/up", "headers": {"Host": "web.green.shop.gate"},
                     "status_codes": [200], "body_regex": None, "json_match": None, "successes": 3, "interval": 1.0,
                     "timeout": 0.5, "max_bad_answers": 3, "max_connection_errors": 3, "start_timeout": 30.0,
                     "container": "shop-green-web-1"}]
    confirm = _render.confirm_checks(SPEC, "https://127.0.0.1:443", 20)
    assert confirm[0]["headers"] == {"Host": "shop.example.com"} and confirm[0]["timeout"] == 0.5
    assert confirm[0]["deadline"] == 20 and "start_timeout" not in confirm[0]


def test_the_confirm_path_names_the_colour_going_live_where_json_match_says_colour():
    checks = _render.confirm_checks(SPEC, "https://127.0.0.1:443", 20, colour="green", path="/",
                                     json_match={"colour": "{colour}", "who": "app {colour}", "n": 3, "ok": True})
    assert checks[-1] == {"name": "confirm_path", "url": "https://127.0.0.1:443/",
                          "headers": {"Host": "shop.example.com"}, "deadline": 20,
                          "json_match": {"colour": "green", "who": "app green", "n": 3, "ok": True}}
    # Every host routed: the entrypoint's own name, as the public router's.
    anywhere = {**SPEC, "domain": "", "routers": {"web": "PathPrefix(`/`)"}}
    checks = _render.confirm_checks(anywhere, "http://127.0.0.1", 20, colour="blue", path="/up")
    assert [c["headers"]["Host"] for c in checks] == ["shop.local", "shop.local"]
    assert checks[-1]["url"] == "http://127.0.0.1/up" and checks[-1]["json_match"] is None
    # No berth_confirm_path: only the routers' own checks, whatever the JSON match says.
    assert [c["name"] for c in _render.confirm_checks(SPEC, "https://127.0.0.1", 20, colour="blue",
                                                                json_match={"a": "{colour}"})] \
        == ["web"]


def test_status_asks_the_live_colour_for_one_good_answer_now_with_no_budget():
    warm = _render.gate_checks(SPEC, "blue", "http://127.0.0.1:8081", warm=True)
    now = _render.status_checks(SPEC, "blue", "http://127.0.0.1:8081")
    assert now == [{**check, "max_bad_answers": 0, "max_connection_errors": 0, "deadline": 5, "start_timeout": None}
                   for check in warm]
    assert now[0]["successes"] == 1 and now[0]["timeout"] == 0.5 and now[0]["headers"] == {"Host": "web.blue.shop.gate"}


def test_a_warm_colour_is_gated_for_one_good_answer_under_the_same_settings():
    cold = _render.gate_checks(SPEC, "green", "http://127.0.0.1:8081")[0]
    warm = _render.gate_checks(SPEC, "green", "http://127.0.0.1:8081", warm=True)[0]
    assert warm["successes"] == 1
    assert {k: v for k, v in warm.items() if k != "successes"} == {k: v for k, v in cold.items() if k != "successes"}


def test_a_host_and_root_path_rule_is_confirmed_with_that_host():
    assert _render.public_host(SPEC, "Host(`a.example.com`) && PathPrefix(`/`)") == "a.example.com"
    assert _render.public_host(SPEC, "Host(`a.example.com`) && PathPrefix(`/api`)") is None


# --- Service names, routes with middlewares, hardening (issue 22) --------------------------------------
ROUTED, ROUTED_ERRORS = build({
    "app": "forum", "domain": "example.com", "tls": "files",
    "services": {"web": {"image": "r/web" + DIGEST, "port": 80},
                 "api": {"image": "r/api" + DIGEST, "port": 5000, "health_path": "/health",
                         "routes": [{"path": "/api", "middlewares": [{"strip_prefix": "/api"},
                                                                     {"headers": {"frameDeny": True}}]}]},
                 "forum": {"image": "r/forum" + DIGEST, "port": 4567,
                           "routes": [{"host": "forum.{domain}", "middlewares": [{"headers": {"frameDeny": True}}]},
                                      {"host": "admin.{domain}", "priority": 10,
                                       "middlewares": [{"basic_auth": {"users_from": "ADMIN_USERS"}},
                                                       {"rate_limit": {"average": 5, "period": "1s"}},
                                                       {"redirect_scheme": {"permanent": True}}]}]}},
    "accessories": {"db": {"image": "r/pg" + DIGEST}},
    "env": {"forum": {"ADMIN_USERS": "admin:$2y$05$hash\nops:$2y$05$other\n"}}})


def test_each_colour_has_its_own_network_where_services_have_their_names_and_accessories_join_both():
    """The api is `api` to the web of the same colour only: compose names each service on every network it
    joins, so a network shared by both colours would answer `api` with either colour's."""
    assert ROUTED_ERRORS == []
    for colour in ("blue", "green"):
        doc = _render.compose_colour(ROUTED, colour, "r1", "/r", "sum")
        assert doc["networks"]["colour"] == {"name": f"forum-{colour}", "external": True}
        assert all(set(svc["networks"]) == {"colour"} for svc in doc["services"].values())
        assert "internal" not in doc["networks"]
    accessories = _render.compose_accessories(ROUTED, "/opt/forum")
    assert {n["name"] for n in accessories["networks"].values()} == {"forum-blue", "forum-green", "forum-internal"}
    assert set(accessories["services"]["db"]["networks"]) == set(accessories["networks"])


def test_several_routes_per_service_go_to_one_weighted_service_with_their_middlewares():
    public = _render.public_routes(ROUTED, "green")["http"]
    assert public["routers"]["forum-api"] == {
        "entryPoints": ["websecure"], "rule": "Host(`example.com`) && PathPrefix(`/api`)", "service": "forum-api",
        "middlewares": ["forum-api-green-1-strip-prefix", "forum-api-green-2-headers"], "tls": {}}
    assert public["routers"]["forum-forum"]["rule"] == "Host(`forum.example.com`)"
    assert public["routers"]["forum-forum-r2"]["priority"] == 10
    assert public["routers"]["forum-forum-r2"]["service"] == "forum-forum"
    assert sorted(public["services"]) == ["forum-api", "forum-forum", "forum-web"]
    assert public["services"]["forum-forum"] == {"weighted": {"services": [{"name": "forum-forum-green", "weight": 1}]}}


def test_a_colours_file_defines_its_middlewares_with_basic_auth_users_from_the_secret_env():
    users = "admin:$2y$05$hash\nops:$2y$05$other\n"
    routes = _render.colour_routes(ROUTED, "green", {"forum": {"ADMIN_USERS": users}})
    middlewares = routes["http"]["middlewares"]
    assert middlewares == {
        "forum-api-green-1-strip-prefix": {"stripPrefix": {"prefixes": ["/api"]}},
        "forum-api-green-2-headers": {"headers": {"frameDeny": True}},
        "forum-forum-green-1-headers": {"headers": {"frameDeny": True}},
        "forum-forum-r2-green-1-basic-auth": {"basicAuth": {"users": ["admin:$2y$05$hash", "ops:$2y$05$other"]}},
        "forum-forum-r2-green-2-rate-limit": {"rateLimit": {"average": 5, "period": "1s"}},
        "forum-forum-r2-green-3-redirect-scheme": {"redirectScheme": {"permanent": True, "scheme": "https"}}}
    # Every middleware a public router names is defined in that colour's file.
    routers = _render.public_routes(ROUTED, "green")["http"]["routers"].values()
    named = {m for r in routers for m in r.get("middlewares", [])}
    assert named == set(middlewares)
    assert _render.has_secrets(routes) and not _render.has_secrets(_render.colour_routes(SPEC, "green"))
    # The gate's private routes carry none: a colour is gated on its services' own answers.
    assert all("middlewares" not in r for r in routes["http"]["routers"].values())


def test_the_confirm_skips_routes_whose_middlewares_answer_for_the_app():
    names = [check["name"] for check in _render.confirm_checks(ROUTED, "https://127.0.0.1", 20)]
    assert names == ["web", "forum"]  # api: a path rule; forum-r2: basic auth answers 401 before the app
    forum = next(c for c in _render.confirm_checks(ROUTED, "https://127.0.0.1", 20) if c["name"] == "forum")
    assert forum["headers"] == {"Host": "forum.example.com"}


def test_hardening_and_logging_reach_compose_as_compose_names_them():
    spec, errors = build({"app": "shop", "services": {"web": {
        "image": "r/web" + DIGEST, "port": 8000, "user": "1000:1000", "read_only": True, "tmpfs": ["/tmp:size=16m"],
        "cap_drop": ["ALL"], "cap_add": ["net_bind_service"], "no_new_privileges": True,
        "ulimits": {"nofile": {"soft": 1024, "hard": 4096}, "nproc": 256},
        "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": 3}}}}})
    assert errors == []
    web = _render.compose_colour(spec, "blue", "r1", "/r", "sum")["services"]["web"]
    assert {k: web[k] for k in ("user", "read_only", "tmpfs", "cap_drop", "cap_add", "security_opt", "ulimits",
                                "logging")} == {
        "user": "1000:1000", "read_only": True, "tmpfs": ["/tmp:size=16m"], "cap_drop": ["ALL"],
        "cap_add": ["NET_BIND_SERVICE"], "security_opt": ["no-new-privileges:true"],
        "ulimits": {"nofile": {"soft": 1024, "hard": 4096}, "nproc": 256},
        "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}}
    plain = _render.compose_colour(SPEC, "blue", "r1", "/r", "sum")["services"]["web"]
    assert not {"read_only", "tmpfs", "cap_drop", "security_opt", "ulimits", "logging"} & set(plain)


def test_a_short_secret_value_never_masks_what_a_module_returns():
    """Ansible masks a no_log value wherever it occurs in a result: a secret env value "0" turned every
    0 of the returned checksums into '********' (records of one release then disagreed). The result is
    returned exact; the arguments in the invocation stay masked."""
    sums = _render.checksums(SPEC, ENV)
    with patch_module_args({"env": ENV}):
        module = AnsibleModule(argument_spec={"env": {"type": "dict", "no_log": True}})
    results: list[dict] = []
    module._record_module_result = results.append  # what exit_json would print to the controller
    with pytest.raises(SystemExit):
        _host.exit_unmasked(module, changed=False, checksums=sums)
    returned = results[0]
    assert returned["checksums"] == sums and "0" in sums["release"] + sums["routing"]
    shown = json.dumps(returned["invocation"])
    assert "hunter2" not in shown and '"DEBUG": "0"' not in shown, shown


def test_no_colour_service_joins_a_network_shared_with_the_other_colour_or_another_app():
    """A routed service is on its colour's network only, as <app>-<colour>-<service> (what Traefik's routes name):
    on a network shared by both colours (berth-edge) compose would give every container its service name too,
    and `api` would answer from either colour, or from another app."""
    for colour in _render.COLOURS:
        for spec in (SPEC, ROUTED):
            doc = _render.compose_colour(spec, colour, "r1", "/r", "sum")
            assert [n["name"] for n in doc["networks"].values()] == [f"{spec['app']}-{colour}"]
            for name, svc in doc["services"].items():
                routed = "port" in spec["services"][name]
                assert svc["networks"] == {"colour": {"aliases": [f"{spec['app']}-{colour}-{name}"]} if routed else {}}
            servers = [server["url"] for service in _render.colour_routes(spec, colour)["http"]["services"].values()
                       for server in service["loadBalancer"]["servers"]]
            assert servers and all(url.split("//")[1].split(":")[0] in
                                   {alias for svc in doc["services"].values() for alias in
                                    svc["networks"]["colour"].get("aliases", [])} for url in servers), servers


def _render_joins(networks_of_traefik: str, connect: tuple[int, str, str] = (0, "", "")) -> tuple[list, dict]:
    """release_render's Traefik join against a faked docker CLI: the commands it ran, and how it exited."""
    ran: list[list[str]] = []

    def run_command(_module: AnsibleModule, args: list[str], **_kwargs) -> tuple[int, str, str]:
        ran.append(args)
        if args[:2] == ["docker", "inspect"]:
            return (0, networks_of_traefik, "") if networks_of_traefik else (1, "", "Error: No such object")
        return connect

    with patch_module_args({"root": "/r", "app": "shop", "release_id": "r1", "colour": "blue", "spec": SPEC}):
        module = AnsibleModule(argument_spec=release_render.argument_spec())
    failed: dict = {}

    def fail_json(**result) -> None:
        failed.update(result)
        raise SystemExit(1)

    module.run_command = run_command.__get__(module)  # type: ignore[method-assign]
    module.fail_json = fail_json  # type: ignore[method-assign]
    try:
        release_render.join_traefik(module, "traefik-traefik-1", ["shop-blue", "shop-green"])
    except SystemExit:
        pass
    return ran, failed


def test_render_connects_traefik_to_each_colour_network_it_is_not_on_and_fails_without_traefik():
    ran, failed = _render_joins('{"berth-edge": {}, "shop-blue": {}}')
    assert ran[1:] == [["docker", "network", "connect", "shop-green", "traefik-traefik-1"]] and not failed
    ran, failed = _render_joins('{"berth-edge": {}, "shop-blue": {}, "shop-green": {}}')
    assert len(ran) == 1 and not failed
    # Another deploy connected it in between: not an error.
    ran, failed = _render_joins('{"berth-edge": {}}', (1, "", "endpoint with name traefik-traefik-1 already exists"))
    assert len(ran) == 3 and not failed
    ran, failed = _render_joins('{"berth-edge": {}}', (1, "", "network shop-blue not found"))
    assert failed["msg"] == "render: cannot connect traefik-traefik-1 to network shop-blue: network shop-blue not found"
    ran, failed = _render_joins("")
    assert failed["msg"].startswith("render: Traefik's container traefik-traefik-1 is not there")

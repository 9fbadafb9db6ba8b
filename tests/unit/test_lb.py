"""A host in and out of its load balancer's rotation (module_utils/_lb.py, issue #21): berth_lb refused
on the controller naming the variable and the value, the health route Traefik loads, and the decision
from the host's access log that the load balancer acted on a drain or a rejoin."""

from __future__ import annotations

import datetime
import json

import pytest
from ansible_collections.berth.ops.plugins.filter.lb import lb_problems
from ansible_collections.berth.ops.plugins.module_utils import _lb, _render

LB = {"health_path": "/.well-known/berth/lb", "interval": 2, "timeout": 1, "unhealthy": 2, "healthy": 3}
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def line(at: float, path: str = "/", status: int = 200) -> str:
    stamp = datetime.datetime.fromtimestamp(at, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps({"RequestPath": path, "DownstreamStatus": status, "StartUTC": stamp})


def test_an_empty_berth_lb_is_no_load_balancer():
    assert _lb.check({}, 1, 1) == ({}, [])
    assert _lb.check(None, 1, 1) == ({}, [])


def test_berth_lb_takes_digitalocean_defaults_for_what_it_omits():
    contract, errors = _lb.check({"interval": 3}, 3, 1)
    assert errors == []
    assert contract == {**_lb.DEFAULTS, "interval": 3}


@pytest.mark.parametrize(("lb", "hosts", "serial", "error"), [
    ({"interval": 0}, 3, 1, "berth_lb.interval: 0 is not a whole number from 1 to 300"),
    ({"timeout": "5"}, 3, 1, "berth_lb.timeout: '5' is not a whole number from 1 to 300"),
    ({"unhealthy": 1}, 3, 1, "berth_lb.unhealthy: 1 is not a whole number from 2 to 10"),
    ({"healthy": True}, 3, 1, "berth_lb.healthy: True is not a whole number from 2 to 10"),
    ({"health_path": "lb"}, 3, 1, "berth_lb.health_path: 'lb' is not a URL path (starts with '/', no query)"),
    ({"health_path": "/lb?x=1"}, 3, 1, "berth_lb.health_path: '/lb?x=1' is not a URL path (starts with '/', no query)"),
    ({"helthy": 3}, 3, 1, "berth_lb.helthy: 3 is not an option (known: health_path, interval, timeout, unhealthy, "
                          "healthy, min_in_rotation)"),
    ("yes", 3, 1, "berth_lb: 'yes' is not a mapping of health_path, interval, timeout, unhealthy, healthy, "
                  "min_in_rotation"),
    ({}, 3, 0, None),  # no load balancer: berth_serial is the play's business
    (LB, 3, 0, "berth_serial: 0 is not a whole number of hosts from 1"),
    (LB, 1, 1,
     "berth_serial: 1 drains too many of 1 host(s) at once: berth_lb.min_in_rotation (1) must stay in rotation"),
    ({**LB, "min_in_rotation": 2}, 3, 2,
     "berth_serial: 2 drains too many of 3 host(s) at once: berth_lb.min_in_rotation (2) must stay in rotation"),
])
def test_bad_input_is_refused_naming_the_variable_and_the_value(lb, hosts, serial, error):
    assert lb_problems(lb, hosts, serial) == ([error] if error else [])


def test_a_singleton_service_is_refused_behind_a_load_balancer_and_only_there():
    spec = {"services": {"api": {"port": 8000}, "worker": {"singleton": True}, "beat": {"singleton": False}}}
    assert lb_problems(LB, 3, 1, spec) == [
        "berth_services.worker.singleton: True is not supported with berth_lb yet (a fleet deploy would not run "
        "it); run singletons on a host outside the load balancer's group"]
    assert lb_problems({}, 1, 1, spec) == []
    assert lb_problems(LB, 3, 1, {"services": {"api": {"port": 8000}}}) == []


def test_one_host_may_drain_to_none_when_asked():
    assert lb_problems({**LB, "min_in_rotation": 0}, 1, 1) == []


def test_the_route_answers_traefiks_ping_in_rotation_and_503_drained():
    inside = _lb.routes(LB, "in", ["websecure"])["http"]
    assert inside["routers"]["berth-lb"] == {"rule": "Path(`/.well-known/berth/lb`)", "priority": 2_000_000_000,
                                             "entryPoints": ["websecure"], "service": "berth-lb-in",
                                             "middlewares": ["berth-lb-ping"]}
    assert inside["services"]["berth-lb-in"]["loadBalancer"]["servers"] == [{"url": "http://127.0.0.1:8082"}]
    assert inside["middlewares"]["berth-lb-ping"] == {"replacePath": {"path": "/ping"}}
    drained = _lb.routes(LB, "drained", ["websecure"])["http"]
    assert drained["routers"]["berth-lb"]["service"] == "berth-lb-drained"
    assert drained["services"] == {"berth-lb-drained": {"loadBalancer": {"servers": []}}}


def test_access_log_entries_are_the_lines_with_a_request_path():
    log = "\n".join(['{"level":"info","msg":"Configuration loaded"}', "not json", line(T0), ""])
    assert [e["RequestPath"] for e in _lb.entries(log)] == ["/"]


def judge(lines: list[str], state: str, now: float) -> dict:
    return _lb.judge(_lb.entries("\n".join(lines)), LB, state, T0, now)


def test_a_drain_waits_for_the_minimum_the_checks_and_quiet():
    checks = [line(T0 + 0.5, LB["health_path"], 503), line(T0 + 2.5, LB["health_path"], 503)]
    # unhealthy x interval + timeout = 5 s
    assert not judge(checks, "drained", T0 + 4.9)["done"]
    assert judge(checks, "drained", T0 + 5.0)["done"]
    # One check is not enough, whatever the time.
    assert judge(checks[:1], "drained", T0 + 60)["why"] == "1 of 2 health checks answered 503"
    # A request that started within two intervals keeps it waiting.
    late = [*checks, line(T0 + 3.5, "/api")]
    assert "a request started 1.5 s ago (less than 4 s)" in judge(late, "drained", T0 + 5.0)["why"]
    assert judge(late, "drained", T0 + 7.5)["done"]
    # Requests and checks from before the change do not count.
    assert not judge([line(T0 - 1, LB["health_path"], 503)] * 5, "drained", T0 + 9)["done"]


def test_a_rejoin_waits_for_healthy_checks_answered_200():
    checks = [line(T0 + 0.5 + 2 * i, LB["health_path"], 200) for i in range(3)]
    assert judge(checks, "in", T0 + 6)["done"]
    assert not judge(checks[:2], "in", T0 + 60)["done"]
    assert not judge(checks, "in", T0 + 5.9)["done"]  # healthy x interval = 6 s
    # Requests served right away are welcome.
    assert judge([*checks, line(T0 + 5.9, "/")], "in", T0 + 6)["done"]
    # 503 answers are not healthy checks.
    assert not judge([line(T0 + 1, LB["health_path"], 503)] * 3, "in", T0 + 9)["done"]


def test_the_state_a_health_route_file_puts_its_host_in():
    for state in _lb.STATES:
        text = _render.dump(_lb.routes(_lb.DEFAULTS, state, ["websecure"])).encode()
        assert _lb.state_of(text) == state
    assert _lb.state_of(None) == "" and _lb.state_of(b"") == "" and _lb.state_of(b"# not json\n") == ""
    assert _lb.state_of(b'{"http": {"routers": {}}}') == ""

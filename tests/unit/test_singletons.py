"""Singletons and replicas (#22) in the rendered release: the pure decisions of _render.py.

A singleton runs outside the colours in <app>-singletons, is replaced only when its definition or env
changed (the berth.singleton label), and the release role stops it before its replacement starts
(roles/release/tasks/singletons.yml; proven on a host by tests/e2e/test_example_simulation.py). Replicas
run inside a colour, each behind its own private gate route, all behind the colour's load balancer.
"""

from ansible_collections.berth.ops.plugins.module_utils import _render
from ansible_collections.berth.ops.plugins.module_utils._spec import build

IMAGE = "registry.example.com/acme/sim:1.0@sha256:" + "a" * 64
INPUTS = {"app": "sim", "domain": "sim.example.com", "tls": "files",
          "services": {"api": {"image": IMAGE, "port": 8000, "health_path": "/health", "replicas": 2},
                       "worker": {"image": IMAGE, "command": ["work"], "singleton": True}},
          "env": {"worker": {"REDIS_PASSWORD": "x"}}}


def spec() -> dict:
    built, errors = build(INPUTS)
    assert errors == []
    return built


def sums(env: dict | None = None) -> dict:
    return _render.checksums(spec(), env if env is not None else {"worker": {"REDIS_PASSWORD": "x"}})


def test_a_singleton_is_not_in_the_colours_but_in_its_own_project():
    colour = _render.compose_colour(spec(), "blue", "r1", "/opt/sim/releases/r1", "c")
    assert set(colour["services"]) == {"api"}
    document = _render.compose_singletons(spec(), "/opt/sim/releases/r1", sums())
    assert document["name"] == "sim-singletons" and set(document["services"]) == {"worker"}
    worker = document["services"]["worker"]
    assert worker["env_file"] == [{"path": "/opt/sim/releases/r1/env/worker.env", "required": False}]
    assert set(worker["networks"]) == {"blue", "green"} and "berth.colour" not in worker["labels"]


def test_the_singleton_label_follows_its_definition_and_its_env_only():
    label = _render.singleton_label(sums(), "worker")
    assert _render.singleton_label(sums(), "worker") == label
    assert _render.singleton_label(sums({"worker": {"REDIS_PASSWORD": "y"}}), "worker") != label
    changed = {**spec(), "services": {**spec()["services"], "worker": {**spec()["services"]["worker"],
                                                                          "command": ["work", "--fast"]}}}
    assert _render.singleton_label(_render.checksums(changed, {"worker": {"REDIS_PASSWORD": "x"}}), "worker") != label
    # A change to the api alone leaves the worker running.
    other = {**spec(), "services": {**spec()["services"], "api": {**spec()["services"]["api"], "replicas": 3}}}
    assert _render.singleton_label(_render.checksums(other, {"worker": {"REDIS_PASSWORD": "x"}}), "worker") == label


def info(label: str | None, running: bool = True, exists: bool = True) -> dict:
    container = {"State": {"Running": running}, "Config": {"Labels": {"berth.singleton": label}}}
    return {"item": "worker", "exists": exists, "container": container if exists else None}


def test_singletons_plan_replaces_only_a_changed_or_stopped_one_and_removes_the_rest():
    document = _render.compose_singletons(spec(), "/r", sums())
    label = document["services"]["worker"]["labels"]["berth.singleton"]
    present = ["/sim-singletons-worker-1"]
    assert _render.singletons_plan(document, [info(label)], present) == {"changed": [], "gone": []}
    assert _render.singletons_plan(document, [info("old")], present) == {"changed": ["worker"], "gone": []}
    assert _render.singletons_plan(document, [info(label, running=False)], present)["changed"] == ["worker"]
    assert _render.singletons_plan(document, [info(None, exists=False)], [])["changed"] == ["worker"]
    # A release without singletons (rolled back to one from before them) removes every one.
    assert _render.singletons_plan(None, [], [*present, "/sim-singletons-cron-1"]) == {
        "changed": [], "gone": ["sim-singletons-cron-1", "sim-singletons-worker-1"]}
    assert _render.singletons_plan(document, [info(label)], [*present, "/sim-singletons-cron-1"])["gone"] == [
        "sim-singletons-cron-1"]


def test_each_replica_has_its_own_gate_route_and_all_are_load_balanced():
    routes = _render.colour_routes(spec(), "green")["http"]
    servers = routes["services"]["sim-api-green"]["loadBalancer"]["servers"]
    assert servers == [{"url": "http://sim-green-api-1:8000"}, {"url": "http://sim-green-api-2:8000"}]
    for number in (1, 2):
        router = routes["routers"][f"sim-api-green-gate-{number}"]
        assert router["rule"] == f"Host(`{number}.api.green.sim.gate`)"
        assert routes["services"][router["service"]]["loadBalancer"]["servers"] == [servers[number - 1]]
    checks = _render.gate_checks(spec(), "green", "http://gate")
    assert [(c["name"], c["container"], c["headers"]["Host"]) for c in checks] == [
        ("api-1", "sim-green-api-1", "1.api.green.sim.gate"), ("api-2", "sim-green-api-2", "2.api.green.sim.gate")]
    compose = _render.compose_colour(spec(), "green", "r1", "/r", "c")
    assert compose["services"]["api"]["deploy"]["replicas"] == 2


def test_one_replica_is_the_plain_service():
    plain = {**INPUTS, "services": {"api": {**INPUTS["services"]["api"], "replicas": 1}}, "env": {}}
    built, errors = build(plain)
    assert errors == []
    assert _render.colour_routes(built, "blue")["http"]["services"] == {
        "sim-api-blue": {"loadBalancer": {"servers": [{"url": "http://sim-blue-api:8000"}]}}}
    assert [c["container"] for c in _render.gate_checks(built, "blue", "http://gate")] == ["sim-blue-api-1"]

"""Where a new release starts and how the warm standby it replaces goes (release_plan's standby, release_retire):
beside it in the colour's other compose project, stopping in the background, unless memory or
berth_standby_overlap says first; a replicated service keeps its project."""

import json

from ansible_collections.berth.ops.plugins.module_utils import _host, _records, _render
from ansible_collections.berth.ops.plugins.modules import release_retire

MIB = 1024 ** 2
SPEC = {"app": "shop", "services": {"web": {"image": "w", "port": 80}, "worker": {"image": "k"},
                                   "cron": {"image": "c", "singleton": True}}}
PLENTY = 4096 * MIB


def idle(project: str, running: bool = True) -> dict:
    return {"web": {"project": project, "running": running}, "worker": {"project": project, "running": running}}


def plan(spec=SPEC, containers=None, overlap=True, mem=PLENTY, usage=None):
    return _records.standby_plan("shop", "blue", spec, {} if containers is None else containers, overlap=overlap,
                                  mem_available=mem, usage=usage or {})


def test_an_empty_colour_starts_in_its_first_project_and_retires_nothing():
    assert plan() == {"project": "shop-blue", "retire": [], "overlap": False, "why": ""}


def test_the_new_release_starts_in_the_project_the_standby_does_not_run_in():
    assert plan(containers=idle("shop-blue")) == {"project": "shop-blue-2", "retire": ["shop-blue"],
                                                  "overlap": True, "why": ""}
    assert plan(containers=idle("shop-blue-2"))["project"] == "shop-blue"
    assert plan(containers=idle("shop-blue-2"))["retire"] == ["shop-blue-2"]


def test_containers_without_a_project_label_count_as_the_first_project():
    assert plan(containers={"web": {"running": True}})["retire"] == ["shop-blue"]


def test_berth_standby_overlap_false_stops_the_standby_first():
    decided = plan(containers=idle("shop-blue"), overlap=False)
    assert decided["retire"] == ["shop-blue"] and not decided["overlap"]
    assert "berth_standby_overlap is false" in decided["why"]


def test_too_little_memory_for_both_stops_the_standby_first_and_says_why():
    usage = {"web": 300 * MIB, "worker": 100 * MIB}
    assert plan(containers=idle("shop-blue"), mem=400 * MIB + _records.MEMORY_RESERVE, usage=usage)["overlap"]
    decided = plan(containers=idle("shop-blue"), mem=400 * MIB + _records.MEMORY_RESERVE - 1, usage=usage)
    assert not decided["overlap"] and decided["retire"] == ["shop-blue"]
    assert "MemAvailable" in decided["why"] and "400 MiB for the new release" in decided["why"]
    assert not plan(containers=idle("shop-blue"), mem=None)["overlap"]


def test_the_memory_needed_is_each_limit_else_the_standbys_usage_times_replicas_without_singletons():
    spec = {"services": {"web": {"memory": "256m", "replicas": 2}, "worker": {}, "cron": {"singleton": True}}}
    usage = {"web": 50 * MIB, "worker": 70 * MIB, "cron": 999 * MIB}
    assert _records.memory_needed(spec, usage) == 2 * 256 * MIB + 70 * MIB
    assert [_records.memory_bytes(v) for v in ("1g", "512m", "64k", "100", "", None)] == [
        1024 ** 3, 512 * MIB, 64 * 1024, 100, 0, 0]


def test_a_replicated_service_keeps_the_first_project():
    spec = {"app": "shop", "services": {"web": {"port": 80, "replicas": 2}}}
    in_place = plan(spec, containers={"web": {"project": "shop-blue", "running": True}})
    assert in_place["project"] == "shop-blue" and in_place["retire"] == [] and "replicated" in in_place["why"]
    moved = plan(spec, containers={"web": {"project": "shop-blue-2", "running": True}})
    assert (moved["project"], moved["retire"], moved["overlap"]) == ("shop-blue", ["shop-blue-2"], True)


def test_a_container_keeps_its_name_in_either_project():
    doc = _render.compose_colour(SPEC, "blue", "r1", "/r", "sum", project="shop-blue-2")
    assert doc["name"] == "shop-blue-2"
    assert doc["services"]["web"]["container_name"] == "shop-blue-web-1"
    assert doc["services"]["worker"]["container_name"] == "shop-blue-worker-1"
    assert _render.compose_colour(SPEC, "green", "r1", "/r", "sum")["name"] == "shop-green"
    replicated = {"app": "shop", "services": {"web": {"image": "w", "port": 80, "replicas": 3}}}
    assert "container_name" not in _render.compose_colour(replicated, "blue", "r1", "/r", "sum")["services"]["web"]


def test_a_retired_standby_belongs_to_no_colour():
    def docker_ps(_argv):
        lines = [{"Names": name, "State": "running", "ID": "abc", "Labels": f"berth.app=shop,berth.colour=blue,"
                  f"com.docker.compose.service=web,com.docker.compose.project={project},berth.release={release}"}
                 for name, project, release in (("shop-blue-web-1-retired-r9", "shop-blue", "r1"),
                                                ("shop-blue-web-1", "shop-blue-2", "r9"))]
        return 0, "\n".join(json.dumps(line) for line in lines), ""
    found = _host.containers(docker_ps, "shop")["blue"]
    assert found["web"]["release"] == "r9" and found["web"]["project"] == "shop-blue-2"


def test_the_standbys_memory_is_read_from_its_cgroup_else_docker_stats(monkeypatch, tmp_path):
    full = "a" * 64
    (tmp_path / full).mkdir()
    (tmp_path / full / "memory.usage_in_bytes").write_text("1048576\n")
    monkeypatch.setattr(_host, "CGROUP_MEMORY", (str(tmp_path / "{id}" / "memory.usage_in_bytes"),))
    calls = []

    def run(argv):
        calls.append(argv)
        if argv[1] == "inspect":
            return 0, (full if argv[-1] == "shop-blue-web-1" else "b" * 64) + "\n", ""
        return 0, "shop-blue-worker-1\t12.5MiB / 1.9GiB\n", ""
    usage = _host.memory_usage(run, {"web": {"name": "shop-blue-web-1", "id": "a" * 12, "running": True},
                                     "worker": {"name": "shop-blue-worker-1", "id": "b" * 12, "running": True},
                                     "old": {"name": "x", "running": False}})
    assert usage == {"web": 1024 ** 2, "worker": int(12.5 * MIB)}
    assert [c[1] for c in calls].count("stats") == 1


def test_retire_moves_aside_every_container_of_the_standbys_projects_only():
    def ps(name: str, colour: str, project: str, networks: str) -> str:
        labels = f"berth.app=shop,berth.colour={colour},com.docker.compose.project={project}"
        return json.dumps({"Names": name, "ID": name, "State": "running", "Labels": labels, "Networks": networks})

    listing = "\n".join([ps("shop-blue-web-1", "blue", "shop-blue", "shop-blue"),
                         ps("shop-blue-api-2", "blue", "shop-blue", "shop-blue,other"),
                         ps("shop-blue-web-1-retired-r0", "blue", "shop-blue", ""),
                         ps("shop-blue-2-web-1", "blue", "shop-blue-2", "shop-blue"),
                         ps("shop-green-web-1", "green", "shop-green", "shop-green")])

    class Module:
        def run_command(self, argv):
            assert argv[:3] == ["docker", "ps", "-a"] and "label=berth.app=shop" in argv, argv
            return 0, listing, ""

    assert release_retire.standby(Module(), "shop", "blue", ["shop-blue"]) == [
        {"name": "shop-blue-api-2", "networks": ["shop-blue", "other"]},
        {"name": "shop-blue-web-1", "networks": ["shop-blue"]}]

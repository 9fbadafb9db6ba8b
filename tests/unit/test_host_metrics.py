"""berth's textfile writer (roles/host_metrics/files/berth_metrics.py): what it derives from release
records, the deploy lock and `docker inspect`, and that it replaces its files atomically."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest
from ansible_collections.berth.ops.plugins.module_utils import _host, _records

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "host_metrics" / "files" / "berth_metrics.py"
spec = importlib.util.spec_from_file_location("berth_metrics", SCRIPT)
berth_metrics = importlib.util.module_from_spec(spec)
spec.loader.exec_module(berth_metrics)


def record(path: Path, rid: str, when: str, status: str, colour: str) -> None:
    (path / f"{rid}.json").write_text(json.dumps({"id": rid, "time": when, "status": status, "colour": colour}))


def container(name: str, project: str, running: bool = True, health: str | None = None,
              restarts: int = 0, oom: bool = False, ip: str = "") -> dict:
    state = {"Running": running, "OOMKilled": oom, **({"Health": {"Status": health}} if health else {})}
    return {"Name": f"/{name}", "RestartCount": restarts, "State": state,
            "Config": {"Labels": {"com.docker.compose.project": project, "com.docker.compose.service": "web"}},
            "NetworkSettings": {"Networks": {"berth-edge": {"IPAddress": ip}}}}


@pytest.fixture
def apps(tmp_path):
    releases = tmp_path / "sample" / "releases"
    releases.mkdir(parents=True)
    record(releases, "r1", "2026-12-01T10:00:00Z", "succeeded", "blue")
    record(releases, "r2", "2026-12-02T10:00:00Z", "succeeded", "green")
    record(releases, "r3", "2026-12-03T10:00:00Z", "failed", "blue")
    (releases / ".deploy.lock").write_text(json.dumps({"holder": "ci", "acquired_at": 1700000000.5}))
    (tmp_path / "other" / "releases").mkdir(parents=True)
    return tmp_path


def lines(text: str) -> set[str]:
    return {line for line in text.splitlines() if not line.startswith("#")}


def test_the_live_release_last_result_and_the_lock_come_from_the_records(apps):
    found = berth_metrics.collect(str(apps))
    samples = [s for app, (records, lock) in found.items() for s in berth_metrics.app_samples(app, records, lock)]
    text = lines(berth_metrics.render(samples, 10.0))
    assert 'berth_release_live_info{app="sample",colour="green",release="r2"} 1' in text
    assert 'berth_release_last_success{app="sample"} 0' in text
    assert 'berth_release_last_timestamp_seconds{app="sample"} 1796292000' in text
    assert 'berth_deploy_in_progress{app="sample"} 1' in text
    assert 'berth_deploy_lock_acquired_timestamp_seconds{app="sample"} 1700000000.5' in text
    assert 'berth_deploy_in_progress{app="other"} 0' in text
    assert not any('app="other"' in line and "live_info" in line for line in text)


def test_containers_are_labelled_live_only_on_the_live_colour():
    inspected = [container("sample-green-web-1", "sample-green", health="unhealthy", restarts=2),
                 container("sample-blue-web-1", "sample-blue", running=False, oom=True),
                 container("sample-accessories-db-1", "sample-accessories"),
                 container("traefik-traefik-1", "traefik", ip="172.20.0.2")]
    text = lines(berth_metrics.render(berth_metrics.container_samples(inspected, {"sample": "green"}), 0))
    green = 'app="sample",colour="green",live="true",name="sample-green-web-1",project="sample-green",service="web"'
    blue = 'app="sample",colour="blue",live="false",name="sample-blue-web-1",project="sample-blue",service="web"'
    assert {f"berth_container_up{{{green}}} 1", f"berth_container_unhealthy{{{green}}} 1",
            f"berth_container_restarts_total{{{green}}} 2", f"berth_container_up{{{blue}}} 0",
            f"berth_container_oom_killed{{{blue}}} 1"} <= text
    assert any('live="true",name="sample-accessories-db-1"' in line for line in text)
    assert berth_metrics.traefik_targets(inspected, "traefik", "berth-edge", 8083) == [
        {"targets": ["172.20.0.2:8083"], "labels": {"job": "traefik"}}]


def test_both_projects_of_a_colour_and_the_singletons_belong_to_their_app_and_a_retired_standby_is_not_live():
    inspected = [container("sample-green-web-1", "sample-green-2"),
                 container("sample-blue-web-1", "sample-blue-2", running=False),
                 container("sample-green-web-1-retired-r3", "sample-green", running=False),
                 container("sample-singletons-worker-1", "sample-singletons")]
    text = lines(berth_metrics.render(berth_metrics.container_samples(inspected, {"sample": "green"}), 0))
    assert {'berth_container_up{app="sample",colour="green",live="true",name="sample-green-web-1",'
            'project="sample-green-2",service="web"} 1',
            'berth_container_up{app="sample",colour="blue",live="false",name="sample-blue-web-1",'
            'project="sample-blue-2",service="web"} 0',
            'berth_container_up{app="sample",colour="green",live="false",name="sample-green-web-1-retired-r3",'
            'project="sample-green",service="web"} 0',
            'berth_container_up{app="sample",colour="",live="true",name="sample-singletons-worker-1",'
            'project="sample-singletons",service="web"} 1'} <= text


def test_the_writer_reads_the_project_names_and_retired_marker_the_release_layer_writes():
    # The writer runs alone on the host (no module_utils there): its copies must match the release layer's.
    assert berth_metrics.RETIRED == _host.RETIRED
    for colour in ("blue", "green"):
        for project in _records.projects("my-app", colour):
            match = berth_metrics.COLOUR_PROJECT.match(project)
            assert match and (match["app"], match["colour"]) == ("my-app", colour), project


def test_label_values_are_escaped():
    assert berth_metrics.sample("m", {"a": 'x"y\\z\n'}, 1)[1] == 'm{a="x\\"y\\\\z\\n"} 1'


def test_files_are_replaced_atomically_and_leave_no_temporary_file(tmp_path):
    target = tmp_path / "berth.prom"
    target.write_text("old\n")
    inode = os.stat(target).st_ino
    berth_metrics.write_atomically(str(target), "new\n")
    assert target.read_text() == "new\n" and os.stat(target).st_ino != inode
    assert oct(os.stat(target).st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["berth.prom"]

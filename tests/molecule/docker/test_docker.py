"""What a user checks after berth.ops.docker: a working engine with compose v2 and a sane daemon config."""

import json
import re


def test_compose_v2_is_at_least_2_18(host):
    version = host.check_output("docker compose version --short")
    assert tuple(int(p) for p in re.findall(r"\d+", version)[:2]) >= (2, 18), version


def test_the_daemon_rotates_logs_and_live_restores(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "json-file"
    assert info["LiveRestoreEnabled"] is True
    config = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert config["log-opts"] == {"max-size": "10m", "max-file": "3"}


def test_engine_is_enabled_and_a_container_with_a_restart_policy_survives_an_engine_restart(host):
    assert host.service("docker").is_enabled
    host.run("docker rm -f mol-sleeper")
    image = host.check_output("docker images --format '{{.Repository}}:{{.Tag}}' | head -n1")
    if not image or image == ":":
        host.check_output("docker pull -q registry.berth.test/berth/public-app:1.0.0")
        image = "registry.berth.test/berth/public-app:1.0.0"
    host.check_output(f"docker run -d --name mol-sleeper --restart unless-stopped {image}")
    host.check_output("systemctl restart docker")
    assert host.check_output("docker inspect -f '{{.State.Running}}' mol-sleeper") == "true"
    host.run("docker rm -f mol-sleeper")


def test_docker_users_are_in_the_docker_group(host):
    assert "docker" in host.user("builder").groups

"""What a user checks after berth.ops.registry_login: private images pull, and the token is root-only."""

import json


def test_credentials_file_is_root_only(host):
    config = host.file("/root/.docker/config.json")
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600)
    assert host.file("/root/.docker").mode == 0o700
    assert "registry.berth.test" in json.loads(config.content_string)["auths"]


def test_a_private_image_pulls(host):
    host.run("docker image rm -f registry.berth.test/berth/sample-app:1.0.0")
    pulled = host.run("docker pull -q registry.berth.test/berth/sample-app:1.0.0")
    assert pulled.rc == 0, pulled.stderr


def test_without_the_login_the_same_pull_is_refused(host):
    refused = host.run("DOCKER_CONFIG=/tmp/no-login docker pull -q registry.berth.test/berth/sample-app:1.1.0")
    assert refused.rc != 0 and ("denied" in refused.stderr or "unauthorized" in refused.stderr), refused.stderr

"""What a user checks after berth.ops.env_files: root-only files with the right values, stale ones gone."""

import json

import pytest


@pytest.mark.parametrize("service", ["api", "worker"])
def test_env_files_are_root_only(host, service):
    env = host.file(f"/opt/shop/env/{service}.env")
    assert (env.user, env.group, env.mode) == ("root", "root", 0o600)
    assert host.run(f"runuser -u nobody -- cat /opt/shop/env/{service}.env").rc != 0


def test_values_are_quoted_for_compose(host):
    lines = host.file("/opt/shop/env/api.env").content_string.splitlines()
    assert "DATABASE_URL='postgresql://shop:s3cr3t@db:5432/shop'" in lines
    assert 'QUOTED="it\'s \\"quoted\\" and costs $$5"' in lines


def test_files_of_services_no_longer_listed_are_removed(host):
    assert not host.file("/opt/shop/env/legacy.env").exists


def test_the_changed_services_were_reported(host):
    assert json.loads(host.file("/root/env_files_changed.json").content_string) == ["api", "worker"]

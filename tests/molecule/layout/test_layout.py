"""What a user checks after berth.ops.layout: the tree exists with the promised owners and modes."""

import pytest


def test_app_tree_exists(host):
    app = host.file("/opt/shop")
    assert app.is_directory
    assert app.user == "root" and app.mode == 0o755


@pytest.mark.parametrize(("name", "mode"), [("env", 0o700), ("compose", 0o750), ("releases", 0o750),
                                            ("backups", 0o750)])
def test_subdirectories_have_their_modes(host, name, mode):
    directory = host.file(f"/opt/shop/{name}")
    assert directory.is_directory
    assert (directory.user, directory.group, directory.mode) == ("root", "root", mode)


def test_env_is_closed_to_other_users(host):
    nobody = host.run("runuser -u nobody -- ls /opt/shop/env")
    assert nobody.rc != 0 and "Permission denied" in nobody.stderr


def test_reached_over_ssh_on_a_booted_droplet(host):
    # sshd sets SSH_CONNECTION in the session; a docker-exec connection would not have it.
    assert host.run("printenv SSH_CONNECTION").stdout.split()[-1] == "22"
    assert host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")

"""System 3 of issue 22, the web app with a forum (inventory/examples/web-forum, docs/examples/web-forum.md),
deployed from its own inventory on a provisioned droplet: the React front on `/`, the Flask API under `/api`
with the prefix stripped, the forum on forum.<domain> with its /admin behind basic auth from the vault, HTTP
redirected to HTTPS, security headers, the API non-root with its limits; the next release under HTTPS load
on the front and the API with no failed request; a rollback; a verified backup restored, kept 30 days."""

from __future__ import annotations

import hashlib
import json
import time
from base64 import b64encode

import pytest
from edge import MOVING_RATE
from example_checks import Example, PageLoad, assert_ok, fetch, inspect, vault, wait_for
from lab_droplets import DROPLET, on_droplet, sh
from release_checks import assert_load

HOST = "berth.test"
FORUM = "forum.berth.test"
# The forum admin of the example vault (its comment names the password; the test checks the hash matches).
ADMIN = ("admin", "forum-admin-lab")
SECURITY = {"x-frame-options": "DENY", "x-content-type-options": "nosniff",
            "referrer-policy": "strict-origin-when-cross-origin",
            "strict-transport-security": "max-age=31536000; includeSubDomains"}


VAULT = vault("web-forum")
VAULT_JWT = VAULT["vault_jwt_secret_key"]


@pytest.fixture(scope="module")
def example(provisioned) -> Example:
    return Example("web-forum", provisioned.address)


def assert_secured(headers: dict[str, str], what: str) -> None:
    assert {k: headers.get(k) for k in SECURITY} == SECURITY, f"{what}: {headers}"


def assert_serves(address: str, version: str) -> str:
    """Every public route of the system answers as it would, at `version`; returns the live colour."""
    front = wait_for(address, HOST, version)
    assert front.status == 200 and front.version == version and 'id="root"' in front.body, front
    assert_secured(front.headers, "the front end")
    # /api/items reaches Flask as /items: the prefix is stripped on the way.
    items = fetch(address, HOST, "/api/items", headers={"Origin": f"https://{HOST}"})
    assert items.status == 200 and items.json()["items"] == ["anvil", "rocket"], items
    assert items.version == version and items.colour == front.colour, (items.body, front.colour)
    assert_secured(items.headers, "the API")
    assert items.headers.get("access-control-allow-origin") == f"https://{HOST}", items.headers
    # Flask has no /api of its own: /api/api/items reaches it as /api/items, its 404 names that path.
    unstripped = fetch(address, HOST, "/api/api/items")
    assert unstripped.status == 404 and unstripped.json() == {"error": "not found", "path": "/api/items"}, unstripped
    assert fetch(address, HOST, "/api/health").json()["status"] == "ok"
    # Without /api the front end answers (a single-page app serves index.html on every path).
    assert 'id="root"' in fetch(address, HOST, "/items").body
    forum = fetch(address, FORUM)
    assert forum.status == 200 and 'id="forum"' in forum.body and forum.version == version, forum
    assert_secured(forum.headers, "the forum")
    # Its /admin: basic auth with the vault's users.
    anonymous = fetch(address, FORUM, "/admin")
    assert anonymous.status == 401 and 'realm="forum admin"' in anonymous.headers.get("www-authenticate", ""), anonymous
    assert fetch(address, FORUM, "/admin", user=(ADMIN[0], "wrong")).status == 401
    admin = fetch(address, FORUM, "/admin", user=ADMIN)
    assert admin.status == 200 and 'id="forum"' in admin.body, admin
    # Plain HTTP is sent to HTTPS, the path kept, on every host.
    for host, path in ((HOST, "/api/items"), (FORUM, "/admin")):
        plain = fetch(address, host, path, tls=False)
        assert plain.status in (301, 308) and plain.headers["location"] == f"https://{host}{path}", plain
    return front.colour


def assert_api_hardened(colour: str) -> None:
    container = f"acme-{colour}-api-1"
    api = inspect(container)
    host = api["HostConfig"]
    assert api["Config"]["User"] == "10001:10001", api["Config"]["User"]
    assert host["NanoCpus"] == 10 ** 9 and host["Memory"] == 256 * 1024 ** 2, (host["NanoCpus"], host["Memory"])
    assert host["ReadonlyRootfs"] is True and host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host[
        "SecurityOpt"], host
    assert host["Ulimits"] == [{"Name": "nofile", "Soft": 4096, "Hard": 8192}], host["Ulimits"]
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}, host["LogConfig"]
    # The process itself: not root, and the vault's key reached it through the env file.
    seen = on_droplet(f"docker exec {container} /usr/bin/python3 -c "
                      "'import os; print(os.getuid(), os.getgid(), os.environ[\"JWT_SECRET_KEY\"])'").stdout.split()
    assert seen == ["10001", "10001", VAULT_JWT], seen


def test_the_vaults_admin_is_the_one_the_test_logs_in_as():
    users = VAULT["vault_forum_admin_users"]
    digest = b64encode(hashlib.sha1(ADMIN[1].encode()).digest()).decode()  # htpasswd {SHA} lines
    assert users == f"{ADMIN[0]}:{{SHA}}{digest}"


def test_every_route_answers_as_the_system_would(example, provisioned):
    started = time.monotonic()
    result = example.playbook("deploy")
    print(f"\nweb-forum first deploy: {time.monotonic() - started:.1f} s")
    assert_ok(result, "deploy.yml of the web forum")
    assert VAULT_JWT not in result.stdout + result.stderr
    colour = assert_serves(provisioned.address, "1.0.0")
    assert_api_hardened(colour)


def test_the_next_release_under_load_then_a_rollback_drop_nothing(example, provisioned):
    with PageLoad(provisioned.address, rate=MOVING_RATE, host=HOST, paths=("/", "/api/items")) as load, \
            load.window_of():
        result = example.playbook("deploy", variables=example.release("1.1.0"))
    print(f"\nweb-forum 1.1.0 under load: {load.summary()}")
    assert_ok(result, "deploy.yml of 1.1.0")
    assert_load(load, ["1.0.0", "1.1.0"])
    colour = assert_serves(provisioned.address, "1.1.0")
    assert_api_hardened(colour)

    with PageLoad(provisioned.address, rate=MOVING_RATE, host=HOST, paths=("/", "/api/items")) as load, \
            load.window_of():
        result = example.playbook("rollback")
    print(f"\nweb-forum rollback under load: {load.summary()}")
    assert_ok(result, "rollback.yml")
    assert_load(load, ["1.1.0", "1.0.0"])
    assert assert_serves(provisioned.address, "1.0.0") != colour


def psql(sql: str) -> str:
    return sh("docker", "exec", "-i", f"berth-{DROPLET}", "docker", "exec", "-i", "-u", "postgres",
              "acme-accessories-db-1", "psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-U", "acme", "-d", "acme",
              input=sql).stdout


def test_a_verified_backup_restores_and_is_kept_thirty_days(example, provisioned):
    psql("DROP TABLE IF EXISTS posts; CREATE TABLE posts (id serial PRIMARY KEY, title text NOT NULL);"
         "INSERT INTO posts (title) SELECT 'post ' || i FROM generate_series(1, 500) i;")
    expected = psql("SELECT count(*), md5(string_agg(title, ',' ORDER BY id)) FROM posts;")
    result = example.playbook("backup")
    assert_ok(result, "backup.yml")
    assert "verified by sha256 + full-read + scratch-restore" in result.stdout, result.stdout[-3000:]
    config = json.loads(on_droplet("cat /etc/berth/pg_backup/acme.json").stdout)
    assert (config["keep_daily"], config["keep_weekly"], config["keep_monthly"]) == (30, 0, 0), config

    psql("DELETE FROM posts WHERE id > 10; UPDATE posts SET title = 'defaced';")
    assert psql("SELECT count(*), md5(string_agg(title, ',' ORDER BY id)) FROM posts;") != expected
    result = example.playbook("restore", "-e", "berth_restore_confirm=acme")
    assert_ok(result, "restore.yml")
    assert psql("SELECT count(*), md5(string_agg(title, ',' ORDER BY id)) FROM posts;") == expected
    assert_serves(provisioned.address, "1.0.0")

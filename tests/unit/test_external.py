"""berth_external: services reached by URL (managed PostgreSQL, Redis...). Bad values are refused on the
controller through the role's real release_spec task, each with its one exact line and never the URL's
password; a good one puts the URL in the services' secret env only; the pre-flight module reaches real
listeners on loopback (TCP, TLS, PostgreSQL's SSLRequest) and names what it could not reach."""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import pytest
from ansible.module_utils.testing import patch_module_args
from ansible.template import Templar
from ansible_collections.berth.ops.plugins.filter.external import external_env
from ansible_collections.berth.ops.plugins.module_utils import _external
from ansible_collections.berth.ops.plugins.modules import external_check
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from labtools import at
from test_spec_refusals import LOADER, MAIN_TASKS, deploy, fake_task, good, release_spec_action, role_vars, the_task

PASSWORD = "ext-pw-9c1e77"
URL = f"postgresql://inputs:{PASSWORD}@db.example.com:25060/inputs?sslmode=require"


class Registry:
    def __init__(self, *_args, **_kwargs) -> None:
        pass

    def resolve(self, image: str) -> dict:
        return {"pinned": image + "@sha256:" + "a" * 64}


def external(**entry) -> Callable[[dict], None]:
    return at("berth_external", {"db": {"url": URL, "env": {"web": "DATABASE_URL"}, **entry}})


CASES = [
    ("not a dict", at("berth_external", ["db"]),
     "berth_external: '(hidden)' must be a dict of name: {url, env, timeout, app_platform}"),
    ("name upper case", at("berth_external", {"DB": {"url": URL, "env": {"web": "DATABASE_URL"}}}),
     "berth_external: 'DB' is not a name (lower-case letter, then letters, digits or '-')"),
    ("entry a string", at("berth_external", {"db": URL}), "berth_external.db: '(hidden)' must be {url, env, timeout, "
                                                          "app_platform}"),
    ("setting misspelt", external(tiemout=3), "berth_external.db.tiemout: 3 is not a setting here "
                                              "(known: app_platform, env, timeout, url)"),
    ("url missing", at("berth_external", {"db": {"env": {"web": "DATABASE_URL"}}}),
     "berth_external.db.url: '(hidden)' must be a URL (scheme://[user:password@]host[:port][/...], no spaces)"),
    ("url with a space", external(url=f"postgresql://inputs:{PASSWORD}@db example.com/x"),
     "berth_external.db.url: 'postgresql://(hidden)@db example.com' must be a URL "
     "(scheme://[user:password@]host[:port][/...], no spaces)"),
    ("url without scheme", external(url=f"inputs:{PASSWORD}@db.example.com:5432"),
     "berth_external.db.url: '(hidden)' must be a URL (scheme://[user:password@]host[:port][/...], no spaces)"),
    ("url port 99999", external(url=f"redis://:{PASSWORD}@cache.example.com:99999/0"),
     "berth_external.db.url: 'redis://(hidden)@cache.example.com' has no valid port (1-65535)"),
    ("url host not a name", external(url=f"redis://:{PASSWORD}@cache_1.example.com:6379"),
     "berth_external.db.url: 'redis://(hidden)@cache_1.example.com:6379' has no host name or IP address"),
    ("url scheme without a default port", external(url=f"kafka://u:{PASSWORD}@broker.example.com"),
     "berth_external.db.url: 'kafka://(hidden)@broker.example.com' needs a port: kafka has no default (defaults: "
     "amqp, amqps, http, https, mongodb, mysql, nats, postgres, postgresql, redis, rediss, tls)"),
    ("timeout 0", external(timeout=0), "berth_external.db.timeout: 0 must be seconds between 0.5 and 60"),
    ("timeout a word", external(timeout="soon"),
     "berth_external.db.timeout: 'soon' must be seconds between 0.5 and 60"),
    ("env missing", at("berth_external", {"db": {"url": URL}}),
     "berth_external.db.env: None must be a dict of service: ENV_NAME (where the URL goes)"),
    ("env for an unknown service", external(env={"worker": "DATABASE_URL"}),
     "berth_external.db.env.worker: 'DATABASE_URL' names no service or accessory of this stack (web)"),
    ("env name not a name", external(env={"web": "DATABASE-URL"}),
     "berth_external.db.env.web: 'DATABASE-URL' is not an environment variable name (letters, digits, '_')"),
    ("env name already in the secret env", external(env={"web": "APP_ECHO"}),
     "berth_external.db.env.web: 'APP_ECHO' is already set in the env of web (the URL is its only value)"),
    ("env name already in the service's env", lambda v: (at("berth_services.web.env", {"DATABASE_URL": "x"})(v),
                                                          external()(v)),
     "berth_external.db.env.web: 'DATABASE_URL' is already set in the env of web (the URL is its only value)"),
    ("two URLs for one env name", at("berth_external", {"db": {"url": URL, "env": {"web": "DATABASE_URL"}},
                                                        "db2": {"url": URL, "env": {"web": "DATABASE_URL"}}}),
     "berth_external.db2.env.web: 'DATABASE_URL' is also where berth_external.db goes"),
    ("app_platform empty", external(app_platform=""),
     "berth_external.db.app_platform: '(hidden)' must be the value App Platform gets instead of the URL"),
]


@pytest.mark.parametrize(("change", "line"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_bad_external_service_is_refused_with_its_line_and_never_its_password(change, line):
    variables = good()
    change(variables)
    result = deploy(variables)
    assert result.get("failed") and result["errors"] == [line], result.get("msg")
    assert result["msg"] == f"1 bad input, nothing was changed: {line}"
    assert PASSWORD not in str(result)


def test_a_good_external_service_goes_to_the_secret_env_and_only_its_endpoint_to_the_spec():
    variables = good()
    external()(variables)
    variables["berth_external"]["cache"] = {"url": f"rediss://:{PASSWORD}@cache.example.com/0",
                                            "env": {"web": "REDIS_URL"}, "timeout": 2}
    values = role_vars(variables)
    templar = Templar(loader=LOADER, variables=values)
    args = templar.template(the_task(MAIN_TASKS, "berth.ops.release_spec")["berth.ops.release_spec"])
    action = release_spec_action.ActionModule(fake_task(args, "berth.ops.release_spec"), mock.MagicMock(),
                                              mock.MagicMock(), LOADER, templar)
    with mock.patch.object(release_spec_action, "Client", Registry):
        result = action.run(task_vars=values)
    assert not result.get("failed"), result.get("msg")
    assert result["spec"]["external"] == {
        "db": {"scheme": "postgresql", "host": "db.example.com", "port": 25060, "tls": "postgres",
               "env": {"web": "DATABASE_URL"}, "timeout": 5.0},
        "cache": {"scheme": "rediss", "host": "cache.example.com", "port": 6379, "tls": "tls",
                  "env": {"web": "REDIS_URL"}, "timeout": 2.0}}
    assert PASSWORD not in str(result["spec"])
    # The URLs are compared like every secret env value: as HMACs, never shown.
    assert set(result["env_digests"]["web"]) == {"APP_ECHO", "DATABASE_URL", "REDIS_URL"}
    assert PASSWORD not in str(result)


def test_the_env_filter_adds_each_url_under_its_names_and_leaves_malformed_entries_to_the_spec_check():
    env = {"web": {"APP_ECHO": "a"}}
    given = {"db": {"url": URL, "env": {"web": "DATABASE_URL", "worker": "DB"},
                    "app_platform": "${pg.DATABASE_URL}"},
             "bad": {"url": 5, "env": {"web": "X"}}, "worse": "redis://x"}
    assert external_env(env, given) == {"web": {"APP_ECHO": "a", "DATABASE_URL": URL}, "worker": {"DB": URL}}
    assert external_env(env, given, "app_platform")["web"]["DATABASE_URL"] == "${pg.DATABASE_URL}"
    assert env == {"web": {"APP_ECHO": "a"}}  # the input is not changed
    assert external_env(env, None) == env and external_env(None, given)["worker"] == {"DB": URL}


@pytest.mark.parametrize(("url", "shown"), [
    (URL, "postgresql://(hidden)@db.example.com:25060"),
    ("redis://cache.example.com", "redis://cache.example.com"),
    (f"https://u:{PASSWORD}@[2001:db8::1]:8443/x?token={PASSWORD}", "https://(hidden)@[2001:db8::1]:8443"),
    (None, "(hidden)"),
])
def test_a_url_is_shown_without_user_password_path_or_query(url, shown):
    assert _external.shown(url) == shown


# --- The pre-flight, against real listeners on loopback -------------------------------------------------
def serve(handler: Callable[[socket.socket], None]) -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def loop() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                try:
                    handler(conn)
                except (OSError, ssl.SSLError):
                    pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    listener.close()


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    where: Path = tmp_path_factory.mktemp("tls")
    (where / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (where / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(where / "c.pem", where / "k.pem")
    return context


@pytest.fixture
def plain() -> Iterator[int]:
    yield from serve(lambda conn: conn.recv(1))


@pytest.fixture
def tls(tls_context) -> Iterator[int]:
    def handler(conn: socket.socket) -> None:
        with tls_context.wrap_socket(conn, server_side=True) as secure:
            secure.recv(1)
    yield from serve(handler)


@pytest.fixture
def postgres_tls(tls_context) -> Iterator[int]:
    def handler(conn: socket.socket) -> None:
        assert conn.recv(8) == external_check.SSL_REQUEST
        conn.sendall(b"S")
        with tls_context.wrap_socket(conn, server_side=True) as secure:
            secure.recv(1)
    yield from serve(handler)


@pytest.fixture
def postgres_without_tls() -> Iterator[int]:
    def handler(conn: socket.socket) -> None:
        conn.recv(8)
        conn.sendall(b"N")
    yield from serve(handler)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_the_preflight_reaches_tcp_tls_and_postgres_tls(plain, tls, postgres_tls):
    for port, mode in ((plain, "none"), (tls, "tls"), (postgres_tls, "postgres")):
        external_check.reach("127.0.0.1", port, mode, 2)


def test_the_preflight_refuses_a_closed_port_plain_tcp_where_tls_is_asked_and_postgres_without_tls(
        plain, postgres_without_tls):
    with pytest.raises(OSError, match="Connection refused"):
        external_check.reach("127.0.0.1", closed_port(), "none", 2)
    with pytest.raises((OSError, ssl.SSLError)):
        external_check.reach("127.0.0.1", plain, "tls", 2)
    with pytest.raises(OSError, match=r"PostgreSQL answered b'N' to SSLRequest: it does not offer TLS"):
        external_check.reach("127.0.0.1", postgres_without_tls, "postgres", 2)


def test_the_module_names_each_service_it_could_not_reach_with_host_and_port(plain, monkeypatch):
    closed = closed_port()
    given = {"db": {"scheme": "postgresql", "host": "127.0.0.1", "port": closed, "tls": "none", "timeout": 2,
                    "env": {"web": "DATABASE_URL"}},
             "cache": {"scheme": "redis", "host": "127.0.0.1", "port": plain, "tls": "none", "timeout": 2}}
    out: dict = {}

    def finish(_module, **kwargs):
        out.update(kwargs)
        raise SystemExit

    monkeypatch.setattr(external_check.AnsibleModule, "fail_json", finish)
    monkeypatch.setattr(external_check.AnsibleModule, "exit_json", finish)
    with patch_module_args({"external": given}), pytest.raises(SystemExit):
        external_check.main()
    assert out["msg"] == (f"external service not reachable from this host, nothing was changed: db (postgresql at "
                          f"127.0.0.1:{closed}): [Errno 111] Connection refused")
    assert [c["name"] for c in out["checked"]] == ["cache"]

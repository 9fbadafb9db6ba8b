"""Client edge cases that a real registry will not produce on demand: fed through a fake transport."""

import hashlib
import json

import pytest
from ansible_collections.berth.ops.plugins.module_utils._oci import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    Client,
    RegistryError,
    Response,
    TransportError,
    parse_challenge,
    parse_retry_after,
)
from ansible_collections.berth.ops.plugins.module_utils._registries import Credential


@pytest.mark.parametrize(("header", "scheme", "params"), [
    ('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:org/app:pull"',
     "bearer", {"realm": "https://ghcr.io/token", "service": "ghcr.io", "scope": "repository:org/app:pull"}),
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:library/traefik:pull,push"',
     "bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                "scope": "repository:library/traefik:pull,push"}),
    ('Basic realm="Registry Realm"', "basic", {"realm": "Registry Realm"}),
    ("Bearer realm=https://r.example/token, service=r.example", "bearer",
     {"realm": "https://r.example/token", "service": "r.example"}),
    ('bearer Realm="x\\"y"', "bearer", {"realm": 'x"y'}),
])
def test_parse_challenge(header, scheme, params):
    assert parse_challenge(header) == (scheme, params)


@pytest.mark.parametrize(("header", "body", "expected"), [
    ("3", b"", 3.0), ("0.5", b"", 0.5), (None, b'{"errors":[{"message":"retry after 7 seconds"}]}', 7.0),
    (None, b"toomanyrequests: try again in 2s", 2.0), (None, b"", None), ("Wed, 21 Oct 2015", b"", None),
])
def test_retry_after(header, body, expected):
    assert parse_retry_after(header, body) == expected


MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                       "config": {"digest": "sha256:" + "c" * 64}, "layers": []}).encode()
DIGEST = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
CHALLENGE = {"www-authenticate": 'Bearer realm="https://auth.test/token",service="reg",scope="repository:a/b:pull"'}


class FakeRegistry:
    """Scripted answers per (method, path suffix); records every request."""

    def __init__(self, script):
        self.script = script
        self.sent = []

    def __call__(self, method, url, headers, timeout):
        self.sent.append((method, url, dict(headers)))
        for (m, suffix), answers in self.script.items():
            if m == method and url.split("?")[0].endswith(suffix):
                answer = answers.pop(0) if len(answers) > 1 else answers[0]
                if isinstance(answer, Exception):
                    raise answer
                return answer
        raise AssertionError(f"unscripted {method} {url}")


def ok_manifest(method="HEAD"):
    return Response(200, {"content-type": DOCKER_MANIFEST, "docker-content-digest": DIGEST},
                    b"" if method == "HEAD" else MANIFEST)


def make_client(fake, **kw):
    slept = []
    clock = {"t": 0.0}

    def sleep(seconds):
        slept.append(seconds)
        clock["t"] += seconds

    client = Client(fake, sleep=sleep, clock=lambda: clock["t"], **kw)
    return client, slept


def test_429_then_200_honours_retry_after():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(429, {"retry-after": "2"}), ok_manifest()]})
    client, slept = make_client(fake)
    assert client.resolve("reg.test/a/b:1")["digest"] == DIGEST
    assert slept == [2.0]
    assert client.stats.retries == 1


def test_backoff_is_capped_and_deadline_is_kept():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(503, {"retry-after": "100"})]})
    client, slept = make_client(fake, retries=10, deadline=20, backoff_cap=8)
    with pytest.raises(RegistryError) as err:
        client.resolve("reg.test/a/b:1")
    assert err.value.kind == "deadline"
    assert all(s <= 8 for s in slept) and sum(slept) <= 20


def test_rate_limited_past_retries_says_so():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(429, {})]})
    client, _ = make_client(fake, retries=2, deadline=100)
    with pytest.raises(RegistryError) as err:
        client.resolve("reg.test/a/b:1")
    assert err.value.kind == "rate_limited" and "429" in str(err.value)


def test_token_is_reused_per_repository_and_renewed_on_401():
    token = Response(200, {}, b'{"token": "t1"}')
    fake = FakeRegistry({
        ("HEAD", "/manifests/1"): [Response(401, CHALLENGE), ok_manifest(), Response(401, CHALLENGE), ok_manifest()],
        ("GET", "/token"): [token],
    })
    client, _ = make_client(fake)
    client.resolve("reg.test/a/b:1")
    client.resolve("reg.test/a/b:1")
    assert client.stats.token_requests == 2 and client.stats.reauths == 1
    assert fake.sent[2][2]["Authorization"] == "Bearer t1"


def test_basic_challenge_uses_credentials():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(401, {"www-authenticate": 'Basic realm="r"'}),
                                                    ok_manifest()]})
    client, _ = make_client(fake, credentials={"reg.test": Credential("u", "p", "x")})
    client.resolve("reg.test/a/b:1")
    assert fake.sent[-1][2]["Authorization"] == "Basic dTpw"


def test_digest_header_that_disagrees_with_bytes_is_refused():
    bad = Response(200, {"content-type": DOCKER_MANIFEST, "docker-content-digest": "sha256:" + "0" * 64}, MANIFEST)
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(200, {"content-type": "text/plain"})],
                         ("GET", "/manifests/1"): [bad]})
    client, _ = make_client(fake)
    with pytest.raises(RegistryError) as err:
        client.resolve("reg.test/a/b:1")
    assert err.value.kind == "digest_mismatch"


def test_missing_digest_header_falls_back_to_hashing_the_bytes():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(200, {"content-type": DOCKER_MANIFEST})],
                         ("GET", "/manifests/1"): [Response(200, {"content-type": DOCKER_MANIFEST}, MANIFEST)]})
    client, _ = make_client(fake)
    assert client.resolve("reg.test/a/b:1")["digest"] == DIGEST


def test_reference_with_digest_is_verified_not_trusted():
    other = "sha256:" + "1" * 64
    fake = FakeRegistry({("HEAD", f"/manifests/{other}"): [ok_manifest()],
                         ("GET", f"/manifests/{other}"): [ok_manifest("GET")]})
    client, _ = make_client(fake)
    with pytest.raises(RegistryError) as err:
        client.resolve(f"reg.test/a/b@{other}")
    assert err.value.kind == "digest_mismatch"


def test_index_skips_attestations():
    index = json.dumps({"mediaType": OCI_INDEX, "manifests": [
        {"platform": {"os": "linux", "architecture": "amd64"}},
        {"platform": {"os": "linux", "architecture": "arm", "variant": "v7"}},
        {"platform": {"os": "unknown", "architecture": "unknown"}}]}).encode()
    digest = "sha256:" + hashlib.sha256(index).hexdigest()
    fake = FakeRegistry({("HEAD", "/manifests/1"): [Response(200, {"content-type": OCI_INDEX,
                                                                   "docker-content-digest": digest})],
                         ("GET", "/manifests/1"): [Response(200, {"content-type": OCI_INDEX}, index)]})
    client, _ = make_client(fake)
    result = client.resolve("reg.test/a/b:1", platform="linux/arm/v7")
    assert result["platforms"] == ["linux/amd64", "linux/arm/v7"]
    assert result["platform_found"] is True and result["digest"] == digest


def test_tls_failure_is_not_retried():
    fake = FakeRegistry({("HEAD", "/manifests/1"): [TransportError("tls", "certificate verify failed")]})
    client, slept = make_client(fake)
    with pytest.raises(RegistryError) as err:
        client.resolve("reg.test/a/b:1")
    assert err.value.kind == "tls" and slept == []

"""berth.ops.image_digest against the lab's real registry (TLS + bearer-token auth)."""

from __future__ import annotations

import hashlib
import ssl
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from labtools import LAB_STATE, REGISTRY, ROOT, registry_token, run_module

sys.path.insert(0, str(ROOT / ".collections"))
from ansible_collections.berth.ops.plugins.module_utils._http import make_transport
from ansible_collections.berth.ops.plugins.module_utils._oci import ACCEPT, Client
from ansible_collections.berth.ops.plugins.module_utils._registries import Credential

PRIVATE = f"{REGISTRY}/berth/sample-app"
PUBLIC = f"{REGISTRY}/berth/public-app:1.0.0"


@pytest.fixture(scope="module")
def creds(lab_credentials, lab_ca):
    return {"username": lab_credentials["pull_user"], "password": lab_credentials["pull_password"],
            "ca_path": lab_ca}


def raw_manifest(image: str, creds: dict) -> bytes:
    """The manifest bytes, fetched independently of the module, to check the digest it reports."""
    repo, tag = image.removeprefix(f"{REGISTRY}/").split(":")
    token = registry_token(creds["ca_path"], repo, (creds["username"], creds["password"])).json()["token"]
    answer = requests.get(f"https://{REGISTRY}/v2/{repo}/manifests/{tag}", verify=creds["ca_path"], timeout=10,
                          headers={"Authorization": f"Bearer {token}", "Accept": ACCEPT})
    answer.raise_for_status()
    return answer.content


def test_public_repository_resolves_anonymously(lab_ca):
    failed, result = run_module("berth.ops.image_digest", {"images": [PUBLIC], "ca_path": lab_ca})
    assert not failed, result.get("msg")
    image = result["images"][0]
    assert image["pinned"] == f"{REGISTRY}/berth/public-app@{image['digest']}"
    assert result["changed"] is False


def test_private_single_platform_digest_matches_manifest_bytes(creds):
    failed, result = run_module("berth.ops.image_digest", {"images": [f"{PRIVATE}:1.0.0"], **creds})
    assert not failed, result.get("msg")
    image = result["images"][0]
    expected = "sha256:" + hashlib.sha256(raw_manifest(f"{PRIVATE}:1.0.0", creds)).hexdigest()
    assert image["digest"] == expected
    assert image["media_type"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert image["multi_platform"] is False and image["platforms"] == []


def test_oci_index_pins_index_digest_and_lists_platforms(creds):
    failed, result = run_module("berth.ops.image_digest",
                                {"images": [f"{PRIVATE}:multi"], "platform": "linux/arm64/v8", **creds})
    assert not failed, result.get("msg")
    image = result["images"][0]
    assert image["media_type"] == "application/vnd.oci.image.index.v1+json"
    assert image["digest"] == "sha256:" + hashlib.sha256(raw_manifest(f"{PRIVATE}:multi", creds)).hexdigest()
    assert image["platforms"] == ["linux/amd64", "linux/arm64/v8"]  # the attestation entry is not a platform
    assert image["platform_found"] is True


def test_docker_manifest_list(creds):
    failed, result = run_module("berth.ops.image_digest",
                                {"images": [f"{PRIVATE}:multi-docker"], "platform": "linux/s390x", **creds})
    assert not failed, result.get("msg")
    image = result["images"][0]
    assert image["media_type"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert image["platforms"] == ["linux/amd64", "linux/arm64/v8"]
    assert image["platform_found"] is False


def test_pinned_reference_is_verified(creds):
    _, first = run_module("berth.ops.image_digest", {"images": [f"{PRIVATE}:1.1.0"], **creds})
    pinned = first["images"][0]["pinned"]
    failed, again = run_module("berth.ops.image_digest", {"images": [pinned], **creds})
    assert not failed and again["images"][0]["digest"] == first["images"][0]["digest"]
    wrong = pinned.split("@")[0] + "@sha256:" + "0" * 64
    failed, result = run_module("berth.ops.image_digest", {"images": [wrong], **creds})
    assert failed and result["errors"][0]["kind"] == "not_found"


@pytest.mark.parametrize(("image", "kind", "says"), [
    (f"{PRIVATE}:9.9.9", "not_found", "tag '9.9.9' not found in registry.berth.test/berth/sample-app"),
    (f"{REGISTRY}/berth/no-such-repo:1.0", "repo_not_found", "repository registry.berth.test/berth/no-such-repo"),
])
def test_missing_tag_and_repository(creds, image, kind, says):
    failed, result = run_module("berth.ops.image_digest", {"images": [image], **creds})
    assert failed
    assert result["errors"] == [{"image": image, "kind": kind, "msg": result["errors"][0]["msg"]}]
    assert says in result["msg"]


def test_private_without_credentials_is_refused(lab_ca):
    failed, result = run_module("berth.ops.image_digest", {"images": [f"{PRIVATE}:1.0.0"], "ca_path": lab_ca})
    assert failed and result["errors"][0]["kind"] == "no_access"
    assert "no credentials were given" in result["msg"]


def test_wrong_credentials_name_the_account_and_hide_the_password(creds):
    bad = dict(creds, password="wrong-password-canary")
    failed, result = run_module("berth.ops.image_digest", {"images": [f"{PRIVATE}:1.0.0"], **bad})
    assert failed and result["errors"][0]["kind"] == "bad_credentials"
    assert "'berth-deploy'" in result["msg"]
    assert "wrong-password-canary" not in str(result)


def test_tls_failure_without_the_lab_ca(creds):
    no_ca = {k: v for k, v in creds.items() if k != "ca_path"}
    failed, result = run_module("berth.ops.image_digest", {"images": [f"{PRIVATE}:1.0.0"], **no_ca},
                                extra_env={"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"})
    assert failed and result["errors"][0]["kind"] == "tls"


def test_unreachable_registry():
    started = time.monotonic()
    failed, result = run_module("berth.ops.image_digest",
                                {"images": ["127.0.0.1:9/berth/app:1"], "retries": 2, "timeout": 2})
    assert failed and result["errors"][0]["kind"] == "unreachable"
    assert "127.0.0.1:9" in result["msg"]
    assert time.monotonic() - started < 30


def test_expired_token_mid_run_is_renewed(lab_credentials, lab_ca):
    """The short-lived account's tokens expire ~2 s after issue: the second lookup must re-auth."""
    short = Credential(lab_credentials["short_user"], lab_credentials["short_password"], "short")
    client = Client(make_transport(True, lab_ca), credentials={REGISTRY: short})
    first = client.resolve(f"{PRIVATE}:1.0.0")
    time.sleep(4)
    second = client.resolve(f"{PRIVATE}:1.1.0")
    assert first["digest"] != second["digest"]
    assert client.stats.reauths == 1 and client.stats.token_requests == 2


class Throttle:
    """A TLS front for the lab registry on 127.0.0.1 that answers 429 to the first N requests."""

    def __init__(self, refusals: int, retry_after: str) -> None:
        self.left = refusals
        self.retry_after = retry_after
        self.seen_429 = 0
        front = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def relay(self):
                if front.left > 0:
                    front.left -= 1
                    front.seen_429 += 1
                    self.send_response(429)
                    self.send_header("Retry-After", front.retry_after)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                ctx = ssl.create_default_context(cafile=str(LAB_STATE / "pki" / "ca.crt"))
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                request = urllib.request.Request(f"https://{REGISTRY}{self.path}", method=self.command,
                                                 headers=headers)
                try:
                    answer = urllib.request.urlopen(request, context=ctx, timeout=10)
                except urllib.error.HTTPError as exc:
                    answer = exc
                body = answer.read()
                self.send_response(answer.status if hasattr(answer, "status") else answer.code)
                for key, value in answer.headers.items():
                    if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_HEAD = relay  # noqa: N815 - http.server dispatches on these names

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(LAB_STATE / "pki" / "server.crt", LAB_STATE / "pki" / "server.key")
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def test_429_then_200_is_retried_honouring_retry_after(lab_ca):
    front = Throttle(refusals=2, retry_after="1")
    try:
        started = time.monotonic()
        failed, result = run_module("berth.ops.image_digest",
                                    {"images": [f"127.0.0.1:{front.port}/berth/public-app:1.0.0"],
                                     "ca_path": lab_ca})
        elapsed = time.monotonic() - started
    finally:
        front.close()
    assert not failed, result.get("msg")
    assert front.seen_429 == 2 and result["requests"]["retries"] == 2
    assert elapsed >= 2  # it waited the two Retry-After seconds


def test_429_past_the_deadline_fails_as_rate_limited(lab_ca):
    front = Throttle(refusals=100, retry_after="30")
    try:
        failed, result = run_module("berth.ops.image_digest",
                                    {"images": [f"127.0.0.1:{front.port}/berth/public-app:1.0.0"],
                                     "ca_path": lab_ca, "deadline": 5})
    finally:
        front.close()
    assert failed and result["errors"][0]["kind"] == "rate_limited"


def test_bad_input_is_refused_before_any_request():
    failed, result = run_module("berth.ops.image_digest", {"images": ["ghcr.io/Org/App:1"]})
    assert failed and "bad repository name" in result["msg"]
    assert result["requests"]["total"] == 0
    failed, result = run_module("berth.ops.image_digest", {"images": ["x/y:1"], "platform": "amd64"})
    assert failed and "platform" in result["msg"]

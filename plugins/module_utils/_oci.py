# Copyright: berth developers
# Apache License 2.0
"""OCI distribution client: image references, auth challenges, tag -> digest.

Private to berth.ops (leading underscore): the interface may change between releases.
It talks HTTP through a ``transport`` callable so the modules use ansible-core's ``open_url``
and unit tests can feed it edge cases; nothing here needs more than the standard library.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from ._http import Response, RetryPolicy, Stats, Transport, TransportError, parse_retry_after
from ._registries import DOCKER_HUB, DOCKER_HUB_ALIASES, Credential, for_image_registry

DOCKER_HUB_API = "registry-1.docker.io"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# All four, or distribution 2.8 silently serves one platform of a list / 404s an OCI index.
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPOSITORY = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")


class RegistryError(Exception):
    """A failure a user can act on. ``kind`` is a stable word for programs and tests."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Reference:
    registry: str  # as written by the user, docker.io for Docker Hub
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def api_host(self) -> str:
        return DOCKER_HUB_API if self.registry == DOCKER_HUB else self.registry

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What the manifest endpoint is asked for: the digest when given, else the tag."""
        return self.digest or self.tag or "latest"

    def pinned(self, digest: str) -> str:
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse an image reference the way the Docker CLI normalises it."""
    original = text
    if not isinstance(text, str) or not text.strip() or text != text.strip():
        raise RegistryError("invalid_reference", f"image reference {original!r} is empty or has spaces")
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST.match(digest):
            raise RegistryError("invalid_reference",
                                f"image reference {original!r}: {digest!r} is not a sha256 digest")
    tag = None
    last = text.rsplit("/", 1)[-1]
    if ":" in last:
        text, tag = text.rsplit(":", 1)
        if not _TAG.match(tag):
            raise RegistryError("invalid_reference", f"image reference {original!r}: bad tag {tag!r}")
    first, _, rest = text.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
        if not _HOST.match(registry):
            raise RegistryError("invalid_reference",
                                f"image reference {original!r}: bad registry host {registry!r}")
    else:
        registry, repository = DOCKER_HUB, text
    if registry in DOCKER_HUB_ALIASES:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not _REPOSITORY.match(repository):
        raise RegistryError("invalid_reference",
                            f"image reference {original!r}: bad repository name {repository!r} "
                            "(lower-case letters, digits, separators . _ __ -)")
    if tag is None and digest is None:
        tag = "latest"
    return Reference(registry, repository, tag, digest)


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Parse one ``WWW-Authenticate`` challenge: ``Bearer realm="…",service="…",scope="…"``."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    for match in re.finditer(r'([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))', rest):
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
    return scheme.lower(), params


class Client:
    """Resolves tags to digests. ``credentials`` maps a registry (``_registries.merge()``'s keys) to its
    Credential; a registry with none is asked anonymously. Credentials are chosen by the registry the
    image names and sent only to the token realm (or Basic challenge) of that registry's own 401, and
    tokens are kept per registry host and repository: no registry ever receives another's.
    ``missing`` names the variable to give credentials in, for the message of a registry that wants some."""

    def __init__(self, transport: Transport, *, credentials: Mapping[str, Credential | None] | None = None,
                 missing: str = "berth_registries", timeout: float = 10, retries: int = 4,
                 deadline: float = 60, backoff_cap: float = 8,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.credentials = dict(credentials or {})
        self.missing = missing
        self.timeout = timeout
        self.policy = RetryPolicy(retries, deadline, backoff_cap, sleep, clock)
        self.tokens: dict[tuple[str, str], str] = {}  # (host, scope) -> Authorization value
        self.stats = Stats()

    # -- HTTP with retries ---------------------------------------------------------------------

    def _send(self, method: str, url: str, headers: dict, image: str) -> Response:
        """One exchange, retried on 429, 5xx and no answer (never on a TLS failure) within the policy."""
        policy, attempt = self.policy, 0
        while True:
            remaining = policy.left()
            if remaining <= 0:
                raise RegistryError("deadline", f"{image}: no answer within the {policy.deadline:g} s deadline")
            self.stats.count(method, image)
            try:
                response = self.transport(method, url, headers, min(self.timeout, remaining))
            except TransportError as exc:
                if exc.kind == "tls":
                    raise RegistryError("tls", f"{image}: TLS failure talking to {_host(url)}: {exc}") from exc
                if attempt >= policy.retries:
                    raise RegistryError("unreachable", f"{image}: registry {_host(url)} unreachable: {exc}") from exc
                response = None
            if response is not None and response.status != 429 and response.status < 500:
                return response
            limited = response is not None and response.status == 429
            if attempt >= policy.retries:
                if limited:
                    raise RegistryError("rate_limited",
                                        f"{image}: rate-limited by {_host(url)} (429) after {attempt + 1} tries")
                status = response.status if response is not None else "no answer"
                raise RegistryError("server_error",
                                    f"{image}: {_host(url)} answered {status} after {attempt + 1} tries")
            hint = parse_retry_after(response.headers.get("retry-after"), response.body) if response else None
            wait = policy.backoff(attempt, hint)
            if not policy.fits(wait):
                raise RegistryError("rate_limited" if limited else "deadline",
                                    f"{image}: {_host(url)} asked to wait {wait:g} s, past the "
                                    f"{policy.deadline:g} s deadline")
            self.stats.retries += 1
            attempt += 1
            policy.sleep(wait)

    # -- auth ----------------------------------------------------------------------------------

    def credential(self, ref: Reference) -> Credential | None:
        return for_image_registry(self.credentials, ref.registry)

    @staticmethod
    def _basic(cred: Credential) -> str:
        raw = f"{cred.username}:{cred.password}".encode()
        return "Basic " + base64.b64encode(raw).decode()

    def _authorize(self, ref: Reference, challenge: str, image: str) -> str:
        cred = self.credential(ref)
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if cred is None:
                raise RegistryError("auth_required",
                                    f"{image}: {ref.registry} needs credentials (Basic auth) and none were given "
                                    f"for it (set {self.missing}[{ref.registry!r}])")
            return self._basic(cred)
        if scheme != "bearer" or "realm" not in params:
            raise RegistryError("auth_unsupported", f"{image}: unsupported auth challenge {challenge!r}")
        query = {"service": params.get("service", "")}
        query["scope"] = params.get("scope") or f"repository:{ref.repository}:pull"
        url = params["realm"] + ("&" if "?" in params["realm"] else "?") + urlencode(query)
        headers = {"Authorization": self._basic(cred)} if cred else {}
        self.stats.token_requests += 1
        answer = self._send("GET", url, headers, image)
        if answer.status in (401, 403):
            if cred is None:
                raise RegistryError("bad_credentials", f"{image}: the token server of {ref.registry} refused "
                                                       f"anonymous access ({answer.status})")
            raise RegistryError("bad_credentials",
                                f"{image}: the token server of {ref.registry} refused user {cred.username!r} "
                                f"({answer.status}): check {cred.variable}")
        if answer.status != 200:
            raise RegistryError("auth_failed", f"{image}: token request to {_host(url)} answered {answer.status}")
        try:
            data = json.loads(answer.body)
            token = data.get("token") or data["access_token"]
        except (ValueError, KeyError, AttributeError) as exc:
            raise RegistryError("auth_failed", f"{image}: token server answer has no token") from exc
        return f"Bearer {token}"

    def request(self, method: str, ref: Reference, path: str, image: str,
                accept: str = ACCEPT) -> Response:
        url = f"https://{ref.api_host}/v2/{ref.repository}/{path}"
        key = (ref.api_host, ref.repository)
        headers = {"Accept": accept}
        if key in self.tokens:
            headers["Authorization"] = self.tokens[key]
        response = self._send(method, url, headers, image)
        if response.status == 401:
            if key in self.tokens:
                self.stats.reauths += 1  # expired token (GHCR sends no expires_in): get a new one
            challenge = response.headers.get("www-authenticate")
            if not challenge:
                raise RegistryError("auth_failed", f"{image}: 401 without a WWW-Authenticate challenge")
            self.tokens[key] = self._authorize(ref, challenge, image)
            headers["Authorization"] = self.tokens[key]
            response = self._send(method, url, headers, image)
            if response.status == 401:
                raise self._denied(ref, image)
        return response

    def _denied(self, ref: Reference, image: str) -> RegistryError:
        cred = self.credential(ref)
        if cred:
            return RegistryError("no_access", f"{image}: repository {ref.name} not found or "
                                              f"{cred.username!r} has no pull access to it")
        return RegistryError("no_access", f"{image}: repository {ref.name} not found, or it is private and "
                                          f"no credentials were given for {ref.registry} "
                                          f"(set {self.missing}[{ref.registry!r}])")

    # -- resolution ----------------------------------------------------------------------------

    def resolve(self, text: str, platform: str | None = None) -> dict:
        ref = parse_reference(text)
        path = f"manifests/{ref.reference}"
        head = self.request("HEAD", ref, path, text)
        if head.status in (401, 403):
            self._check_found(head, ref, text)
        # A 404 to HEAD has no body to say whether the tag or the repository is missing: GET does.
        media_type = _media_type(head.headers.get("content-type", "")) if head.status == 200 else ""
        digest = head.headers.get("docker-content-digest") if head.status == 200 else None
        body = None
        needs_body = media_type in INDEX_TYPES or platform is not None or not digest or ref.digest is not None
        if needs_body or media_type not in (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST):
            # A registry that sends no digest, an unknown type, or a refused HEAD: GET and hash.
            got = self.request("GET", ref, path, text)
            self._check_found(got, ref, text)
            body = got.body
            media_type = _media_type(got.headers.get("content-type", "")) or media_type
            computed = "sha256:" + hashlib.sha256(body).hexdigest()
            served = got.headers.get("docker-content-digest") or digest
            if served and served != computed:
                raise RegistryError("digest_mismatch", f"{text}: registry says {served} but the "
                                                       f"manifest bytes hash to {computed}")
            digest = computed
        if ref.digest and digest != ref.digest:
            raise RegistryError("digest_mismatch", f"{text}: the manifest hashes to {digest}, "
                                                   f"not the digest in the reference")
        platforms = _platforms(body, media_type) if body is not None else []
        if body is not None and media_type not in INDEX_TYPES:
            media_type = media_type or _media_type(json.loads(body).get("mediaType", ""))
        result = {"image": text, "digest": digest, "pinned": ref.pinned(digest), "media_type": media_type,
                  "platforms": platforms, "registry": ref.registry, "repository": ref.repository,
                  "tag": ref.tag, "multi_platform": media_type in INDEX_TYPES}
        if platform is not None:
            result["platform_found"] = (platform in platforms if result["multi_platform"]
                                        else self._single_platform(ref, body, text) == platform)
        return result

    def _single_platform(self, ref: Reference, body: bytes | None, image: str) -> str | None:
        """The os/arch(/variant) of a single-platform image, read from its config blob."""
        try:
            config_digest = json.loads(body or b"{}")["config"]["digest"]
        except (ValueError, KeyError, TypeError):
            return None
        blob = self.request("GET", ref, f"blobs/{config_digest}", image, accept="*/*")
        if blob.status != 200:
            return None
        config = json.loads(blob.body)
        return _platform_string(config)

    def _repository_missing(self, ref: Reference, image: str) -> bool:
        """Distribution answers MANIFEST_UNKNOWN for a missing repository too; its tag list tells."""
        answer = self.request("GET", ref, "tags/list?n=1", image, accept="application/json")
        return answer.status == 404 and _error_code(answer.body) == "NAME_UNKNOWN"

    def _check_found(self, response: Response, ref: Reference, image: str) -> None:
        if response.status == 200:
            return
        code = _error_code(response.body)
        if response.status == 404 and code == "NAME_UNKNOWN":
            raise RegistryError("repo_not_found", f"{image}: repository {ref.name} not found")
        if response.status == 404 and self._repository_missing(ref, image):
            raise RegistryError("repo_not_found", f"{image}: repository {ref.name} not found")
        if response.status == 404:
            what = f"digest {ref.digest}" if ref.digest else f"tag {ref.tag!r}"
            raise RegistryError("not_found", f"{image}: {what} not found in {ref.name}")
        if response.status == 403 or code in ("DENIED", "UNAUTHORIZED"):
            raise self._denied(ref, image)
        raise RegistryError("unexpected", f"{image}: {ref.api_host} answered {response.status}")


def _platform_string(entry: dict) -> str:
    text = f"{entry.get('os', '')}/{entry.get('architecture', '')}"
    if entry.get("variant"):
        text += f"/{entry['variant']}"
    return text


def _platforms(body: bytes, media_type: str) -> list[str]:
    if media_type not in INDEX_TYPES:
        return []
    found = []
    for entry in json.loads(body).get("manifests", []):
        platform = entry.get("platform") or {}
        # BuildKit attestations are index entries for platform unknown/unknown: not a platform.
        if platform.get("os") == "unknown" or platform.get("architecture") == "unknown":
            continue
        if platform:
            found.append(_platform_string(platform))
    return found


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip()


def _error_code(body: bytes) -> str | None:
    try:
        errors = json.loads(body or b"{}").get("errors") or []
        return errors[0].get("code") if errors else None
    except (ValueError, AttributeError):
        return None


def _host(url: str) -> str:
    return url.split("/")[2] if "//" in url else url


# Copyright: berth developers
# Apache License 2.0
"""berth's one HTTP layer: the answer, the transport failure, the counters, Retry-After, the retry
arithmetic and one transport on ansible-core's open_url. The registry client (_oci), the DigitalOcean
client (_do_api), the health gate (_gate) and the switch's Traefik API reads all use it.

Private to berth.ops. A transport returns every HTTP answer (4xx and 5xx too) as a Response and
raises TransportError only when no answer came back, with a ``kind``: ``tls``, ``timeout``,
``refused``, ``unreachable``. Clients take the transport as a callable, so unit tests feed them edge
cases without a server.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def json(self) -> Any:
        return json.loads(self.body) if self.body else {}


class TransportError(Exception):
    """No HTTP answer came back; ``kind`` says why (tls, timeout, refused, unreachable)."""

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind


# transport(method, url, headers, timeout, body=None) -> Response
Transport = Callable[..., Response]


@dataclass
class Stats:
    """What a client sent. Each client counts what it knows: every request and retry; writes and the
    methods (DigitalOcean); token requests, re-authentications and requests per image (registries)."""

    requests: int = 0
    retries: int = 0
    writes: int = 0
    by_method: dict = field(default_factory=dict)
    token_requests: int = 0
    reauths: int = 0
    per_image: dict = field(default_factory=dict)

    def count(self, method: str, image: str | None = None) -> None:
        """One request sent (anything but a GET or HEAD writes)."""
        self.requests += 1
        self.by_method[method] = self.by_method.get(method, 0) + 1
        if method not in ("GET", "HEAD"):
            self.writes += 1
        if image is not None:
            self.per_image[image] = self.per_image.get(image, 0) + 1


def parse_retry_after(value: str | None, body: bytes = b"") -> float | None:
    """Seconds to wait from a Retry-After header in seconds, or a hint in a GHCR-style error body."""
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
    match = re.search(rb"(?:retry[ _-]?after|try again in)\D{0,10}(\d+(?:\.\d+)?)", body or b"", re.I)
    return float(match.group(1)) if match else None


@dataclass
class RetryPolicy:
    """Bounded retries: at most ``retries`` more tries per request, backoff 0.5, 1, 2, ... s (or the
    server's hint) capped at ``backoff_cap``, and never past ``deadline`` seconds from the start."""

    retries: int
    deadline: float
    backoff_cap: float
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=-1.0)

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.clock()

    def left(self) -> float:
        return self.deadline - (self.clock() - self.started)

    def backoff(self, attempt: int, hint: float | None = None) -> float:
        return min(self.backoff_cap, hint if hint is not None else 0.5 * 2 ** attempt)

    def fits(self, wait: float) -> bool:
        """Whether a wait of ``wait`` seconds still ends inside the deadline."""
        return self.clock() - self.started + wait <= self.deadline


def _kind(exc: BaseException) -> str:
    reason = getattr(exc, "reason", exc)
    if type(exc).__name__ == "SSLValidationError" or isinstance(reason, ssl.SSLError):
        return "tls"
    if isinstance(reason, (socket.timeout, TimeoutError)) or "timed out" in str(reason):
        return "timeout"
    if isinstance(reason, ConnectionRefusedError) or "refused" in str(reason).lower():
        return "refused"
    return "unreachable"


def make_transport(validate_certs: bool = True, ca_path: str | None = None,
                   follow_redirects: bool = True) -> Transport:
    """A transport on ansible-core's open_url (imported here, so the pure parts need no Ansible)."""
    from urllib.error import HTTPError, URLError  # noqa: PLC0415

    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError  # noqa: PLC0415
    from ansible.module_utils.urls import SSLValidationError, open_url  # noqa: PLC0415

    redirects = {"GET": "urllib2"}  # blob GETs redirect to storage; HEAD and others only to safe methods

    def transport(method: str, url: str, headers: dict, timeout: float, body: bytes | None = None) -> Response:
        try:
            answer = open_url(url, method=method, headers=headers, data=body, timeout=timeout,
                              validate_certs=validate_certs, ca_path=ca_path,
                              follow_redirects=redirects.get(method, "safe") if follow_redirects else "none")
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()},
                            b"" if method == "HEAD" else answer.read())
        except HTTPError as exc:
            return Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()},
                            exc.read() if method != "HEAD" else b"")
        except (URLError, SSLValidationError, UrlsConnectionError, OSError, ssl.SSLError) as exc:
            raise TransportError(_kind(exc), str(getattr(exc, "reason", exc))) from exc

    return transport

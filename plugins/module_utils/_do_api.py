# Copyright: berth developers
# Apache License 2.0
"""DigitalOcean API v2 client shared by the berth.ops.do_* modules.

Private to berth.ops. It speaks HTTP through a ``transport`` callable (ansible-core's
``open_url`` in modules, a fake in unit tests) and takes ``clock``/``sleep`` so retries and
polling are testable without waiting.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

DEFAULT_BASE_URL = "https://api.digitalocean.com"
# The names people already export for doctl, Terraform and community.digitalocean, in that order.
TOKEN_ENV = ("DIGITALOCEAN_TOKEN", "DO_API_TOKEN", "DO_API_KEY", "OAUTH_TOKEN")


class DOError(Exception):
    """A failure a user can act on. ``kind`` is a stable word for tests; ``status`` the HTTP status."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes = b""

    def json(self) -> dict:
        return json.loads(self.body) if self.body else {}


class TransportError(Exception):
    """Raised by a transport when no HTTP answer came back."""


Transport = Callable[[str, str, dict, "bytes | None", float], Response]


@dataclass
class Stats:
    requests: int = 0
    writes: int = 0
    retries: int = 0
    by_method: dict = field(default_factory=dict)


def token_from_env(environ: dict | None = None) -> tuple[str | None, str | None]:
    """The first token found in the usual variables, and the variable's name."""
    environ = os.environ if environ is None else environ
    for name in TOKEN_ENV:
        if environ.get(name):
            return environ[name], name
    return None, None


def parse_retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _api_message(response: Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.body[:200].decode("utf-8", "replace").strip() or "no message"
    if isinstance(body, dict) and body.get("message"):
        ident = f"{body['id']}: " if body.get("id") else ""
        return f"{ident}{body['message']}"
    return "no message"


class Client:
    """One DigitalOcean API session: bearer auth, JSON, pagination, action polling, retries.

    Retry policy (the only errors that are retried):
      - HTTP 429: waits ``Retry-After`` seconds when the header is present (else the rate-limit
        reset time, else exponential backoff), capped at ``backoff_cap``;
      - HTTP 500, 502, 503, 504: exponential backoff 0.5, 1, 2, ... s (or ``Retry-After``), capped;
      - no answer at all (connection refused/reset, timeout): same backoff as 5xx.
    A POST (it creates) is retried only after 429, which the API answers before doing anything:
    after a 5xx or no answer the resource may exist, so the module fails and the next run finds it
    by name instead of creating a second one.
    Each request is tried at most ``retries + 1`` times, and never past ``deadline`` seconds
    counted from the client's creation: a wait that would end past it fails at once.
    Everything else (400, 401, 403, 404, 409, 422, other 5xx) fails at once with the
    resource's name and the API's ``id: message``; 401 also names where the token came from.
    """

    RETRY_STATUSES = (429, 500, 502, 503, 504)

    def __init__(self, transport: Transport, token: str, *,
                 token_source: str = "the api_token option",  # noqa: S107 - where it came from, not a secret
                 base_url: str = DEFAULT_BASE_URL, timeout: float = 30, retries: int = 5,
                 deadline: float = 600, backoff_cap: float = 30, poll_interval: float = 2,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.transport = transport
        self.token = token
        self.token_source = token_source
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline
        self.backoff_cap = backoff_cap
        self.poll_interval = poll_interval
        self.sleep = sleep
        self.clock = clock
        self.stats = Stats()
        self._started = clock()

    # -- one request ---------------------------------------------------------------------------

    def _url(self, path: str, query: dict | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        return url

    def _left(self) -> float:
        return self.deadline - (self.clock() - self._started)

    def request(self, method: str, path: str, body: dict | None = None, *, what: str,
                query: dict | None = None, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Response:
        """Send one request (with retries); ``what`` names the resource in every error."""
        url = self._url(path, query)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        attempt = 0
        while True:
            left = self._left()
            if left <= 0:
                raise DOError("deadline", f"{what}: no answer within the {self.deadline:g} s deadline")
            self.stats.requests += 1
            self.stats.by_method[method] = self.stats.by_method.get(method, 0) + 1
            if method != "GET":
                self.stats.writes += 1
            try:
                response = self.transport(method, url, headers, data, min(self.timeout, left))
            except TransportError as exc:
                response, failure = None, f"no answer from {urlsplit(url).netloc} ({exc})"
            else:
                if response.status in ok:
                    return response
                if response.status not in self.RETRY_STATUSES:
                    raise self._failure(response, method, what)
                failure = f"{response.status} {_api_message(response)}"
            if method == "POST" and (response is None or response.status != 429):
                raise DOError("server_error", f"{what}: POST failed ({failure}); not retried since it may have "
                                              "created the resource: run again to converge",
                              response.status if response is not None else None)
            if attempt >= self.retries:
                raise DOError("rate_limited" if response is not None and response.status == 429 else "server_error",
                              f"{what}: {method} failed after {attempt + 1} tries: {failure}",
                              response.status if response is not None else None)
            wait = self._wait(response, attempt)
            if self.clock() - self._started + wait > self.deadline:
                raise DOError("deadline", f"{what}: {failure}; a retry in {wait:g} s would pass the "
                                          f"{self.deadline:g} s deadline",
                              response.status if response is not None else None)
            self.stats.retries += 1
            attempt += 1
            self.sleep(wait)

    def _wait(self, response: Response | None, attempt: int) -> float:
        hint = None
        if response is not None:
            hint = parse_retry_after(response.headers.get("retry-after"))
            if hint is None and response.status == 429:
                reset = parse_retry_after(response.headers.get("ratelimit-reset"))
                hint = max(0.0, reset - time.time()) if reset and reset > 1e9 else None
        return min(self.backoff_cap, hint if hint is not None else 0.5 * 2 ** attempt)

    def _failure(self, response: Response, method: str, what: str) -> DOError:
        message = _api_message(response)
        if response.status == 401:
            return DOError("unauthorized", f"{what}: the API refused the token from {self.token_source} "
                                           f"(401 {message}); set a valid token in {self.token_source}", 401)
        if response.status == 403:
            return DOError("forbidden", f"{what}: the token from {self.token_source} may not {method} "
                                        f"this (403 {message})", 403)
        if response.status == 404:
            return DOError("not_found", f"{what}: not found (404 {message})", 404)
        return DOError("api_error", f"{what}: {method} refused with {response.status}: {message}", response.status)

    # -- conveniences --------------------------------------------------------------------------

    def get(self, path: str, *, what: str, query: dict | None = None) -> dict:
        return self.request("GET", path, what=what, query=query).json()

    def get_or_none(self, path: str, *, what: str) -> dict | None:
        try:
            return self.get(path, what=what)
        except DOError as exc:
            if exc.kind == "not_found":
                return None
            raise

    def send(self, method: str, path: str, body: dict | None = None, *, what: str) -> dict:
        return self.request(method, path, body, what=what).json()

    def list(self, path: str, key: str, *, what: str, query: dict | None = None,
             per_page: int = 200) -> list[dict]:
        """Every item of a paged list, following ``links.pages.next`` (absolute URLs)."""
        items: list[dict] = []
        url: str | None = path
        params = {**(query or {}), "per_page": per_page}
        seen: set[str] = set()
        while url:
            page = self.get(url, what=what, query=params)
            items.extend(page.get(key) or [])
            url = ((page.get("links") or {}).get("pages") or {}).get("next")
            params = None  # the next link carries the query
            if url in seen:
                raise DOError("api_error", f"{what}: the API's next page link repeats ({url})")
            if url:
                seen.add(url)
        return items

    def wait_action(self, action_id: int, *, what: str, timeout: float = 600) -> dict:
        """Poll ``/v2/actions/{id}`` until completed; fail when it errored or took too long."""
        until = self.clock() + timeout
        while True:
            action = self.get(f"/v2/actions/{action_id}", what=what)["action"]
            if action["status"] == "completed":
                return action
            if action["status"] == "errored":
                raise DOError("action_failed", f"{what}: action {action_id} ({action.get('type')}) errored")
            if self.clock() >= until or self._left() <= 0:
                raise DOError("timeout", f"{what}: action {action_id} still {action['status']} after {timeout:g} s")
            self.sleep(self.poll_interval)

    def wait_status(self, path: str, key: str, ready: tuple[str, ...], *, what: str,
                    timeout: float = 900, failed: tuple[str, ...] = ("errored",)) -> dict:
        """Poll one resource until its ``status`` is in ``ready``."""
        until = self.clock() + timeout
        while True:
            item = self.get(path, what=what)[key]
            if item.get("status") in ready:
                return item
            if item.get("status") in failed:
                raise DOError("action_failed", f"{what}: status is {item['status']}")
            if self.clock() >= until or self._left() <= 0:
                raise DOError("timeout", f"{what}: still {item.get('status')} after {timeout:g} s")
            self.sleep(self.poll_interval)


def make_transport(validate_certs: bool = True, ca_path: str | None = None) -> Transport:
    """A transport on ansible-core's ``open_url`` (imported here so unit tests need no Ansible)."""
    import ssl  # noqa: PLC0415
    from urllib.error import HTTPError, URLError  # noqa: PLC0415

    from ansible.module_utils.urls import ConnectionError as UrlsConnectionError  # noqa: PLC0415
    from ansible.module_utils.urls import SSLValidationError, open_url  # noqa: PLC0415

    def transport(method: str, url: str, headers: dict, body: bytes | None, timeout: float) -> Response:
        try:
            answer = open_url(url, method=method, headers=headers, data=body, timeout=timeout,
                              validate_certs=validate_certs, ca_path=ca_path, follow_redirects="safe")
            return Response(answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read())
        except HTTPError as exc:
            return Response(exc.code, {k.lower(): v for k, v in (exc.headers or {}).items()}, exc.read())
        except (SSLValidationError, ssl.SSLError) as exc:
            raise DOError("tls", f"TLS failure talking to {urlsplit(url).netloc}: {exc}") from exc
        except (TimeoutError, URLError, UrlsConnectionError, OSError) as exc:
            raise TransportError(str(getattr(exc, "reason", exc))) from exc

    return transport

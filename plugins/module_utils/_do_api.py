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
from urllib.parse import urlencode, urlsplit

from ._http import Response, RetryPolicy, Stats, Transport, TransportError, make_transport, parse_retry_after

__all__ = ["Client", "DOError", "Response", "TransportError", "make_transport", "token_from_env"]

DEFAULT_BASE_URL = "https://api.digitalocean.com"
# The names people already export for doctl, Terraform and community.digitalocean, in that order.
TOKEN_ENV = ("DIGITALOCEAN_TOKEN", "DO_API_TOKEN", "DO_API_KEY", "OAUTH_TOKEN")


class DOError(Exception):
    """A failure a user can act on. ``kind`` is a stable word for tests; ``status`` the HTTP status."""

    def __init__(self, kind: str, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


def token_from_env(environ: dict | None = None) -> tuple[str | None, str | None]:
    """The first token found in the usual variables, and the variable's name."""
    environ = os.environ if environ is None else environ
    for name in TOKEN_ENV:
        if environ.get(name):
            return environ[name], name
    return None, None


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
        self.poll_interval = poll_interval
        self.policy = RetryPolicy(retries, deadline, backoff_cap, sleep, clock)
        self.sleep, self.clock = sleep, clock
        self.stats = Stats()

    # -- one request ---------------------------------------------------------------------------

    def _url(self, path: str, query: dict | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        if query:
            url += ("&" if "?" in url else "?") + urlencode(query)
        return url

    def _left(self) -> float:
        return self.policy.left()

    def request(self, method: str, path: str, body: dict | None = None, *, what: str,
                query: dict | None = None, ok: tuple[int, ...] = (200, 201, 202, 204)) -> Response:
        """Send one request (with retries); ``what`` names the resource in every error."""
        url = self._url(path, query)
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        policy, attempt = self.policy, 0
        while True:
            left = policy.left()
            if left <= 0:
                raise DOError("deadline", f"{what}: no answer within the {policy.deadline:g} s deadline")
            self.stats.count(method)
            try:
                response = self.transport(method, url, headers, min(self.timeout, left), data)
            except TransportError as exc:
                if exc.kind == "tls":
                    raise DOError("tls", f"TLS failure talking to {urlsplit(url).netloc}: {exc}") from exc
                response, failure = None, f"no answer from {urlsplit(url).netloc} ({exc})"
            else:
                if response.status in ok:
                    return response
                if response.status not in self.RETRY_STATUSES:
                    raise self._failure(response, method, what)
                failure = f"{response.status} {_api_message(response)}"
            status = response.status if response is not None else None
            if method == "POST" and status != 429:
                raise DOError("server_error", f"{what}: POST failed ({failure}); not retried since it may have "
                                              "created the resource: run again to converge", status)
            if attempt >= policy.retries:
                raise DOError("rate_limited" if status == 429 else "server_error",
                              f"{what}: {method} failed after {attempt + 1} tries: {failure}", status)
            wait = policy.backoff(attempt, self._hint(response))
            if not policy.fits(wait):
                raise DOError("deadline", f"{what}: {failure}; a retry in {wait:g} s would pass the "
                                          f"{policy.deadline:g} s deadline", status)
            self.stats.retries += 1
            attempt += 1
            policy.sleep(wait)

    @staticmethod
    def _hint(response: Response | None) -> float | None:
        """The server's wait: Retry-After, else for a 429 the rate limit's reset time."""
        if response is None:
            return None
        hint = parse_retry_after(response.headers.get("retry-after"))
        if hint is None and response.status == 429:
            reset = parse_retry_after(response.headers.get("ratelimit-reset"))
            hint = max(0.0, reset - time.time()) if reset and reset > 1e9 else None
        return hint

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

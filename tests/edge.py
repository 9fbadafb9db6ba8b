"""Talk to an app through a droplet's Traefik the way its users do: HTTPS to <app>.berth.test,
verified against the lab CA, connected to the droplet's address. LoadGenerator keeps a steady
request rate up and records every answer, so a test can count failed requests and version flips;
with `slow_workers` it also keeps long requests (`/slow?ms=slow_ms`) in flight all the time, so a
switch or a rescue always finds some on the colour it moves away from. `host` picks the app
(<app>.berth.test: the lab certificate covers every name under berth.test)."""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from labtools import LAB_STATE

APP_HOST = "sample.berth.test"
# What a test under load asks of the generator: proof it kept going, not that the machine is fast.
# On 2 cores shared with another e2e group, Traefik, the apps and Ansible it reached 78-95/s of
# the 120/s asked for.
MIN_RATE = 50


class _Connection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI and Host set to the app's name."""

    def __init__(self, address: str, timeout: float, host: str = APP_HOST) -> None:
        context = ssl.create_default_context(cafile=str(LAB_STATE / "pki" / "ca.crt"))
        super().__init__(host, 443, timeout=timeout, context=context)
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)


def get(address: str, path: str = "/", timeout: float = 5, host: str = APP_HOST) -> tuple[int, dict | str]:
    conn = _Connection(address, timeout, host)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        body = answer.read().decode()
        try:
            return answer.status, json.loads(body)
        except ValueError:
            return answer.status, body
    finally:
        conn.close()


def wait_for_version(address: str, version: str, host: str = APP_HOST, deadline: float = 60) -> bool:
    """Until `version` answers 200 five times in a row (False when the deadline passes first)."""
    end, good = time.monotonic() + deadline, 0
    while time.monotonic() < end and good < 5:
        try:
            status, body = get(address, timeout=2, host=host)
            good = good + 1 if status == 200 and isinstance(body, dict) and body.get("version") == version else 0
        except (OSError, http.client.HTTPException):
            good = 0
        time.sleep(0.1)
    return good >= 5


@dataclass
class Answer:
    started: float
    status: int | None
    version: str | None
    error: str | None = None
    ended: float = 0.0
    path: str = "/"
    maintenance: bool = False  # a 503 that says so (X-Berth-Maintenance), e.g. during restore.yml


@dataclass
class LoadGenerator:
    """`workers` threads, together `rate` requests/s; each reconnects every `reuse` requests.
    Plus `slow_workers` threads that each keep one `/slow?ms=slow_ms` request in flight."""

    address: str
    rate: float = 150
    workers: int = 10
    reuse: int = 20
    timeout: float = 10
    host: str = APP_HOST
    slow_workers: int = 0
    slow_ms: int = 2500
    # When true, announced maintenance answers count apart (`maintenance`), not as failures.
    maintenance_ok: bool = False
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.workers)]
        self._threads += [threading.Thread(target=self._slow, daemon=True) for _ in range(self.slow_workers)]

    def __enter__(self) -> LoadGenerator:
        self.began = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + self.slow_ms / 1000 + 5)
        self.ended = time.monotonic()

    def _work(self, index: int) -> None:
        period = self.workers / self.rate
        next_at = time.monotonic() + period * index / self.workers
        conn, used = None, 0
        while not self._stop.is_set():
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += period
            if conn is None or used >= self.reuse:
                if conn is not None:
                    conn.close()
                conn, used = _Connection(self.address, self.timeout, self.host), 0
            result = self._ask(conn, "/")
            used += 1
            if result.error:
                conn.close()
                conn = None
            self._record(result)
        if conn is not None:
            conn.close()

    def _slow(self) -> None:
        """One long request after the other, each on a new connection."""
        path = f"/slow?ms={self.slow_ms}"
        while not self._stop.is_set():
            conn = _Connection(self.address, self.timeout + self.slow_ms / 1000, self.host)
            self._record(self._ask(conn, path))
            conn.close()

    @staticmethod
    def _ask(conn: _Connection, path: str) -> Answer:
        started = time.monotonic()
        try:
            conn.request("GET", path)
            answer = conn.getresponse()
            body = answer.read()
            version = json.loads(body).get("version") if answer.status == 200 else None
            maintenance = (answer.status == 503 and answer.getheader("X-Berth-Maintenance") is not None
                           and answer.getheader("Retry-After") is not None)
            return Answer(started, answer.status, version, ended=time.monotonic(), path=path, maintenance=maintenance)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return Answer(started, None, None, f"{type(exc).__name__}: {exc}", time.monotonic(), path)

    def _record(self, answer: Answer) -> None:
        with self._lock:
            self.answers.append(answer)

    # What a test asserts on.
    @property
    def failures(self) -> list[Answer]:
        return [a for a in self.answers if (a.error or not (200 <= (a.status or 0) < 300))
                and not (self.maintenance_ok and a.maintenance)]

    @property
    def maintenance(self) -> list[Answer]:
        return [a for a in self.answers if a.maintenance]

    @property
    def rate_achieved(self) -> float:
        return len(self.answers) / (self.ended - self.began)

    @property
    def slow_answers(self) -> list[Answer]:
        return [a for a in self.answers if a.path != "/"]

    def versions(self) -> list[str]:
        """The versions the clients saw, in order, runs collapsed.

        Requests in flight at the moment of a switch overlap and can be answered in either order,
        so a return to an earlier version counts only when the request asking for it started after
        an answer from the newer version had already arrived: a client that saw the new release
        and then the old one again."""
        first_arrival: dict[str, float] = {}
        for answer in self.answers:
            if answer.version:
                first_arrival[answer.version] = min(first_arrival.get(answer.version, answer.ended), answer.ended)
        runs: list[str] = []
        for answer in sorted(self.answers, key=lambda a: a.started):
            if not answer.version or (runs and runs[-1] == answer.version):
                continue
            overlapping = answer.version in runs and first_arrival[runs[-1]] > answer.started
            if not overlapping:
                runs.append(answer.version)
        return runs

    def summary(self) -> str:
        sample = "; ".join(f"{a.path} {a.status} {a.error or ''}".strip() for a in self.failures[:5])
        slow = self.slow_answers
        return (f"{len(self.answers)} requests at {self.rate_achieved:.0f}/s"
                + (f" ({len(slow)} of them {self.slow_ms} ms long)" if slow else "")
                + f", {len(self.failures)} failed" + (f" (first: {sample})" if sample else "")
                + (f", {len(self.maintenance)} maintenance answers" if self.maintenance else "")
                + f", versions {self.versions()}")

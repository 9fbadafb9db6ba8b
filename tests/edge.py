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
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from labtools import LAB_STATE

APP_HOST = "sample.berth.test"
# What a test under load asks of the generator: proof it kept going, not that the machine is fast.
# On 2 cores shared with another e2e group, Traefik, the apps and Ansible it reached 78-95/s of
# the 120/s asked for: the floor is this share of the rate asked for.
MIN_RATE_SHARE = 0.4
# Rates: where traffic moves (a switch, a rollback, a new release) and where nothing should move
# (refusals, no-ops, failures before the switch), which still proves that nothing moved.
MOVING_RATE = 120
STILL_RATE = 40
# A request sent while a playbook runs may take at most LATENCY_MARGIN longer than the slowest answer
# of the same kind before it started: a frozen switch (all traffic held for a second or more: at
# 120/s, 120 requests or more) fails the test. Measured on 2 shared cores (load average 15), a lone
# request now and then took 1.0-1.3 s longer (one in 3,700-9,000, not only at the switch): a
# connection's SYN retried after 1 s, or a starved thread. So a test fails on more than LATE_SHARE of
# the window's requests over the margin, or on any request over LATENCY_CEILING.
LATENCY_MARGIN = 1.0
LATE_SHARE = 0.001
LATENCY_CEILING = 2.0


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
    rate: float = MOVING_RATE
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
        self.crashed: list[str] = []  # a worker thread that died: its traceback
        self.window: tuple[float, float] | None = None  # when the playbook ran (window())
        self._threads = [threading.Thread(target=self._work, args=(i,), daemon=True) for i in range(self.workers)]
        self._threads += [threading.Thread(target=self._guarded, args=(lambda i=i: self._slow(i),), daemon=True)
                          for i in range(self.slow_workers)]

    def __enter__(self) -> LoadGenerator:
        self.began = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + self.slow_ms / 1000 + 5)
        self.hung = sum(thread.is_alive() for thread in self._threads)
        self.ended = time.monotonic()

    def _guarded(self, work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException:  # any death of a worker must fail the test, not vanish
            with self._lock:
                self.crashed.append(traceback.format_exc())

    def wait_for_answers(self, count: int, after: float | None = None, deadline: float = 30) -> None:
        """Until `count` answers (to requests started after `after`, when given) have arrived: an event,
        not a fixed sleep, so a lead-in or a tail lasts as long as it takes on this machine."""
        end = time.monotonic() + deadline
        while time.monotonic() < end and not self.crashed:
            with self._lock:
                arrived = sum(1 for a in self.answers if after is None or a.started >= after)
            if arrived >= count:
                return
            time.sleep(0.02)

    @contextmanager
    def window_of(self, lead_in: int | None = None, tail: int | None = None) -> Iterator[None]:
        """Mark the block as the window under test (a playbook run): before it, `lead_in` answers
        (the baseline latency: a second's worth of the rate asked for, so that it samples this machine's
        tail); after it, `tail` answers to requests started after it (what users see once the run has
        ended: half a second's worth)."""
        half = max(5, int(self.rate / 2))
        self.wait_for_answers(max(10, int(self.rate)) if lead_in is None else lead_in)
        started = time.monotonic()
        try:
            yield
        finally:
            ended = time.monotonic()
            self.window = (started, ended)
            self.wait_for_answers(half if tail is None else tail, after=ended)

    def _work(self, index: int) -> None:
        self._guarded(lambda: self._steady(index))

    def _steady(self, index: int) -> None:
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
            result = self._ask(conn, "/")  # connects lazily, inside _ask's error handling
            used += 1
            if result.error:
                conn.close()
                conn = None
            self._record(result)
        if conn is not None:
            conn.close()

    def _slow(self, index: int) -> None:
        """One long request after the other, each on a new connection. Worker i starts i/n of a request
        later than worker 0, so at any moment one of n in flight has at least (n-1)/n of its time left:
        a step that comes a while after the switch (the retire) still finds a request on the old colour."""
        path = f"/slow?ms={self.slow_ms}"
        if self._stop.wait(self.slow_ms / 1000 * index / self.slow_workers):
            return
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

    def _baseline(self, slow: bool) -> float:
        """The slowest answer of this kind that started before the window (its own latency, what
        this app and this machine do anyway); a long request may take its own length plus the
        slowest ordinary answer."""
        assert self.window is not None
        before = [a.ended - a.started for a in self.answers
                  if a.started < self.window[0] and not a.error and (a.path != "/") == slow]
        steady = max((a.ended - a.started for a in self.answers
                      if a.started < self.window[0] and not a.error and a.path == "/"), default=0.0)
        return max(before, default=0.0) if not slow else max(max(before, default=0.0), self.slow_ms / 1000 + steady)

    def late_answers(self) -> list[tuple[Answer, float]]:
        """Answers to requests sent inside the window that took more than LATENCY_MARGIN longer than
        the baseline of their kind, each with its limit."""
        if self.window is None:
            return []
        limits = {False: self._baseline(False) + LATENCY_MARGIN, True: self._baseline(True) + LATENCY_MARGIN}
        return [(a, limits[a.path != "/"]) for a in self.answers
                if self.window[0] <= a.started <= self.window[1] and not a.error
                and a.ended - a.started > limits[a.path != "/"]]

    def latency_summary(self) -> str:
        if self.window is None:
            return ""
        inside = sorted(a.ended - a.started for a in self.answers
                        if self.window[0] <= a.started <= self.window[1] and a.path == "/" and not a.error)
        if not inside:
            return ", no answer inside the window"
        p99 = inside[min(len(inside) - 1, int(len(inside) * 0.99))]
        late = len(self.late_answers())
        return (f", latency in the window max {inside[-1] * 1000:.0f} ms p99 {p99 * 1000:.0f} ms"
                f" (before it max {self._baseline(False) * 1000:.0f} ms)" + (f", {late} late" if late else ""))

    def problems(self, versions: list[str] | None = None) -> list[str]:
        """Everything a test under load asserts, each a sentence; [] when the load proves its point."""
        found = [f"a load worker died:\n{self.crashed[0]}"] if self.crashed else []
        if getattr(self, "hung", 0):
            found.append(f"{self.hung} load workers never stopped")
        if self.failures:
            found.append(f"{len(self.failures)} failed requests")
        if versions is not None and self.versions() != versions:
            found.append(f"versions {self.versions()}, expected {versions}")
        late = self.late_answers()
        inside = sum(1 for a in self.answers if self.window and self.window[0] <= a.started <= self.window[1])
        ceiling = [(a, limit) for a, limit in late if a.ended - a.started > limit - LATENCY_MARGIN + LATENCY_CEILING]
        if late and (len(late) > max(1, inside * LATE_SHARE) or ceiling):
            assert self.window is not None
            answer, limit = max(late, key=lambda item: item[0].ended - item[0].started)
            when = ", ".join(f"{a.started - self.window[0]:.1f} s in: {(a.ended - a.started) * 1000:.0f} ms "
                             f"{a.path} {a.version or a.status}" for a, _ in late[:5])
            found.append(f"{len(late)} requests sent during the run were slow: {answer.path} took "
                         f"{(answer.ended - answer.started) * 1000:.0f} ms (limit {limit * 1000:.0f} ms); {when}")
        floor = self.rate * MIN_RATE_SHARE
        if self.rate_achieved < floor:
            found.append(f"the generator reached {self.rate_achieved:.0f}/s, under its floor of {floor:.0f}/s")
        return found

    def summary(self) -> str:
        sample = "; ".join(f"{a.path} {a.status} {a.error or ''}".strip() for a in self.failures[:5])
        slow = self.slow_answers
        return (f"{len(self.answers)} requests at {self.rate_achieved:.0f}/s"
                + (f" ({len(slow)} of them {self.slow_ms} ms long)" if slow else "")
                + f", {len(self.failures)} failed" + (f" (first: {sample})" if sample else "")
                + (f", {len(self.maintenance)} maintenance answers" if self.maintenance else "")
                + f", versions {self.versions()}" + self.latency_summary())

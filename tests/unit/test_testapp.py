"""The lab's test app behaves as each tag promises: warm-up, late listen, slow health, long requests,
a Host that fails its health check, never healthy, draining or ignoring SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "lab" / "images" / "testapp" / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, seconds: float = 10) -> float:
    """Seconds until the port accepts a connection."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return time.monotonic() - began
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")


@pytest.fixture
def start():
    procs = []

    def run(**env: str) -> tuple[subprocess.Popen, int]:
        port = free_port()
        full = dict(os.environ, APP_PORT=str(port), APP_VERSION="warm-2", BERTH_COLOUR="green",
                    BERTH_RELEASE="r1", **env)
        proc = subprocess.Popen([sys.executable, str(APP)], env=full, stdout=subprocess.DEVNULL)
        procs.append(proc)
        return proc, port

    yield run
    for proc in procs:
        proc.kill()
        proc.wait()


def get(port: int, path: str = "/", host: str = "localhost") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        return answer.status, answer.read().decode()
    finally:
        conn.close()


def test_answers_version_colour_release_and_echoed_env(start):
    _, port = start(APP_ECHO="value with spaces")
    wait_listening(port)
    status, body = get(port)
    assert status == 200
    assert json.loads(body) == {"version": "warm-2", "colour": "green", "release": "r1", "env": "value with spaces"}
    assert get(port, "/health") == (200, "ok")
    assert get(port, "/nope")[0] == 404


def test_warms_up_with_503_then_answers(start):
    _, port = start(APP_WARMUP="1.5")
    wait_listening(port)
    assert get(port, "/health")[0] == 503 and get(port, "/")[0] == 503
    time.sleep(1.6)
    assert get(port, "/health") == (200, "ok") and get(port, "/")[0] == 200


def test_late_listen_keeps_the_port_closed(start):
    _, port = start(APP_LISTEN_DELAY="1.2")
    assert wait_listening(port) >= 1.0


def test_slow_health_endpoint(start):
    _, port = start(APP_HEALTH_DELAY_MS="300")
    wait_listening(port)
    began = time.monotonic()
    assert get(port, "/health") == (200, "ok")
    assert time.monotonic() - began >= 0.3


def test_slow_requests_take_the_time_asked(start):
    _, port = start()
    wait_listening(port)
    began = time.monotonic()
    status, body = get(port, "/slow?ms=400")
    assert status == 200 and json.loads(body)["version"] == "warm-2"
    assert time.monotonic() - began >= 0.4


def test_health_fails_only_for_the_named_host(start):
    _, port = start(FAIL_HEALTH_HOST="warm.berth.test")
    wait_listening(port)
    assert get(port, "/health", host="warm.berth.test:443")[0] == 500
    assert get(port, "/health", host="web.green.warm.gate") == (200, "ok")
    assert get(port, "/", host="warm.berth.test")[0] == 200


def test_broken_never_becomes_healthy(start):
    _, port = start(APP_HEALTHY="false")
    wait_listening(port)
    assert get(port, "/health")[0] == 500
    assert get(port, "/")[0] == 200


def test_sigterm_drains_in_flight_requests(start):
    proc, port = start()
    wait_listening(port)
    answers = []
    slow = threading.Thread(target=lambda: answers.append(get(port, "/slow?ms=1200")))
    slow.start()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    slow.join(5)
    assert answers and answers[0][0] == 200
    assert proc.wait(5) == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1)


def test_sigterm_is_ignored_when_built_so(start):
    proc, port = start(APP_ON_SIGTERM="ignore")
    wait_listening(port)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None
    assert get(port, "/")[0] == 200


@pytest.mark.parametrize("tag", ["warm-1", "lean-2", "stubborn-1", "broken"])
def test_lab_tags_differ_in_behaviour_and_version(tag):
    sys.path.insert(0, str(APP.parents[2]))
    try:
        from lab import TESTAPP_TAGS  # noqa: PLC0415 (lab/ is a script directory, not a package)
    finally:
        sys.path.pop(0)
    assert TESTAPP_TAGS[tag]["APP_VERSION"] == tag
    assert len({json.dumps(args, sort_keys=True) for args in TESTAPP_TAGS.values()}) == len(TESTAPP_TAGS)

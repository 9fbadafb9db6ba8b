"""berth.ops.health_gate against real HTTP servers on 127.0.0.1 and a real container."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from labtools import LAB_STATE, run_module


class Server:
    """Answers by a behaviour function: (request number) -> (status, body, delay seconds)."""

    def __init__(self, behaviour, port: int = 0, start_after: float = 0.0) -> None:
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.count += 1
                status, body, delay = behaviour(outer.count)
                time.sleep(delay)
                data = body.encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the prober gave up on a hanging request

        self.port = port or free_port()
        self.server = None

        def start():
            time.sleep(start_after)
            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
            self.server.daemon_threads = True
            self.server.serve_forever(poll_interval=0.05)

        threading.Thread(target=start, daemon=True).start()
        if not start_after:
            while self.server is None:
                time.sleep(0.01)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"

    def close(self) -> None:
        if self.server:
            self.server.shutdown()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gate(url: str, **args) -> tuple[bool, dict]:
    params = {"url": url, "interval": 0.5, "timeout": 0.3, "successes": 3, "deadline": 20, **args}
    return run_module("berth.ops.health_gate", params)


def test_healthy_passes_after_n_consecutive_answers():
    server = Server(lambda n: (200, "ok", 0))
    failed, result = gate(server.url, body_regex="^ok$")
    server.close()
    assert not failed and result["passed"] and result["changed"] is False
    assert result["attempts"] == 3 and server.count == 3
    assert 0.9 <= result["elapsed"] < 2.0  # two intervals between three probes
    assert [p["status"] for p in result["probes"]] == [200, 200, 200]


def test_slow_start_passes_after_refused_connections():
    # Ansible itself takes ~1.5 s to start the module; the server comes up ~2.5 s after that.
    server = Server(lambda n: (200, "ok", 0), start_after=4)
    failed, result = gate(server.url)
    server.close()
    assert not failed, result.get("msg")
    assert result["connection_errors"] >= 3
    assert all("refused" in p["error"] for p in result["probes"][: result["connection_errors"]])
    assert 2 <= result["elapsed"] < 6


def test_flapping_never_passes_and_fails_on_bad_answer_budget():
    server = Server(lambda n: (200 if n % 2 else 500, "ok", 0))
    failed, result = gate(server.url, max_bad_answers=3)
    server.close()
    assert failed and not result["passed"]
    assert result["reason"].startswith("bad answers: 4 (budget 3)")
    assert result["attempts"] == 8  # ok, bad, ok, bad, ok, bad, ok, bad
    assert "health gate failed" in result["msg"] and "500" in result["msg"]


def test_wrong_body_fails_and_says_why():
    server = Server(lambda n: (200, '{"status": "starting"}', 0))
    failed, result = gate(server.url, json_match={"status": "ok"}, max_bad_answers=2)
    server.close()
    assert failed and result["attempts"] == 3
    assert "JSON 'status' is 'starting', expected 'ok'" in result["reason"]


def test_json_match_passes():
    server = Server(lambda n: (200, '{"status": "ok", "checks": {"db": "up"}}', 0))
    failed, result = gate(server.url, json_match={"status": "ok", "checks.db": "up"})
    server.close()
    assert not failed and result["attempts"] == 3


def test_hanging_requests_time_out_per_request():
    server = Server(lambda n: (200, "ok", 3))
    failed, result = gate(server.url, max_connection_errors=2)
    server.close()
    assert failed and result["reason"].startswith("connection errors: 3")
    for probe in result["probes"]:
        assert probe["error"].startswith("timeout") and probe["latency_ms"] < 1000
    assert result["elapsed"] < 3


def test_refused_connections_fail_on_their_budget():
    failed, result = gate(f"http://127.0.0.1:{free_port()}/health", max_connection_errors=4)
    assert failed and result["attempts"] == 5 and result["connection_errors"] == 5
    assert result["reason"].startswith("connection errors: 5 (budget 4)")


def test_deadline_ends_the_gate():
    failed, result = gate(f"http://127.0.0.1:{free_port()}/health", max_connection_errors=100, deadline=2)
    assert failed and result["reason"].startswith("deadline: 2 s")
    assert 2 <= result["elapsed"] < 3


@pytest.fixture
def exiting_container():
    image = json.loads((LAB_STATE / "images.json").read_text())["sample-app-1.0.0"]
    name = f"berth-gate-test-{int(time.time())}"
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", "berth.lab=test", image,
                    "python3", "-c", "import time; time.sleep(2); raise SystemExit(3)"],
                   check=True, capture_output=True)
    yield name
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def test_container_that_exits_fails_the_gate_at_once(exiting_container):
    failed, result = gate(f"http://127.0.0.1:{free_port()}/health", max_connection_errors=1000, deadline=60,
                          container=exiting_container)
    assert failed
    assert result["reason"] == f"container: {exiting_container} exited with exit code 3"
    assert result["elapsed"] < 8  # not the 60 s deadline


def test_a_timeout_longer_than_the_interval_is_allowed():
    # A health endpoint slower than the interval (one that queries its database) is normal: the next
    # probe simply follows the slow answer.
    failed, result = gate("http://127.0.0.1:1/", interval=0.2, timeout=1, max_connection_errors=2)
    assert failed and result["reason"].startswith("connection errors: 3 (budget 2)"), result["msg"]

"""The lab's sample app keeps its promises: health by build, graceful SIGTERM, migration hook."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[2] / "lab" / "images" / "sample-app" / "app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def app(request):
    port = free_port()
    env = dict(os.environ, APP_PORT=str(port), APP_VERSION="9.8.7", BERTH_COLOUR="green",
               APP_HEALTHY=getattr(request, "param", "true"))
    proc = subprocess.Popen([sys.executable, str(APP)], env=env)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield proc, f"http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_answers_version_and_colour(app):
    _, base = app
    status, body = get(base + "/")
    assert status == 200 and json.loads(body)["version"] == "9.8.7" and json.loads(body)["colour"] == "green"
    assert get(base + "/health") == (200, b"ok")


@pytest.mark.parametrize("app", ["false"], indirect=True)
def test_broken_build_fails_its_health_check(app):
    _, base = app
    assert get(base + "/health")[0] == 500


def test_sigterm_finishes_in_flight_requests(app):
    proc, base = app
    answers = []
    slow = threading.Thread(target=lambda: answers.append(get(base + "/slow?ms=1500")))
    slow.start()
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    slow.join(5)
    assert answers and answers[0][0] == 200  # the request in flight at SIGTERM completed
    assert proc.wait(5) == 0
    with pytest.raises(OSError):
        socket.create_connection((base.split("//")[1].split(":")[0], int(base.rsplit(":", 1)[1])), timeout=1)


def test_migration_hook_appends_and_can_fail(tmp_path):
    log = tmp_path / "migrations.log"
    env = dict(os.environ, APP_MIGRATION_LOG=str(log), APP_VERSION="1.1.0")
    assert subprocess.run([sys.executable, str(APP), "migrate"], env=env, check=False).returncode == 0
    assert log.read_text().split()[1] == "1.1.0"
    assert subprocess.run([sys.executable, str(APP), "migrate", "--fail"], env=env, check=False,
                          capture_output=True).returncode == 1
    assert len(log.read_text().splitlines()) == 1

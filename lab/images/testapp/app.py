"""berth's test app: one small HTTP server that behaves like the ordinary apps berth must deploy.

Each image tag bakes its behaviour into the environment (so tags differ by digest); every knob can
be overridden at run time through the service's env.

GET /            -> {"version", "colour", "release", "env"}      (503 while warming up)
GET /health      -> 200 "ok"                                      (503 while warming up)
GET /slow?ms=N   -> the same JSON as /, after N ms                (long requests in flight)

APP_VERSION          the version / answers
APP_PORT             the port it listens on (8000)
APP_LISTEN_DELAY     seconds before the port opens at all (0)
APP_WARMUP           seconds after the port opened during which / and /health answer 503 (0)
APP_HEALTH_DELAY_MS  time /health takes, like a health check that queries a database (0)
APP_HEALTHY          false: /health answers 500 forever (a release that never becomes healthy)
APP_ON_SIGTERM       drain (stop accepting, finish in-flight requests, exit 0) or ignore
FAIL_HEALTH_HOST     /health answers 500 when the request's Host is this name (a public check
                     that fails while the private one passes)
APP_ECHO             echoed as "env" by /, to read an env value from outside
BERTH_COLOUR, BERTH_RELEASE  set by berth, echoed by /
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


def setting(name: str, default: str) -> str:
    return os.environ.get(name, default)


VERSION = setting("APP_VERSION", "0")
WARMUP = float(setting("APP_WARMUP", "0"))
HEALTH_DELAY = float(setting("APP_HEALTH_DELAY_MS", "0")) / 1000
HEALTHY = setting("APP_HEALTHY", "true") == "true"
FAIL_HEALTH_HOST = setting("FAIL_HEALTH_HOST", "").lower()
MAX_SLOW_MS = 60_000


class Handler(BaseHTTPRequestHandler):
    server_version = "berth-testapp/" + VERSION

    def log_message(self, fmt: str, *args: object) -> None:
        if setting("APP_ACCESS_LOG", "false") == "true":
            sys.stderr.write("%s\n" % (fmt % args))

    def answer(self, status: int, body: dict | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def warming(self) -> bool:
        return time.monotonic() < self.server.ready_at  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/health":
            self.health()
        elif url.path in ("/", "/slow"):
            if url.path == "/slow":
                time.sleep(min(int(parse_qs(url.query).get("ms", ["1000"])[0]), MAX_SLOW_MS) / 1000)
            if self.warming():
                self.answer(503, "warming up")
            else:
                self.answer(200, identity())
        else:
            self.answer(404, {"error": "not found"})

    def health(self) -> None:
        if HEALTH_DELAY:
            time.sleep(HEALTH_DELAY)
        host = (self.headers.get("Host") or "").split(":")[0].lower()
        if self.warming():
            self.answer(503, "warming up")
        elif not HEALTHY or (FAIL_HEALTH_HOST and host == FAIL_HEALTH_HOST):
            self.answer(500, "unhealthy")
        else:
            self.answer(200, "ok")


def identity() -> dict:
    return {"version": VERSION, "colour": setting("BERTH_COLOUR", ""), "release": setting("BERTH_RELEASE", ""),
            "env": setting("APP_ECHO", "")}


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for in-flight requests
    block_on_close = True
    # The listen backlog real servers use (uvicorn, gunicorn: 2048), not socketserver's 5: a proxy that
    # reloads its routes opens its connections again in a burst, and a backlog of 5 drops SYNs, which
    # the client retries only after a second.
    request_queue_size = 2048
    ready_at = 0.0


def serve() -> int:
    on_sigterm = setting("APP_ON_SIGTERM", "drain")
    # Until the port opens, a SIGTERM (drain) just exits; an app that ignores it ignores it from the start.
    if on_sigterm == "ignore":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(float(setting("APP_LISTEN_DELAY", "0")))
    server = Server(("0.0.0.0", int(setting("APP_PORT", "8000"))), Handler)
    server.ready_at = time.monotonic() + WARMUP

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    if on_sigterm != "ignore":
        signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"testapp {VERSION} listening on {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(serve())

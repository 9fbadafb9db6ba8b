"""berth's sample app: the smallest web service that behaves like a real one.

GET /        -> {"version": ..., "colour": ..., "host": ...}
GET /health  -> 200 "ok" (500 when built with APP_HEALTHY=false)
GET /slow?ms=N -> answers after N ms (in-flight work for drain tests)
SIGTERM      -> stop accepting, finish in-flight requests, exit 0.
`app.py migrate [--fail]` is a migration hook: it appends a line to $APP_MIGRATION_LOG.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

VERSION = os.environ.get("APP_VERSION", "0.0.0")
HEALTHY = os.environ.get("APP_HEALTHY", "true") == "true"


class Handler(BaseHTTPRequestHandler):
    server_version = "berth-sample/" + VERSION

    def log_message(self, fmt: str, *args: object) -> None:
        if os.environ.get("APP_ACCESS_LOG") == "true":
            sys.stderr.write("%s\n" % (fmt % args))

    def answer(self, status: int, body: dict | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        ctype = "application/json" if isinstance(body, dict) else "text/plain"
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/health":
            self.answer(200 if HEALTHY else 500, "ok" if HEALTHY else "unhealthy")
        elif url.path == "/slow":
            time.sleep(int(parse_qs(url.query).get("ms", ["1000"])[0]) / 1000)
            self.answer(200, self.identity())
        elif url.path == "/":
            self.answer(200, self.identity())
        else:
            self.answer(404, {"error": "not found"})

    @staticmethod
    def identity() -> dict:
        return {"version": VERSION, "colour": os.environ.get("BERTH_COLOUR", ""),
                "host": socket.gethostname()}


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for in-flight requests
    block_on_close = True
    # The listen backlog real servers use (uvicorn, gunicorn: 2048), not socketserver's 5: a proxy that
    # reloads its routes opens its connections again in a burst, and a backlog of 5 drops SYNs, which
    # the client retries only after a second.
    request_queue_size = 2048


def migrate(argv: list[str]) -> int:
    log = os.environ.get("APP_MIGRATION_LOG", "/data/migrations.log")
    if "--fail" in argv or os.environ.get("APP_MIGRATION_FAIL") == "true":
        print("migration failed: simulated error", file=sys.stderr)
        return 1
    with open(log, "a", encoding="utf-8") as fh:
        fh.write(f"{time.time():.3f} {VERSION}\n")
    print(f"migrated to {VERSION}")
    return 0


def serve() -> int:
    server = Server(("0.0.0.0", int(os.environ.get("APP_PORT", "8000"))), Handler)

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "migrate":
        sys.exit(migrate(sys.argv[2:]))
    sys.exit(serve())

"""Stand-ins for the services of berth's example systems (docs/examples/), one role per image.

Each answers with its service's contract (port, health path, env, what its pages say) so the example
inventories deploy in the lab as they would deploy the real images. STANDIN_ROLE picks the role:

front      the React build on nginx: port 80, GET / -> index.html ("<div id=\"root\">"), /healthz
api        the Flask API: port 5000, its routes at the root (Traefik strips /api): GET /health ->
           {"status": "ok"}, GET /items -> {"items": [...]}; a path still starting with /api is a 404,
           as Flask's would be; needs SECRET_KEY and JWT_SECRET_KEY (secret env) or exits 1
forum      the forum on its own host name: port 4567, GET / -> the forum's page, GET /health
streamlit  the science web tool: port 8501, GET /healthz -> "ok" after STANDIN_WARMUP seconds (503
           before, as Streamlit answers while it loads), GET / -> the page, naming the files of the
           read-only data volume (STANDIN_DATA, /data)

Every answer names STANDIN_VERSION and BERTH_COLOUR, so a test can tell the releases apart.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROLE = os.environ.get("STANDIN_ROLE", "front")
VERSION = os.environ.get("STANDIN_VERSION", "0")
PORTS = {"front": 80, "api": 5000, "forum": 4567, "streamlit": 8501}
STARTED = time.monotonic()
WARMUP = float(os.environ.get("STANDIN_WARMUP", "0"))
DATA = os.environ.get("STANDIN_DATA", "/data")


def colour() -> str:
    return os.environ.get("BERTH_COLOUR", "")


def page(title: str, marker: str) -> str:
    return (f"<!doctype html><html><head><title>{title}</title></head><body>"
            f"<div id=\"{marker}\" data-version=\"{VERSION}\" data-colour=\"{colour()}\">{title}</div></body></html>")


def front(path: str) -> tuple[int, str | dict]:
    if path == "/healthz":
        return 200, "ok"
    return 200, page("Acme", "root")  # a single-page app answers every path with index.html


def api(path: str) -> tuple[int, str | dict]:
    if path == "/health":
        return 200, {"status": "ok", "version": VERSION, "colour": colour()}
    if path == "/items":
        return 200, {"items": ["anvil", "rocket"], "version": VERSION, "colour": colour()}
    return 404, {"error": "not found", "path": path}


def forum(path: str) -> tuple[int, str | dict]:
    if path == "/health":
        return 200, "ok"
    return 200, page("Acme forum", "forum")


def streamlit(path: str) -> tuple[int, str | dict]:
    if time.monotonic() - STARTED < WARMUP:
        return 503, "loading"
    if path == "/healthz":
        return 200, "ok"
    files = sorted(os.listdir(DATA)) if os.path.isdir(DATA) else []
    return 200, page("Science tool", "streamlit") + f"<!-- data: {','.join(files)} -->"


ROLES = {"front": front, "api": api, "forum": forum, "streamlit": streamlit}


class Handler(BaseHTTPRequestHandler):
    server_version = f"berth-standin-{ROLE}/{VERSION}"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status, body = ROLES[ROLE](self.path.split("?")[0])
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        kind = "application/json" if isinstance(body, dict) else "text/html" if body.startswith("<") else "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Server(ThreadingHTTPServer):
    # A backlog like uvicorn's or gunicorn's (docs/lab.md: Traefik's burst after a route change).
    request_queue_size = 2048
    # Requests in flight finish before the process exits (server_close joins their threads).
    daemon_threads = False


def main() -> None:
    if ROLE not in ROLES:
        sys.exit(f"STANDIN_ROLE {ROLE!r} is not one of {sorted(ROLES)}")
    if ROLE == "api" and not (os.environ.get("SECRET_KEY") and os.environ.get("JWT_SECRET_KEY")):
        sys.exit("SECRET_KEY and JWT_SECRET_KEY must be set")
    server = Server(("0.0.0.0", int(os.environ.get("PORT", PORTS[ROLE]))), Handler)

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()

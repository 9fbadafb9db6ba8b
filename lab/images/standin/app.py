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
sim-api    the simulation FastAPI: port 8000, GET /health, GET /docs (Swagger UI), POST /jobs queues a job
           (job metadata in PostgreSQL, DATABASE_URL; the queue a Redis list, REDIS_URL), GET /jobs/<id>
sim-worker the job worker (no port): takes jobs from the Redis queue one at a time, writes results to the
           RESULTS volume and the job row; must never run twice at once (it counts it if it does)

platform-*, tier-*: the platform and three-tier examples' roles, in systems.py.

Every answer names STANDIN_VERSION and BERTH_COLOUR, so a test can tell the releases apart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import systems  # the platform and three-tier examples' roles (lab/images/standin/systems.py)

ROLE = os.environ.get("STANDIN_ROLE", "front")
VERSION = os.environ.get("STANDIN_VERSION", "0")
PORTS = {"front": 80, "api": 5000, "forum": 4567, "streamlit": 8501, "sim-api": 8000}
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


# --- The simulation microservice (sim-api, sim-worker): a FastAPI API and its job worker, with their
# contracts: REDIS_URL (redis://[:password@]host:port/db), DATABASE_URL (postgresql://user:password@host/db),
# the queue a Redis list, job metadata in PostgreSQL, results on the RESULTS volume. Standard library only:
# a small RESP client and a PostgreSQL simple-query client with SCRAM-SHA-256.

QUEUE, PROCESSING = "sim:queue", "sim:processing"


class Redis:
    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 6379), timeout=30)
        self.file = self.sock.makefile("rb")
        if parsed.password:
            self.call("AUTH", urllib.parse.unquote(parsed.password))
        if parsed.path.strip("/"):
            self.call("SELECT", parsed.path.strip("/"))

    def call(self, *args: object) -> object:
        parts = [str(a).encode() for a in args]
        self.sock.sendall(b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts))
        return self.reply()

    def reply(self) -> object:
        line = self.file.readline()
        if not line:
            raise ConnectionError("redis closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            if int(rest) < 0:
                return None
            data = self.file.read(int(rest) + 2)[:-2]
            return data.decode()
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")


class Postgres:
    def __init__(self, url: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port or 5432), timeout=30)
        user, password = urllib.parse.unquote(parsed.username or ""), urllib.parse.unquote(parsed.password or "")
        params = b"user\0" + user.encode() + b"\0database\0" + parsed.path.strip("/").encode() + b"\0\0"
        self.sock.sendall(struct.pack("!ii", len(params) + 8, 196608) + params)
        nonce = base64.b64encode(os.urandom(18)).decode()
        first_bare, expected = f"n=,r={nonce}", b""
        while True:
            kind, body = self.message()
            if kind == b"R":
                code = struct.unpack("!i", body[:4])[0]
                if code == 10:  # SASL: SCRAM-SHA-256
                    data = f"n,,{first_bare}".encode()
                    self.send(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", len(data)) + data)
                elif code == 11:
                    server_first = body[4:].decode()
                    fields = dict(item.split("=", 1) for item in server_first.split(","))
                    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]),
                                                 int(fields["i"]))
                    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
                    final = f"c=biws,r={fields['r']}"
                    message = f"{first_bare},{server_first},{final}".encode()
                    signature = hmac.new(hashlib.sha256(client_key).digest(), message, "sha256").digest()
                    proof = base64.b64encode(bytes(a ^ b for a, b in zip(client_key, signature, strict=True)))
                    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
                    expected = base64.b64encode(hmac.new(server_key, message, "sha256").digest())
                    self.send(b"p", f"{final},p={proof.decode()}".encode())
                elif code == 12:
                    if body[4:].split(b"v=", 1)[-1] != expected:
                        raise RuntimeError("postgres: the server's SCRAM signature is wrong")
                elif code != 0:
                    raise RuntimeError(f"postgres: authentication {code} is not supported")
            elif kind == b"E":
                raise RuntimeError(f"postgres: {self.error(body)}")
            elif kind == b"Z":
                return

    def send(self, kind: bytes, body: bytes) -> None:
        self.sock.sendall(kind + struct.pack("!i", len(body) + 4) + body)

    def exact(self, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("postgres closed the connection")
            data += chunk
        return data

    def message(self) -> tuple[bytes, bytes]:
        head = self.exact(5)
        return head[:1], self.exact(struct.unpack("!i", head[1:])[0] - 4)

    @staticmethod
    def error(body: bytes) -> str:
        fields = {f[:1]: f[1:].decode(errors="replace") for f in body.split(b"\0") if f}
        return fields.get(b"M", "error")

    def query(self, sql: str) -> list[tuple]:
        self.send(b"Q", sql.encode() + b"\0")
        rows, error = [], None
        while True:
            kind, body = self.message()
            if kind == b"D":
                count, offset, row = struct.unpack("!h", body[:2])[0], 2, []
                for _ in range(count):
                    size = struct.unpack("!i", body[offset:offset + 4])[0]
                    offset += 4
                    row.append(None if size < 0 else body[offset:offset + size].decode())
                    offset += max(size, 0)
                rows.append(tuple(row))
            elif kind == b"E":
                error = self.error(body)
            elif kind == b"Z":
                if error:
                    raise RuntimeError(f"postgres: {error}")
                return rows


def literal(value: object) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def migrate(db: Postgres) -> None:
    db.query("CREATE TABLE IF NOT EXISTS jobs (id text PRIMARY KEY, status text NOT NULL, params text NOT NULL, "
             "queued_by text NOT NULL, worker text, result text, created timestamptz NOT NULL DEFAULT now(), "
             "finished timestamptz)")


class SimApi:
    """FastAPI's shape: /health, /docs (Swagger UI), POST /jobs (202, queued), GET /jobs/<id>."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.db: Postgres | None = None
        self.redis: Redis | None = None

    def connect(self) -> None:
        self.db = Postgres(os.environ["DATABASE_URL"])
        migrate(self.db)
        self.redis = Redis(os.environ["REDIS_URL"])

    def health(self) -> tuple[int, dict]:
        return 200, {"status": "ok", "version": VERSION, "colour": colour()}

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, str | dict]:
        if method == "GET" and path == "/health":
            return self.health()
        if method == "GET" and path in ("/docs", "/openapi.json"):
            return self.docs(path)
        with self.lock:
            if self.db is None or self.redis is None:
                self.connect()
            return self.jobs(method, path, body)

    @staticmethod
    def docs(path: str) -> tuple[int, str | dict]:
        if path == "/docs":
            return 200, (f"<!doctype html><html><head><title>Simulation API - Swagger UI</title></head><body>"
                         f"<div id=\"swagger-ui\" data-version=\"{VERSION}\" data-colour=\"{colour()}\"></div>"
                         "<script>SwaggerUIBundle({url: '/openapi.json'})</script></body></html>")
        return 200, {"openapi": "3.1.0", "info": {"title": "Simulation API", "version": VERSION},
                     "paths": {"/health": {}, "/jobs": {}, "/jobs/{id}": {}}}

    def jobs(self, method: str, path: str, body: bytes) -> tuple[int, str | dict]:
        if method == "POST" and path == "/jobs":
            params = json.loads(body or b"{}")
            job = {"id": str(uuid.uuid4()), "params": params, "queued_by": VERSION}
            self.db.query(f"INSERT INTO jobs (id, status, params, queued_by) VALUES ({literal(job['id'])}, "
                          f"'queued', {literal(json.dumps(params))}, {literal(VERSION)})")
            self.redis.call("LPUSH", QUEUE, json.dumps(job))
            return 202, {"id": job["id"], "status": "queued", "version": VERSION}
        if method == "GET" and path.startswith("/jobs/"):
            rows = self.db.query("SELECT id, status, queued_by, worker, result FROM jobs "
                                 f"WHERE id = {literal(path[len('/jobs/'):])}")
            if not rows:
                return 404, {"detail": "Not Found"}
            return 200, dict(zip(("id", "status", "queued_by", "worker", "result"), rows[0], strict=True))
        return 404, {"detail": "Not Found"}


SIM_API = SimApi()


def worker() -> None:
    """Take each job atomically (BLMOVE to a processing list), run it, record it, finish the job in hand on
    SIGTERM. Each start and stop is logged in Redis (sim:worker:log) and a second worker running at the same
    time is counted (sim:worker:overlaps): what tests/e2e/test_example_simulation.py reads."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: stopping.set())
    redis, db = Redis(os.environ["REDIS_URL"]), Postgres(os.environ["DATABASE_URL"])  # the api migrates
    me = f"{VERSION}/{socket.gethostname()}/{os.getpid()}/{time.time():.3f}"
    if redis.call("SET", "sim:worker:running", me, "NX") is None:
        redis.call("INCR", "sim:worker:overlaps")
    redis.call("RPUSH", "sim:worker:log", f"start {me}")
    while redis.call("LMOVE", PROCESSING, QUEUE, "RIGHT", "RIGHT") is not None:
        pass  # jobs a crashed worker had taken go back to the queue
    results = os.environ.get("RESULTS", "/results")
    while not stopping.is_set():
        payload = redis.call("BLMOVE", QUEUE, PROCESSING, "RIGHT", "LEFT", 1)
        if payload is None:
            continue
        job = json.loads(payload)
        redis.call("INCR", f"sim:runs:{job['id']}")
        time.sleep(float(job["params"].get("seconds", 0)))
        result = {"id": job["id"], "sum": sum(range(int(job["params"].get("steps", 10)))), "worker": VERSION}
        with open(os.path.join(results, job["id"] + ".json"), "w") as out:
            json.dump(result, out)
        db.query(f"UPDATE jobs SET status = 'done', worker = {literal(VERSION)}, result = "
                 f"{literal(json.dumps(result))}, finished = now() WHERE id = {literal(job['id'])}")
        redis.call("LREM", PROCESSING, 1, payload)
    redis.call("RPUSH", "sim:worker:log", f"stop {me}")
    if redis.call("GET", "sim:worker:running") == me:
        redis.call("DEL", "sim:worker:running")

ROLES.update({"sim-api": SIM_API.handle, "sim-worker": worker})


class Handler(BaseHTTPRequestHandler):
    server_version = f"berth-standin-{ROLE}/{VERSION}"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if ROLE == "sim-api":
            self.answer(*SIM_API.handle("GET", self.path.split("?")[0], b""))
            return
        self.answer(*ROLES[ROLE](self.path.split("?")[0]))

    def do_POST(self) -> None:
        if ROLE != "sim-api":
            self.answer(405, {"error": "method not allowed"})
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.answer(*SIM_API.handle("POST", self.path.split("?")[0], body))

    def answer(self, status: int, body: str | dict) -> None:
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
    systems.register(sys.modules[__name__])
    if ROLE not in ROLES:
        sys.exit(f"STANDIN_ROLE {ROLE!r} is not one of {sorted(ROLES)}")
    if ROLE == "api" and not (os.environ.get("SECRET_KEY") and os.environ.get("JWT_SECRET_KEY")):
        sys.exit("SECRET_KEY and JWT_SECRET_KEY must be set")
    if ROLE.startswith("sim-") and not (os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL")):
        sys.exit("DATABASE_URL and REDIS_URL must be set")
    if ROLE == "sim-worker":
        worker()
        return
    if ROLE == "sim-api":
        SIM_API.connect()  # migrates the jobs table; a failure exits, and the gate never sees it healthy
    server = Server(("0.0.0.0", int(os.environ.get("PORT", PORTS[ROLE]))), Handler)

    def stop(_signum: int, _frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()

"""HTTPS server on loopback for the emulated DigitalOcean API v2.

Every /v2 request and its response are validated against the bundled spec; a request that does
not fit is answered 400 and recorded in ``violations`` (tests assert it stays empty), as is a
response that does not fit. ``/_emulator/*`` is the control plane: journal, state, faults, reset.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
import time
import uuid
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import spec as specmod
from .cloud import ApiError, Cloud
from .routes import _public, dispatch


def make_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost: the client trusts it as its CA file."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "emulator.crt", directory / "emulator.key"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth DO emulator")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


class Emulator:
    def __init__(self, token: str = "emulator-token", certdir: Path | None = None, limit: int = 250,
                 address_pool: list[str] | None = None, settle: int = 1, validate: bool = True) -> None:
        self.token = token
        self.cloud = Cloud(address_pool, settle)
        self.openapi = specmod.load() if validate else None
        self.journal: list[dict] = []
        self.violations: list[str] = []
        self.faults: list[dict] = []
        self.limit = limit
        self.window: deque[float] = deque()
        self.lock = threading.RLock()
        self.certdir = certdir
        self.server: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, port: int = 0) -> Emulator:
        emulator = self

        class Handler(_Handler):
            owner = emulator

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        if self.certdir is not None:
            cert, key = make_cert(self.certdir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        scheme = "https" if self.certdir is not None else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}"

    @property
    def ca_path(self) -> str | None:
        return str(self.certdir / "emulator.crt") if self.certdir is not None else None

    def reset(self) -> None:
        with self.lock:
            self.cloud.reset()
            self.journal.clear()
            self.violations.clear()
            self.faults.clear()
            self.window.clear()

    def writes(self) -> list[str]:
        return [f"{e['method']} {e['path']}" for e in self.journal if e["method"] != "GET"]

    # -- one request -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict, body: bytes | None, host: str) -> tuple:
        url = urlsplit(target)
        if url.path.startswith("/_emulator/"):
            return self.control(method, url.path, body)
        with self.lock:
            request = specmod.SpecRequest(method, url.path, url.query, headers, body or None)
            entry = {"method": method, "path": url.path, "query": url.query, "time": time.time()}
            status, payload, extra = self._answer(method, url, headers, body, host, request)
            entry["status"] = status
            if body:
                entry["body"] = _redact(body)
            self.journal.append(entry)
            data = json.dumps(payload).encode() if payload is not None else b""
            out_headers = {**self._rate_headers(), **extra}
            if data:
                out_headers["Content-Type"] = "application/json; charset=utf-8"
            if self.openapi is not None and status != 400:
                response = specmod.SpecResponse(status, out_headers, data or None,
                                                "application/json" if data else "")
                self.violations.extend(specmod.problems(self.openapi, request, response))
            return status, out_headers, data

    def _answer(self, method, url, headers, body, host, request) -> tuple[int, dict | None, dict]:  # noqa: PLR0911
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        if auth != f"Bearer {self.token}":
            return 401, _error("unauthorized", "Unable to authenticate you"), {}
        fault = self._fault(method, url.path)
        if fault:
            extra = {"retry-after": str(fault["retry_after"])} if fault.get("retry_after") is not None else {}
            ident = {429: "too_many_requests", 401: "unauthorized"}.get(fault["status"], "server_error")
            return fault["status"], _error(ident, fault.get("message", "injected fault")), extra
        if not self._admit():
            wait = max(1, int(60 - (time.monotonic() - self.window[0])) + 1)
            return 429, _error("too_many_requests", "API Rate limit exceeded."), {"retry-after": str(wait)}
        if self.openapi is not None:
            found = specmod.problems(self.openapi, request)
            if found:
                self.violations.extend(found)
                return 400, _error("bad_request", found[0][:500]), {}
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            return 400, _error("bad_request", "body is not JSON"), {}
        try:
            scheme = "https" if self.certdir is not None else "http"
            return dispatch(self.cloud, method, unquote(url.path), parse_qs(url.query), parsed, f"{scheme}://{host}")
        except ApiError as exc:
            return exc.status, _error(exc.ident, exc.message), {}

    def _fault(self, method: str, path: str) -> dict | None:
        for fault in self.faults:
            if fault.get("count", 1) <= 0:
                continue
            if fault.get("method", method) == method and re.search(fault.get("path", ""), path):
                fault["count"] = fault.get("count", 1) - 1
                return fault
        return None

    def _admit(self) -> bool:
        clock = time.monotonic()
        while self.window and clock - self.window[0] >= 60:
            self.window.popleft()
        if len(self.window) >= self.limit:
            return False
        self.window.append(clock)
        return True

    def _rate_headers(self) -> dict:
        reset = int(time.time()) + 60
        return {"ratelimit-limit": str(self.limit), "ratelimit-remaining": str(max(0, self.limit - len(self.window))),
                "ratelimit-reset": str(reset)}

    # -- control plane ---------------------------------------------------------------------------

    def control(self, method: str, path: str, body: bytes | None) -> tuple:
        data = json.loads(body) if body else {}
        with self.lock:
            name = path.removeprefix("/_emulator/")
            if name == "journal" and method == "GET":
                out = {"journal": self.journal, "writes": self.writes()}
            elif name == "journal" and method == "DELETE":
                self.journal.clear()
                out = {}
            elif name == "violations":
                out = {"violations": self.violations}
            elif name == "state":
                out = {"counts": self.cloud.counts(), "monitoring": self.cloud.monitoring.counts(),
                       "droplets": _public(list(self.cloud.droplets.values())),
                       "firewalls": _public(list(self.cloud.firewalls.values())),
                       "load_balancers": _public(list(self.cloud.lbs.values()))}
            elif name == "faults" and method == "POST":
                self.faults.extend(data.get("faults", []))
                out = {"faults": self.faults}
            elif name == "config" and method == "POST":
                if "address_pool" in data:
                    self.cloud.address_pool[:] = data["address_pool"]
                if "limit" in data:
                    self.limit = int(data["limit"])
                out = {}
            elif name == "reset" and method == "POST":
                self.reset()
                out = {}
            else:
                return 404, {"Content-Type": "application/json"}, b'{"message": "no such control endpoint"}'
        return 200, {"Content-Type": "application/json"}, json.dumps(out).encode()


def _error(ident: str, message: str) -> dict:
    return {"id": ident, "message": message, "request_id": str(uuid.uuid4())}


def _redact(body: bytes) -> object:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


class _Handler(BaseHTTPRequestHandler):
    owner: Emulator
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # the journal is the log
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        status, headers, data = self.owner.handle(self.command, self.path, dict(self.headers.items()), body,
                                                  self.headers.get("Host", "127.0.0.1"))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

"""Bearer-token server for the lab registry, shaped like GHCR's.

Distribution's ``auth: token`` sends clients here with a ``Bearer realm=...`` challenge.
We answer ``GET /token?service=...&scope=repository:NAME:ACTIONS`` with an ES256 JWT whose
``x5c`` header carries the signing certificate the registry trusts (``rootcertbundle``).

Rules (from a JSON config file):
- ``users``: name -> {"password_sha256": hex, "grants": {"glob": "pull,push"}, "ttl": seconds}
- ``public``: repository globs anyone may pull without credentials.
Wrong credentials get 401 (like GHCR); a scope the caller may not use is granted with no actions,
so the registry itself refuses the request, as GHCR does.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import hmac
import json
import ssl
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization

CONFIG: dict = {}
KEY = None
X5C: list[str] = []


def load(config_path: str) -> None:
    global CONFIG, KEY, X5C
    with open(config_path, encoding="utf-8") as fh:
        CONFIG = json.load(fh)
    with open(CONFIG["signing_key"], "rb") as fh:
        KEY = serialization.load_pem_private_key(fh.read(), password=None)
    with open(CONFIG["signing_cert"], "rb") as fh:
        cert = x509.load_pem_x509_certificate(fh.read())
    X5C = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]


def authenticate(header: str | None) -> tuple[str | None, bool]:
    """Return (user, ok). No header is anonymous and ok; a bad one is not ok."""
    if not header:
        return None, True
    if not header.startswith("Basic "):
        return None, False
    try:
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, False
    entry = CONFIG["users"].get(user)
    digest = hashlib.sha256(password.encode()).hexdigest()
    if entry is None or not hmac.compare_digest(entry["password_sha256"], digest):
        return None, False
    return user, True


def allowed_actions(user: str | None, repo: str) -> set[str]:
    actions: set[str] = set()
    if any(fnmatch.fnmatch(repo, pattern) for pattern in CONFIG.get("public", [])):
        actions.add("pull")
    if user is not None:
        for pattern, granted in CONFIG["users"][user].get("grants", {}).items():
            if fnmatch.fnmatch(repo, pattern):
                actions.update(a for a in granted.split(",") if a)
    return actions


def grant(user: str | None, scopes: list[str]) -> list[dict]:
    access = []
    for scope in scopes:
        parts = scope.split(":")
        if len(parts) != 3 or parts[0] != "repository":
            continue
        _, repo, wanted = parts
        allowed = allowed_actions(user, repo)
        access.append(
            {
                "type": "repository",
                "name": repo,
                "actions": sorted(a for a in wanted.split(",") if a in allowed),
            }
        )
    return access


class Handler(BaseHTTPRequestHandler):
    server_version = "berth-lab-token/1"

    def log_message(self, fmt: str, *args: object) -> None:
        sys.stderr.write("token %s\n" % (fmt % args))

    def reply(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if url.path == "/healthz":
            self.reply(200, {"ok": True})
            return
        if url.path != "/token":
            self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        query = parse_qs(url.query)
        if query.get("service", [""])[0] != CONFIG["service"]:
            self.reply(400, {"errors": [{"code": "DENIED", "message": "unknown service"}]})
            return
        user, ok = authenticate(self.headers.get("Authorization"))
        if not ok:
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                       {"WWW-Authenticate": 'Basic realm="berth-lab"'})
            return
        scopes = [s for value in query.get("scope", []) for s in value.split(" ")]
        now = int(time.time())
        ttl = int(CONFIG["users"][user].get("ttl", 300)) if user else 300
        claims = {
            "iss": CONFIG["issuer"],
            "sub": user or "",
            "aud": CONFIG["service"],
            "exp": now + ttl,
            "nbf": now - 5,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": grant(user, scopes),
        }
        token = jwt.encode(claims, KEY, algorithm="ES256", headers={"x5c": X5C})
        # GHCR sends no expires_in; the lab does, as distribution's own token servers do.
        self.reply(200, {"token": token, "access_token": token, "expires_in": ttl,
                         "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))})


def main() -> None:
    load(sys.argv[1])
    server = ThreadingHTTPServer(("0.0.0.0", int(CONFIG.get("port", 443))), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(CONFIG["tls_cert"], CONFIG["tls_key"])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

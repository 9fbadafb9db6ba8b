"""berth's streaming test app: long-lived connections like Streamlit's websockets and server-sent events.

Ordinary requests are answered and the connection closed (no idle keep-alive), so every connection
still open on it is a stream. On SIGTERM it stops accepting, says goodbye on every open stream (an
SSE `goodbye` event, a websocket close frame 1001 "goodbye"), lets them end, and exits 0.

GET /        -> {"version", "colour", "release"}
GET /health  -> 200 "ok"
GET /slow?ms=N -> the same JSON as /, after N ms (a long ordinary request)
GET /events  -> text/event-stream: `hello` (the identity), a `tick` every second, `goodbye` on SIGTERM
GET /ws      -> a websocket: a text message {"hello": identity}, {"tick": n} every second, close 1001 on SIGTERM

APP_VERSION, APP_PORT (8000); BERTH_COLOUR, BERTH_RELEASE set by berth.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import select
import signal
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

VERSION = os.environ.get("APP_VERSION", "0")
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TICK = 1.0
STOPPING = threading.Event()


def identity() -> dict:
    return {"version": VERSION, "colour": os.environ.get("BERTH_COLOUR", ""),
            "release": os.environ.get("BERTH_RELEASE", "")}


def frame(opcode: int, payload: bytes) -> bytes:
    """A server-to-client websocket frame (FIN set, never masked)."""
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
    return head + payload


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "berth-streamapp/" + VERSION

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: dict | str) -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if isinstance(body, dict) else "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_GET(self) -> None:
        if self.path == "/health":
            self.answer(200, "ok")
        elif self.path == "/":
            self.answer(200, identity())
        elif self.path.startswith("/slow"):
            query = parse_qs(urlparse(self.path).query)
            time.sleep(min(int(query.get("ms", ["1000"])[0]), 60_000) / 1000)
            self.answer(200, identity())
        elif self.path == "/events":
            self.events()
        elif self.path == "/ws":
            self.websocket()
        else:
            self.answer(404, {"error": "not found"})

    def chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.close_connection = True
        self.chunk(f"event: hello\ndata: {json.dumps(identity())}\n\n")
        ticks = 0
        while not STOPPING.wait(TICK):
            ticks += 1
            self.chunk(f"event: tick\ndata: {ticks}\n\n")
        self.chunk(f"event: goodbye\ndata: {json.dumps(identity())}\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def websocket(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        if self.headers.get("Upgrade", "").lower() != "websocket" or not key:
            self.answer(400, {"error": "not a websocket handshake"})
            return
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        sock = self.connection
        sock.sendall(frame(0x1, json.dumps({"hello": identity()}).encode()))
        ticks = 0
        while not STOPPING.is_set():
            readable, _w, _x = select.select([sock], [], [], TICK)
            if readable and not self.client_frame(sock):
                return  # the client closed (and was answered)
            if not readable:
                ticks += 1
                sock.sendall(frame(0x1, json.dumps({"tick": ticks}).encode()))
        sock.sendall(frame(0x8, struct.pack("!H", 1001) + b"goodbye"))
        # Wait briefly for the client's close frame, as the protocol asks, then close.
        sock.settimeout(2)
        try:
            self.client_frame(sock)
        except OSError:
            pass

    def client_frame(self, sock) -> bool:
        """Read one client frame; False when it was a close (answered) or the connection ended."""
        head = self.rfile.read(2)
        if len(head) < 2:
            return False
        opcode, size = head[0] & 0x0F, head[1] & 0x7F
        if size == 126:
            size = struct.unpack("!H", self.rfile.read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self.rfile.read(8))[0]
        mask = self.rfile.read(4) if head[1] & 0x80 else b"\0\0\0\0"
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(size)))
        if opcode == 0x8:
            if not STOPPING.is_set():
                sock.sendall(frame(0x8, payload[:2]))
            return False
        if opcode == 0x9:
            sock.sendall(frame(0xA, payload))
        return True


class Server(ThreadingHTTPServer):
    daemon_threads = False  # server_close() waits for the streams to say goodbye
    block_on_close = True
    request_queue_size = 2048


def serve() -> int:
    server = Server(("0.0.0.0", int(os.environ.get("APP_PORT", "8000"))), Handler)

    def stop(_signum: int, _frame: object) -> None:
        STOPPING.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"streamapp {VERSION} listening on {server.server_address[1]}", flush=True)
    server.serve_forever(poll_interval=0.1)
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(serve())

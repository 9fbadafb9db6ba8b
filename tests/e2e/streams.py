"""Long-lived clients of the lab's streaming app (lab/images/streamapp): server-sent events and websockets
through a droplet's Traefik over HTTPS, the way a browser keeps them. Each client reconnects at once
when its stream ends and records every connection: which release answered, when it opened, how it ended
(the app's goodbye, or an error) and when."""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field

GOODBYE = "goodbye"


@dataclass
class Stream:
    """One connection of a client: the version that said hello, and how and when it ended."""

    version: str
    opened: float
    ended: float = 0.0
    end: str = ""  # "goodbye" (the app's own), "stopped" (the test ended it) or the error


@dataclass
class Client:
    """A client that keeps one stream open (kind "sse" or "ws"), reconnecting whenever it ends."""

    address: str
    host: str
    kind: str
    cafile: str | None = None
    port: int = 443
    streams: list[Stream] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Client:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(timeout=10)

    def wait_open(self, version: str, deadline: float = 30) -> bool:
        ends = time.monotonic() + deadline
        while time.monotonic() < ends:
            if self.streams and self.streams[-1].version == version and not self.streams[-1].ended:
                return True
            time.sleep(0.1)
        return False

    def _connect(self) -> socket.socket:
        raw = socket.create_connection((self.address, self.port), timeout=10)
        if self.cafile is None:
            return raw
        context = ssl.create_default_context(cafile=self.cafile)
        return context.wrap_socket(raw, server_hostname=self.host)

    def _run(self) -> None:
        while not self._stop.is_set():
            stream: Stream | None = None
            try:
                self._sock = sock = self._connect()
                sock.settimeout(5)  # ticks come every second: 5 s of silence is a stalled stream
                reader = sock.makefile("rb")
                read = self._sse if self.kind == "sse" else self._ws
                for kind, data in read(sock, reader):
                    if kind == "hello":
                        stream = Stream(data["version"], time.time())
                        self.streams.append(stream)
                    elif kind == GOODBYE:
                        break
                else:
                    raise ConnectionError("the stream ended without a goodbye")
                if stream is not None:
                    stream.ended, stream.end = time.time(), GOODBYE
            except (OSError, ValueError, ConnectionError) as exc:
                if self._stop.is_set():
                    if stream is not None:
                        stream.ended, stream.end = time.time(), "stopped"
                    return
                message = f"{type(exc).__name__}: {exc}"
                if stream is not None:
                    stream.ended, stream.end = time.time(), message
                self.errors.append(f"{time.strftime('%H:%M:%S')} {message}")
                time.sleep(0.2)
            finally:
                if self._sock is not None:
                    self._sock.close()
                    self._sock = None

    def _request(self, sock: socket.socket, path: str, headers: dict[str, str]) -> None:
        lines = [f"GET {path} HTTP/1.1", f"Host: {self.host}", *(f"{k}: {v}" for k, v in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    @staticmethod
    def _head(reader) -> tuple[int, dict[str, str]]:
        status = reader.readline().decode().split()
        if len(status) < 2:
            raise ConnectionError("no answer")
        headers = {}
        while (line := reader.readline().decode().strip()):
            name, _sep, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return int(status[1]), headers

    def _sse(self, sock: socket.socket, reader):
        self._request(sock, "/events", {"Accept": "text/event-stream"})
        status, headers = self._head(reader)
        if status != 200:
            raise ConnectionError(f"/events answered {status}")
        chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        event, buffer = "", b""
        while True:
            if chunked:
                size = int(reader.readline().strip() or b"0", 16)
                if size == 0:
                    return  # the stream's end (a goodbye, if any, came before it)
                buffer += reader.read(size)
                reader.readline()
            else:
                line = reader.readline()
                if not line:
                    return
                buffer += line
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.decode().splitlines():
                    if line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = line[5:].strip()
                        yield event, (json.loads(data) if event in ("hello", GOODBYE) else data)

    def _ws(self, sock: socket.socket, reader):
        key = base64.b64encode(os.urandom(16)).decode()
        self._request(sock, "/ws", {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": key,
                                    "Sec-WebSocket-Version": "13"})
        status, _headers = self._head(reader)
        if status != 101:
            raise ConnectionError(f"/ws answered {status}")
        while True:
            head = reader.read(2)
            if len(head) < 2:
                return
            opcode, size = head[0] & 0x0F, head[1] & 0x7F
            if size == 126:
                size = struct.unpack("!H", reader.read(2))[0]
            elif size == 127:
                size = struct.unpack("!Q", reader.read(8))[0]
            payload = reader.read(size)
            if opcode == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 0
                sock.sendall(_client_frame(0x8, payload[:2]))
                if code == 1001 and payload[2:] == GOODBYE.encode():
                    yield GOODBYE, {}
                    return
                raise ConnectionError(f"closed with {code} {payload[2:]!r}")
            if opcode == 0x1:
                message = json.loads(payload)
                if "hello" in message:
                    yield "hello", message["hello"]


def _client_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x80 | opcode, 0x80 | len(payload)) + mask + masked

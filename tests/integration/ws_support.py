"""Helpers for the WebSocket interop tests: Debian's python3-websockets as
the independent peer, on both sides of the connection.

python3-websockets 10.x (Debian 12) has only the asyncio API; newer ones keep
it (as websockets.legacy), so every client here is a coroutine run by
`run()`, and the Python echo server runs its own event loop in a thread.
"""

import asyncio
import os
import socket
import subprocess
import threading
import time

import pytest

# Not skipped when missing: scripts/bootstrap installs python3-websockets, so
# its absence is a broken set-up that must fail loudly.
import websockets
import websockets.exceptions

from conftest import SANITIZER, IO_TIMEOUT, example_path, recv_exactly, sanitizer_env

WS_TIMEOUT = 60.0  # a whole conversation, megabyte messages included
MAX_MESSAGE = 64 << 20  # what the Python side accepts (its default is 1 MiB)
LOCAL = "tcp:0:interface=127.0.0.1"


def run(coro, timeout=WS_TIMEOUT):
    """Runs one client conversation to its end, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


def connect(url, deflate=True, **kw):
    """A python3-websockets client. It offers permessage-deflate unless told
    not to; pings are ours to send (none automatic, so the tests are
    deterministic)."""
    kw.setdefault("max_size", MAX_MESSAGE)
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", IO_TIMEOUT)
    kw.setdefault("close_timeout", IO_TIMEOUT)
    return websockets.connect(url, compression="deflate" if deflate else None, **kw)


def extension_names(ws):
    """The extensions negotiated on a connection ("permessage-deflate")."""
    return [e.name for e in ws.extensions]


def start_ws_echo(run_example, *args):
    """Starts examples/ws-echo on a free loopback port; returns (ex, port)."""
    ex = run_example("ws-echo", "--port", LOCAL, *args)
    return ex, ex.port()


def run_client(*args, timeout=WS_TIMEOUT):
    """Runs ws-echo's client mode to completion. A sanitizer report fails
    the test even when the exit status was the one expected (ASan exits 1,
    like a client that reports a failure)."""
    r = subprocess.run(
        [str(example_path("ws-echo"))] + [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=sanitizer_env(),
    )
    assert not SANITIZER.search(r.stderr), f"ws-echo client sanitizer report:\n{r.stderr}"
    return r


class PyEchoServer:
    """A python3-websockets echo server on 127.0.0.1:0 in a thread of its
    own: every message comes back as it came (text as text, binary as
    binary). It records what each connection negotiated and how it ended."""

    def __init__(self, deflate=True):
        self.deflate = deflate
        self.port = None
        self.extensions = []  # per connection, in accept order
        self.paths = []
        self.messages = 0
        self.close_codes = []
        self.errors = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._thread.start()
        if not self._ready.wait(IO_TIMEOUT) or self.port is None:
            raise AssertionError(f"python echo server did not start: {self.errors}")

    def _main(self):
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._start())
        except Exception as e:  # reported by the constructor
            self.errors.append(repr(e))
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    async def _start(self):
        self._server = await websockets.serve(
            self._echo,
            "127.0.0.1",
            0,
            compression="deflate" if self.deflate else None,
            max_size=MAX_MESSAGE,
            ping_interval=None,
            close_timeout=IO_TIMEOUT,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def _echo(self, ws, path=None):
        self.extensions.append(extension_names(ws))
        self.paths.append(path if path is not None else getattr(ws, "path", None))
        try:
            async for message in ws:
                self.messages += 1
                await ws.send(message)
        except websockets.exceptions.ConnectionClosed:
            pass
        self.close_codes.append(ws.close_code)

    def url(self, path="/echo"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def close(self):
        async def stop():
            self._server.close()
            await self._server.wait_closed()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(IO_TIMEOUT)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=IO_TIMEOUT)
        self._loop.close()


@pytest.fixture
def py_echo_server():
    """py_echo_server(deflate=True) starts a Python echo server; all are
    closed at the end of the test."""
    started = []

    def start(deflate=True):
        s = PyEchoServer(deflate)
        started.append(s)
        return s

    yield start
    for s in started:
        s.close()


# ---- Raw handshakes, for what a well-behaved client would never send -------


def handshake_key():
    import base64

    return base64.b64encode(os.urandom(16)).decode()


def raw_exchange(port, request, timeout=IO_TIMEOUT):
    """Sends raw bytes and reads the response head (up to the blank line,
    or EOF). Returns (status, headers as a lower-cased dict, rest)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        data = b""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in data:
            assert time.monotonic() < deadline, f"no response head: {data[:200]!r}"
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), f"not an HTTP response: {data[:200]!r}"
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, rest


def upgrade_request(path="/", host="127.0.0.1", **overrides):
    """A valid RFC 6455 opening handshake, with headers replaced or (value
    None) left out."""
    headers = {
        "Host": host,
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": handshake_key(),
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        match = [k for k in headers if k.lower() == name.lower()]
        for k in match:
            del headers[k]
        if value is not None:
            headers[match[0] if match else name] = value
    text = f"GET {path} HTTP/1.1\r\n"
    text += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return (text + "\r\n").encode("latin-1")


def masked_frame(opcode, payload, fin=True, rsv1=False):
    """One client frame (masked, as RFC 6455 requires), for frames the
    python library refuses to send (bad UTF-8 and the like)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, 0x80 | n])
    elif n < 1 << 16:
        head = bytes([first, 0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 0x80 | 127]) + n.to_bytes(8, "big")
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i & 3] for i, b in enumerate(payload))


def read_frame(s, timeout=IO_TIMEOUT):
    """Reads one (unmasked, server) frame: (fin, opcode, payload)."""
    s.settimeout(timeout)
    b0, b1 = recv_exactly(s, 2)
    assert not b1 & 0x80, "a server frame must not be masked"
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(recv_exactly(s, 2), "big")
    elif n == 127:
        n = int.from_bytes(recv_exactly(s, 8), "big")
    return bool(b0 & 0x80), b0 & 0x0F, recv_exactly(s, n) if n else b""


def raw_upgrade(port, path="/"):
    """A raw socket past a successful handshake (no extensions)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.sendall(upgrade_request(path))
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(1)  # byte by byte: nothing past the head is consumed
        assert chunk, f"EOF during the handshake: {data!r}"
        data += chunk
    assert data.startswith(b"HTTP/1.1 101 "), data
    return s

"""Helpers for the HTTP integration tests: a strict little response reader
over a raw socket (for pipelining and error cases http.client hides)."""

import socket
import time

from conftest import IO_TIMEOUT


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (lower-case name, value)
        self.body = body

    def header(self, name):
        name = name.lower()
        for n, v in self.headers:
            if n == name:
                return v
        return None


class Reader:
    """Reads HTTP/1.1 responses from a socket, one at a time, in order."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"timed out (have {self.buf[:120]!r})")
        self.sock.settimeout(left)
        b = self.sock.recv(65536)
        if not b:
            raise EOFError(f"EOF (have {self.buf[:120]!r})")
        self.buf += b

    def read(self, head_request=False, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            self._fill(deadline)
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1", lines[0]
        headers = []
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name and name == name.strip(), line
            headers.append((name.lower(), value.strip()))
        resp = Response(int(status), reason, headers, b"")
        if head_request or resp.status in (100, 101, 204, 304):
            return resp
        length = resp.header("content-length")
        if resp.header("transfer-encoding") == "chunked":
            resp.body = self._chunked(deadline)
        elif length is not None:
            n = int(length)
            while len(self.buf) < n:
                self._fill(deadline)
            resp.body, self.buf = self.buf[:n], self.buf[n:]
        else:
            while True:
                try:
                    self._fill(deadline)
                except EOFError:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def _chunked(self, deadline):
        body = b""
        while True:
            while b"\r\n" not in self.buf:
                self._fill(deadline)
            line, _, self.buf = self.buf.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            while len(self.buf) < size + 2:
                self._fill(deadline)
            body += self.buf[:size]
            assert self.buf[size : size + 2] == b"\r\n"
            self.buf = self.buf[size + 2 :]
            if size == 0:
                return body

    def expect_eof(self, timeout=IO_TIMEOUT):
        """True once the peer closed (EOF or reset) with nothing more sent."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except EOFError:
                return self.buf == b""
            except ConnectionResetError:
                return self.buf == b""


def request(method, target, headers=None, body=b"", version="HTTP/1.1"):
    lines = [f"{method} {target} {version}"]
    hdrs = {"Host": "localhost"}
    hdrs.update(headers or {})
    for n, v in hdrs.items():
        if v is not None:
            lines.append(f"{n}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s

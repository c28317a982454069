"""Helpers for the HTTP client examples' tests (http-proxy, fanout): a
Python backend on 127.0.0.1:0 in a thread, and a small GET helper."""

import http.client
import http.server
import json
import threading
import time
import urllib.parse

from conftest import IO_TIMEOUT


def pattern(n):
    """n deterministic bytes (so a test can check a large body exactly)."""
    block = bytes(range(256)) * 4096
    out = bytearray()
    while len(out) < n:
        out += block[: n - len(out)]
    return bytes(out)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real backend

    def setup(self):
        super().setup()
        self.server.connections += 1

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, body, ctype="text/plain", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.hits += 1
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query)
        if u.path == "/text":
            self._send(200, b"hello from python", "text/x-test; charset=utf-8")
        elif u.path.startswith("/status/"):
            code = int(u.path.rsplit("/", 1)[1])
            self._send(code, f"status {code}".encode())
        elif u.path == "/json":
            self._send(200, json.dumps({"py": True, "path": u.path}).encode(), "application/json")
        elif u.path == "/big":
            self._send(200, pattern(int(q["n"][0])), "application/octet-stream")
        elif u.path == "/chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"one ", b"two ", b"three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
                time.sleep(0.01)
            self.wfile.write(b"0\r\n\r\n")
        elif u.path == "/cut":
            # A chunked body whose source dies half-way: no last chunk.
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"5\r\nhalf \r\n")
            self.wfile.flush()
            time.sleep(0.05)
            self.close_connection = True
        elif u.path == "/slow":
            time.sleep(int(q["ms"][0]) / 1000)
            self._send(200, b"slow")
        elif u.path == "/redirect":
            self._send(302, b"", extra=[("Location", "/text")])
        else:
            self._send(404, b"no such thing")


class PyBackend:
    """http.server on 127.0.0.1:0, one thread per connection."""

    def __init__(self):
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.hits = 0
        self.httpd.connections = 0
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def hits(self):
        return self.httpd.hits

    @property
    def connections(self):
        return self.httpd.connections

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def get(port, target, timeout=IO_TIMEOUT):
    """GET target from 127.0.0.1:port; returns (status, headers dict with
    lower-case names, body bytes)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", target)
        r = c.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


def proxied(url):
    """The proxy's target for fetching url."""
    return "/?url=" + urllib.parse.quote(url, safe="")

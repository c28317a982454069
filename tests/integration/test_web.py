"""Integration tests: the `web` example (eddy_static behind the HTTP server),
driven by http.client and raw sockets.

Run: EDDY_BUILD_DIR=build-dir /usr/bin/python3 -m pytest tests/integration/test_web.py
"""

import hashlib
import http.client
import os
import signal
import socket
import subprocess
import time

import pytest

from conftest import IO_TIMEOUT, connect, example_path, recv_until_eof

BIG = 20 * 1024 * 1024 + 13


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """TMP/root is served; TMP/outside must never be reached."""
    base = tmp_path_factory.mktemp("web")
    root = base / "root"
    outside = base / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"SECRET\n")
    (root / "index.html").write_bytes(b"<h1>home</h1>\n")
    (root / "hello.txt").write_bytes(b"hello, world\n")
    (root / "app.js").write_bytes(b"let x = 1;\n")
    (root / "logo.svg").write_bytes(b"<svg/>\n")
    (root / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "blob").write_bytes(b"\x00\x01")
    (root / ".env").write_bytes(b"SECRET\n")
    sub = root / "sub"
    sub.mkdir()
    (sub / "<b>&'q'.txt").write_bytes(b"odd name\n")
    (sub / "plain.txt").write_bytes(b"plain\n")
    (sub / "nested").mkdir()
    (root / "link_out").symlink_to(outside / "secret.txt")
    (root / "rel_out").symlink_to("../outside/secret.txt")
    (root / "dir_out").symlink_to(outside)
    (root / "link_in").symlink_to("hello.txt")
    data = bytearray(os.urandom(1 << 20)) * 20 + b"0123456789abc"
    assert len(data) == BIG
    (root / "big.bin").write_bytes(data)
    return {"root": root, "big_sha": hashlib.sha256(data).hexdigest(), "big": data}


@pytest.fixture
def web(run_example, tree):
    ex = run_example("web", "--path", tree["root"], "--port", "tcp:0:interface=127.0.0.1", "--access-log")
    ex.port_number = ex.port()
    return ex


def client(ex):
    return http.client.HTTPConnection("127.0.0.1", ex.port_number, timeout=IO_TIMEOUT * 3)


def get(ex, path, headers=None, method="GET"):
    c = client(ex)
    try:
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        body = r.read()
        return r, body
    finally:
        c.close()


def raw(ex, request):
    """Sends raw bytes and returns (status, head, body) of the answer, read
    until the server closes (requests say Connection: close)."""
    s = connect(ex.port_number)
    try:
        s.sendall(request)
        data = recv_until_eof(s)
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, head.decode("latin-1"), body


# ---- Files, index, listing, MIME ------------------------------------------


def test_index_and_file(web):
    r, body = get(web, "/")
    assert r.status == 200
    assert body == b"<h1>home</h1>\n"
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    r, body = get(web, "/hello.txt")
    assert r.status == 200 and body == b"hello, world\n"
    assert r.getheader("Content-Length") == "13"
    assert r.getheader("Accept-Ranges") == "bytes"
    assert r.getheader("ETag").startswith('"')
    assert r.getheader("Last-Modified").endswith(" GMT")


def test_mime_types(web):
    want = {
        "/hello.txt": "text/plain; charset=utf-8",
        "/app.js": "text/javascript; charset=utf-8",
        "/logo.svg": "image/svg+xml; charset=utf-8",
        "/pic.png": "image/png",
        "/blob": "application/octet-stream",
    }
    for path, ctype in want.items():
        r, _ = get(web, path)
        assert r.status == 200, path
        assert r.getheader("Content-Type") == ctype, path
        assert r.getheader("X-Content-Type-Options") == "nosniff"


def test_listing_escapes_names(web):
    r, body = get(web, "/sub/")
    assert r.status == 200
    assert r.getheader("Content-Type") == "text/html; charset=utf-8"
    text = body.decode()
    assert "Index of /sub/" in text
    assert "&lt;b&gt;&amp;&#39;q&#39;.txt" in text
    assert 'href="%3Cb%3E%26%27q%27.txt"' in text
    assert "<b>&" not in text
    assert 'href="nested/"' in text
    # the link works
    r, body = get(web, "/sub/%3Cb%3E%26%27q%27.txt")
    assert r.status == 200 and body == b"odd name\n"
    # a directory without its slash is redirected
    r, _ = get(web, "/sub")
    assert r.status == 301
    assert r.getheader("Location") == "/sub/"
    r, _ = get(web, "/sub/nested?x=1")
    assert r.getheader("Location") == "/sub/nested/?x=1"


def test_dotfiles_hidden(web):
    r, body = get(web, "/.env")
    assert r.status == 404 and b"SECRET" not in body
    r, body = get(web, "/")
    assert r.status == 200  # the index, not a listing showing .env
    r, body = get(web, "/sub/")
    assert r.status == 200 and b".env" not in body


# ---- Validators --------------------------------------------------------------


def test_304_on_both_validators(web):
    r, _ = get(web, "/hello.txt")
    etag, lm = r.getheader("ETag"), r.getheader("Last-Modified")
    r, body = get(web, "/hello.txt", {"If-None-Match": etag})
    assert r.status == 304 and body == b""
    assert r.getheader("ETag") == etag
    r, body = get(web, "/hello.txt", {"If-Modified-Since": lm})
    assert r.status == 304 and body == b""
    r, body = get(web, "/hello.txt", {"If-None-Match": '"nope"'})
    assert r.status == 200 and body == b"hello, world\n"
    r, body = get(web, "/hello.txt", {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"})
    assert r.status == 200
    r, _ = get(web, "/hello.txt", {"If-Match": '"nope"'})
    assert r.status == 412


# ---- Ranges ------------------------------------------------------------------


def test_ranges(web):
    r, body = get(web, "/hello.txt", {"Range": "bytes=0-4"})
    assert r.status == 206 and body == b"hello"
    assert r.getheader("Content-Range") == "bytes 0-4/13"
    r, body = get(web, "/hello.txt", {"Range": "bytes=-6"})
    assert r.status == 206 and body == b"world\n"
    r, body = get(web, "/hello.txt", {"Range": "bytes=7-"})
    assert body == b"world\n"
    r, _ = get(web, "/hello.txt", {"Range": "bytes=100-"})
    assert r.status == 416
    assert r.getheader("Content-Range") == "bytes */13"
    r, body = get(web, "/hello.txt", {"Range": "bytes=0-1,3-4"})
    assert r.status == 200 and body == b"hello, world\n"
    r, _ = get(web, "/hello.txt", {"Range": "bytes=0-4", "If-Range": '"stale"'})
    assert r.status == 200


def test_range_of_big_file(web, tree):
    start, end = 5 * 1024 * 1024 + 3, 9 * 1024 * 1024 + 11
    r, body = get(web, "/big.bin", {"Range": f"bytes={start}-{end}"})
    assert r.status == 206
    assert body == bytes(tree["big"][start : end + 1])


def test_head(web):
    r, body = get(web, "/big.bin", method="HEAD")
    assert r.status == 200 and body == b""
    assert r.getheader("Content-Length") == str(BIG)
    r, _ = get(web, "/hello.txt", method="POST")
    assert r.status == 405
    assert r.getheader("Allow") == "GET, HEAD"


# ---- Large files ---------------------------------------------------------------


def test_big_file_intact(web, tree):
    c = client(web)
    try:
        # twice on one keep-alive connection
        for _ in range(2):
            c.request("GET", "/big.bin")
            r = c.getresponse()
            assert r.status == 200
            assert r.getheader("Content-Length") == str(BIG)
            h = hashlib.sha256()
            got = 0
            while True:
                b = r.read(1 << 20)
                if not b:
                    break
                h.update(b)
                got += len(b)
            assert got == BIG
            assert h.hexdigest() == tree["big_sha"]
    finally:
        c.close()


def test_slow_reader_and_early_goodbye(web, tree):
    """A client that reads slowly gets every byte; one that leaves halfway
    does not disturb the server."""
    s = connect(web.port_number)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)  # the server waits for the window to open (backpressure)
    got = s.recv(65536)
    assert got.startswith(b"HTTP/1.1 200")
    s.close()  # mid-transfer
    s = connect(web.port_number)
    s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        b = s.recv(256 * 1024)
        if not b:
            break
        data += b
        time.sleep(0.001)
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert len(body) == BIG
    assert hashlib.sha256(body).hexdigest() == tree["big_sha"]
    r, _ = get(web, "/hello.txt")
    assert r.status == 200


# ---- Nothing outside the root --------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "/../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/",
        "/%2e%2e/etc/passwd",
        "/%2e%2e/outside/secret.txt",
        "/a/%2e%2e/%2e%2e/",
        "/a/%2e%2e/%2e%2e/outside/secret.txt",
        "/sub/%2e%2e/%2e%2e/outside/secret.txt",
        "/..%2f..%2foutside%2fsecret.txt",
        "/%2e%2e%5c%2e%2e%5coutside%5csecret.txt",
        "/%252e%252e/outside/secret.txt",
        "/link_out",
        "/rel_out",
        "/dir_out/secret.txt",
        "/dir_out/",
        "/.env",
        "http://127.0.0.1/../outside/secret.txt",
        "http://127.0.0.1/%2e%2e/outside/secret.txt",
    ],
)
def test_no_traversal(web, target):
    req = f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    status, head, body = raw(web, req)
    assert status in (400, 403, 404), (target, head)
    assert b"SECRET" not in body
    assert b"root:" not in body


def test_symlink_inside_and_absolute_form(web):
    status, _, body = raw(web, b"GET /link_in HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and body == b"hello, world\n"
    status, _, body = raw(web, b"GET http://127.0.0.1/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200 and body == b"hello, world\n"


# ---- The program -----------------------------------------------------------------


def test_access_log_and_graceful_stop(web):
    get(web, "/hello.txt")
    web.wait_for(r"event=http\.access .*target=/hello\.txt status=200")
    assert web.stop(signal.SIGINT) == 0
    web.wait_for(r"event=stopped clean=yes")


def test_usage_errors(tree, tmp_path):
    exe = str(example_path("web"))
    r = subprocess.run([exe, "--help"], capture_output=True, timeout=10)
    assert r.returncode == 0 and b"--path" in r.stdout
    r = subprocess.run([exe], capture_output=True, timeout=10)
    assert r.returncode == 2 and b"--path" in r.stderr
    r = subprocess.run([exe, "--path", str(tmp_path / "nope"), "--port", "tcp:0"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"cannot serve" in r.stderr
    r = subprocess.run([exe, "--path", str(tree["root"]), "--port", "bogus:1"], capture_output=True, timeout=10)
    assert r.returncode == 1 and b"cannot listen" in r.stderr

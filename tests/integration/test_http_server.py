"""Integration tests of the HTTP/1.1 server, through examples/http-hello:
Python's http.client for the ordinary exchanges, raw sockets for
pipelining, 100-continue, chunked bodies and the error cases."""

import http.client
import signal
import socket
import time

import pytest

from conftest import IO_TIMEOUT
from http_support import Reader, connect, request

PLAIN = b"Hello, World!"
JSON = b'{"message":"Hello, World!"}'


def start(run_example, *args):
    ex = run_example("http-hello", "--port", "tcp:0:interface=127.0.0.1", *args)
    return ex, ex.port()


def test_help(run_example):
    import subprocess

    from conftest import example_path

    out = subprocess.run([str(example_path("http-hello")), "--help"], capture_output=True, timeout=10)
    assert out.returncode == 0
    assert b"--port" in out.stdout and b"--idle-timeout" in out.stdout
    bad = subprocess.run([str(example_path("http-hello")), "--nope"], capture_output=True, timeout=10)
    assert bad.returncode == 2


def test_keep_alive_with_http_client(run_example):
    _, port = start(run_example)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
    conn.request("GET", "/plaintext")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == PLAIN
    assert r.getheader("Content-Type") == "text/plain"
    assert r.getheader("Server", "").startswith("eddy/")
    assert r.getheader("Date", "").endswith(" GMT")
    sock = conn.sock
    conn.request("GET", "/json")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == JSON
    assert r.getheader("Content-Type") == "application/json"
    conn.request("GET", "/nothing")
    r = conn.getresponse()
    assert r.status == 404 and r.read().startswith(b"Not Found")
    assert conn.sock is sock, "the connection was not kept alive"
    conn.close()


def test_head(run_example):
    _, port = start(run_example)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
    conn.request("HEAD", "/plaintext")
    r = conn.getresponse()
    assert r.status == 200
    assert r.getheader("Content-Length") == str(len(PLAIN))
    assert r.read() == b""
    conn.request("GET", "/plaintext")
    assert conn.getresponse().read() == PLAIN
    conn.close()


def test_pipelining_keeps_order(run_example):
    _, port = start(run_example)
    s = connect(port)
    paths = ["/plaintext", "/json", "/missing"] * 40
    s.sendall(b"".join(request("GET", p) for p in paths))
    rd = Reader(s)
    for p in paths:
        r = rd.read()
        if p == "/plaintext":
            assert (r.status, r.body) == (200, PLAIN)
        elif p == "/json":
            assert (r.status, r.body) == (200, JSON)
        else:
            assert r.status == 404
    # Still open and usable.
    s.sendall(request("GET", "/json"))
    assert rd.read().body == JSON
    s.close()


def test_pipelining_byte_by_byte(run_example):
    _, port = start(run_example)
    s = connect(port)
    data = request("GET", "/plaintext") + request("HEAD", "/json") + request("GET", "/json")
    for i in range(len(data)):
        s.send(data[i : i + 1])
    rd = Reader(s)
    assert rd.read().body == PLAIN
    head = rd.read(head_request=True)
    assert head.status == 200 and head.header("content-length") == str(len(JSON))
    assert rd.read().body == JSON
    s.close()


def test_expect_100_continue(run_example):
    _, port = start(run_example)
    s = connect(port)
    s.sendall(request("POST", "/plaintext", {"Content-Length": "5", "Expect": "100-continue"}))
    rd = Reader(s)
    interim = rd.read()
    assert interim.status == 100
    s.sendall(b"hello")
    final = rd.read()
    assert final.status == 404  # http-hello only answers GET
    s.sendall(request("GET", "/plaintext"))
    assert rd.read().body == PLAIN
    s.close()


def test_chunked_request_body(run_example):
    _, port = start(run_example)
    s = connect(port)
    body = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    s.sendall(request("POST", "/json", {"Transfer-Encoding": "chunked"}, body))
    rd = Reader(s)
    assert rd.read().status == 404
    s.sendall(request("GET", "/json"))
    assert rd.read().body == JSON
    s.close()


def test_http10(run_example):
    _, port = start(run_example)
    s = connect(port)
    s.sendall(request("GET", "/plaintext", {"Host": None}, version="HTTP/1.0"))
    rd = Reader(s)
    r = rd.read()
    assert r.body == PLAIN and r.header("connection") == "close"
    assert rd.expect_eof()
    s.close()
    s = connect(port)
    s.sendall(request("GET", "/plaintext", {"Connection": "keep-alive"}, version="HTTP/1.0"))
    rd = Reader(s)
    assert rd.read().header("connection") == "keep-alive"
    s.sendall(request("GET", "/json", {"Connection": "keep-alive"}, version="HTTP/1.0"))
    assert rd.read().body == JSON
    s.close()


ERRORS = [
    (400, b"GET /plaintext HTTP/1.1\r\n\r\n"),  # no Host
    (400, b"GET /plaintext HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n"),
    (400, b"GET /plaintext HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"),
    (400, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
    (400, b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n"),
    (413, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n"),
    (414, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    (431, b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: y\r\n" % i for i in range(150)) + b"\r\n"),
    (431, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"v" * 70000 + b"\r\n\r\n"),
    (501, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
    (505, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"),
    (417, b"GET / HTTP/1.1\r\nHost: x\r\nExpect: something\r\n\r\n"),
]


@pytest.mark.parametrize("status,data", ERRORS, ids=[f"{s}-{i}" for i, (s, _) in enumerate(ERRORS)])
def test_errors_close_the_connection(run_example, status, data):
    _, port = start(run_example)
    s = connect(port)
    # A good request first: its answer comes before the error's.
    s.sendall(request("GET", "/plaintext") + data)
    rd = Reader(s)
    assert rd.read().body == PLAIN
    r = rd.read()
    assert r.status == status, (r.status, r.body)
    assert r.header("connection") == "close"
    assert r.header("content-type", ) == "text/plain; charset=utf-8"
    assert rd.expect_eof(), "the connection stayed open after a bad request"
    s.close()


def test_idle_timeout(run_example):
    _, port = start(run_example, "--idle-timeout", "300")
    s = connect(port)
    s.sendall(request("GET", "/plaintext"))
    rd = Reader(s)
    assert rd.read().body == PLAIN
    t0 = time.monotonic()
    assert rd.expect_eof(timeout=5)
    assert 0.2 < time.monotonic() - t0 < 3
    s.close()


def test_connection_limit(run_example):
    ex, port = start(run_example, "--max-connections", "2")
    keep = []
    for _ in range(2):
        s = connect(port)
        s.sendall(request("GET", "/plaintext"))
        assert Reader(s).read().body == PLAIN
        keep.append(s)
    extra = connect(port)  # accepted by the kernel, closed by the server
    try:
        extra.sendall(request("GET", "/plaintext"))
        assert Reader(extra).expect_eof()
    except (ConnectionResetError, BrokenPipeError):
        pass
    extra.close()
    keep[0].close()
    # A slot is free again once the server saw the close.
    deadline = time.monotonic() + IO_TIMEOUT
    while True:
        s = connect(port)
        try:
            s.sendall(request("GET", "/plaintext"))
            assert Reader(s).read().body == PLAIN
            s.close()
            break
        except (EOFError, ConnectionResetError, BrokenPipeError):
            s.close()
            assert time.monotonic() < deadline, "no slot freed"
            time.sleep(0.05)
    keep[1].close()


def test_access_log(run_example):
    ex, port = start(run_example, "--access-log")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
    conn.request("GET", "/json?x=1", headers={"User-Agent": "itest/1"})
    assert conn.getresponse().read() == JSON
    conn.close()
    m = ex.wait_for(r"event=http\.access .*method=GET target=\"?/json\?x=1\"? status=200 bytes=27 us=\d+ ua=itest/1")
    assert m
    # What the server refuses itself is logged too, with the reason.
    s = connect(port)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n")
    assert Reader(s).read().status == 400
    s.close()
    assert ex.wait_for(r"event=http\.refused peer=\S+ status=400 detail=\"Bad Request: invalid header name")


def test_graceful_stop(run_example):
    ex, port = start(run_example)
    s = connect(port)
    s.sendall(request("GET", "/plaintext"))
    rd = Reader(s)
    assert rd.read().body == PLAIN
    # An idle keep-alive connection does not hold the stop up.
    ex.send_signal(signal.SIGTERM)
    assert ex.wait(timeout=10) == 0
    assert rd.expect_eof()
    s.close()

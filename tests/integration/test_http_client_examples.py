"""Integration tests: the HTTP client's examples, http-proxy and fanout,
against real backends (Python's http.server, and fanout in backend mode).

Run: /usr/bin/python3 -m pytest tests/integration (EDDY_BUILD_DIR=build-dir).
"""

import hashlib
import http.client
import json
import socket
import statistics
import subprocess
import threading
import time

import pytest

from conftest import IO_TIMEOUT, example_path
from http_client_support import PyBackend, get, pattern, proxied


@pytest.fixture
def py_backend():
    b = PyBackend()
    yield b
    b.close()


def run_tool(name, *args, timeout=30):
    return subprocess.run(
        [str(example_path(name))] + [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        text=True,
    )


def free_port():
    """A port nobody listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---- http-proxy ---------------------------------------------------------------


@pytest.fixture
def proxy(run_example):
    ex = run_example("http-proxy", "--port", "tcp:0", "--timeout", "1000")
    return ex.port(), ex


def test_proxy_passes_status_type_and_body(proxy, py_backend):
    port, _ = proxy
    status, headers, body = get(port, proxied(py_backend.base + "/text"))
    assert status == 200
    assert headers["content-type"] == "text/x-test; charset=utf-8"
    assert body == b"hello from python"
    status, _, body = get(port, proxied(py_backend.base + "/status/404"))
    assert (status, body) == (404, b"status 404")
    status, _, body = get(port, proxied(py_backend.base + "/status/503"))
    assert (status, body) == (503, b"status 503")
    # Redirects are followed: the final answer comes back.
    status, _, body = get(port, proxied(py_backend.base + "/redirect"))
    assert (status, body) == (200, b"hello from python")


def test_proxy_streams_large_and_chunked_bodies(proxy, py_backend):
    port, _ = proxy
    n = 5 << 20
    status, headers, body = get(port, proxied(f"{py_backend.base}/big?n={n}"), timeout=60)
    assert status == 200
    assert headers["content-length"] == str(n)
    assert hashlib.sha256(body).digest() == hashlib.sha256(pattern(n)).digest()
    status, _, body = get(port, proxied(py_backend.base + "/chunked"))
    assert (status, body) == (200, b"one two three")


def test_proxy_slow_reader_gets_everything(proxy, py_backend):
    """Backpressure: a client that reads slowly still receives the whole body
    intact (the proxy pauses the upstream instead of buffering it all)."""
    port, _ = proxy
    n = 8 << 20
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    s.sendall(f"GET {proxied(f'{py_backend.base}/big?n={n}')} HTTP/1.1\r\nHost: x\r\n"
              "Connection: close\r\n\r\n".encode())
    time.sleep(0.5)  # let every buffer on the way fill up
    data = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        data += b
    s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert hashlib.sha256(body).digest() == hashlib.sha256(pattern(n)).digest()


def test_proxy_upstream_failures_are_502(proxy, py_backend):
    port, _ = proxy
    dead = free_port()
    status, headers, body = get(port, proxied(f"http://127.0.0.1:{dead}/"))
    assert status == 502
    assert headers["content-type"].startswith("text/plain")
    assert b"upstream failed: connect to 127.0.0.1" in body
    assert b"connection refused" in body
    # The proxy was started with --timeout 1000.
    status, _, body = get(port, proxied(py_backend.base + "/slow?ms=3000"))
    assert status == 502
    assert b"timeout after 1000 ms" in body


def test_proxy_cut_upstream_is_cut_downstream(proxy, py_backend):
    """An upstream that dies after its head: the proxy cannot say 502 any
    more, so it gives the response up (eddy_http_abort) and our client sees
    an incomplete body, never one that looks whole."""
    port, _ = proxy
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.sendall(f"GET {proxied(py_backend.base + '/cut')} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = bytearray()
    while True:
        try:
            b = s.recv(1 << 16)
        except ConnectionResetError:
            break
        if not b:
            break
        data += b
    s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"transfer-encoding: chunked" in head.lower()
    assert b"half " in body
    assert not body.endswith(b"0\r\n\r\n")


def test_proxy_bad_urls_are_400(proxy):
    port, _ = proxy
    for target, words in [
        ("/", b"missing the url parameter"),
        ("/?url=", b"missing the url parameter"),
        (proxied("ftp://example.com/"), b"bad url: unsupported scheme"),
        (proxied("https://example.com/"), b"TLS"),
        (proxied("http://exa mple.com/"), b"bad url: invalid"),
        ("/?url=%zz", b""),
    ]:
        status, _, body = get(port, target)
        assert status == 400, (target, body)
        assert words in body, (target, body)


def test_proxy_survives_a_client_that_leaves_mid_transfer(proxy, py_backend):
    port, ex = proxy
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    s.sendall(f"GET {proxied(f'{py_backend.base}/big?n={20 << 20}')} HTTP/1.1\r\n"
              "Host: x\r\n\r\n".encode())
    s.recv(1000)
    s.close()
    time.sleep(0.2)
    assert ex.proc.poll() is None
    status, _, body = get(port, proxied(py_backend.base + "/text"))
    assert (status, body) == (200, b"hello from python")


def test_proxy_reuses_upstream_connections(proxy, py_backend):
    port, _ = proxy
    for _ in range(5):
        status, _, _ = get(port, proxied(py_backend.base + "/text"))
        assert status == 200
    assert py_backend.hits == 5
    assert py_backend.connections == 1


def test_proxy_stops_cleanly(run_example, py_backend):
    ex = run_example("http-proxy", "--port", "tcp:0")
    port = ex.port()
    assert get(port, proxied(py_backend.base + "/text"))[0] == 200
    assert ex.stop() == 0


# ---- fanout -------------------------------------------------------------------------


@pytest.fixture
def backends(run_example):
    """Three fanout processes in backend mode, each answering after 10 ms."""
    procs = [run_example("fanout", "--port", "tcp:0", "--backend-mode", "10") for _ in range(3)]
    return [f"http://127.0.0.1:{p.port()}/api/{i}" for i, p in enumerate(procs)]


def start_fanout(run_example, urls):
    args = ["--port", "tcp:0"]
    for u in urls:
        args += ["--backend", u]
    ex = run_example("fanout", *args)
    return ex.port(), ex


def test_backend_mode_answers_after_its_delay(run_example):
    ex = run_example("fanout", "--port", "tcp:0", "--backend-mode", "200")
    port = ex.port()
    t0 = time.monotonic()
    status, headers, body = get(port, "/x/y")
    took = time.monotonic() - t0
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"delay_ms": 200, "path": "/x/y"}
    assert 0.19 <= took < 2.0


def test_fanout_combines_three_answers(run_example, backends):
    port, _ = start_fanout(run_example, backends)
    status, headers, body = get(port, "/")
    assert status == 200
    assert headers["content-type"] == "application/json"
    doc = json.loads(body)
    assert [r["backend"] for r in doc["results"]] == backends
    for i, r in enumerate(doc["results"]):
        assert r["status"] == 200
        assert r["body"] == {"delay_ms": 10, "path": f"/api/{i}"}
    assert doc["elapsed_us"] >= 10000


def test_fanout_calls_backends_concurrently(run_example, backends):
    """Three 10 ms backends answer in about 10 ms, not 30."""
    port, _ = start_fanout(run_example, backends)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
    times, reported = [], []
    try:
        for i in range(25):
            t0 = time.monotonic()
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read()
            took = time.monotonic() - t0
            assert r.status == 200
            if i >= 5:  # after the pools are warm
                times.append(took)
                reported.append(json.loads(body)["elapsed_us"] / 1000)
    finally:
        c.close()
    assert statistics.median(times) < 0.025, times
    assert statistics.median(reported) < 25, reported


def test_fanout_under_concurrent_load(run_example, backends):
    port, _ = start_fanout(run_example, backends)
    results = []

    def client():
        for _ in range(5):
            status, _, body = get(port, "/")
            results.append((status, len(json.loads(body)["results"])))

    threads = [threading.Thread(target=client) for _ in range(10)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    took = time.monotonic() - t0
    assert results == [(200, 3)] * 50
    # 5 rounds of ~10 ms each, with 10 clients at once: far below serial 1.5 s.
    assert took < 1.0, took


def test_fanout_reports_a_failed_backend(run_example, backends, py_backend):
    dead = f"http://127.0.0.1:{free_port()}/gone"
    urls = [backends[0], dead, py_backend.base + "/json"]
    port, _ = start_fanout(run_example, urls)
    status, _, body = get(port, "/")
    assert status == 502
    doc = json.loads(body)
    assert doc["results"][0]["status"] == 200
    assert "connection refused" in doc["results"][1]["error"]
    assert doc["results"][1]["backend"] == dead
    assert doc["results"][2] == {"backend": urls[2], "status": 200,
                                 "body": {"py": True, "path": "/json"}}
    # A backend answering 404 also makes the whole answer 502.
    port, _ = start_fanout(run_example, [backends[0], backends[1], py_backend.base + "/nope"])
    status, _, body = get(port, "/")
    assert status == 502
    assert json.loads(body)["results"][2] == {"backend": py_backend.base + "/nope",
                                              "status": 404, "body": "no such thing"}


def test_fanout_stops_cleanly_with_requests_in_flight(run_example):
    slow = run_example("fanout", "--port", "tcp:0", "--backend-mode", "300")
    url = f"http://127.0.0.1:{slow.port()}/"
    port, ex = start_fanout(run_example, [url, url, url])
    out = {}

    def ask():
        out["r"] = get(port, "/")

    t = threading.Thread(target=ask)
    t.start()
    time.sleep(0.1)
    assert ex.stop() == 0  # waits for the answer in flight, then exits
    t.join(timeout=10)
    assert out["r"][0] == 200
    assert slow.stop() == 0


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--backend", "http://127.0.0.1:1/"],
        ["--backend", "ftp://x/", "--backend", "http://a/", "--backend", "http://b/"],
        ["--backend-mode", "-5"],
        ["--backend-mode", "10", "--backend", "http://a/"],
        ["--bogus"],
    ],
)
def test_fanout_bad_arguments(args):
    r = run_tool("fanout", *args)
    assert r.returncode == 2, r.stderr
    assert "fanout:" in r.stderr or "usage:" in r.stderr


@pytest.mark.parametrize("name", ["fanout", "http-proxy"])
def test_help_exits_zero(name):
    r = run_tool(name, "--help")
    assert r.returncode == 0
    assert r.stdout.startswith("usage:")

"""eddyd's web port: the embedded pages, /status, /metrics, the real-time hub
behind /connect/websocket and /sockjs, the publish line protocol, the JSON
API, configuration errors and a clean stop with clients connected.

Every eddyd here listens on loopback port 0 for each service and the test
reads the real ports from its `event=ready` lines.
"""

import asyncio
import hashlib
import http.client
import json
import re
import signal
import socket
import subprocess
import time

import pytest

from conftest import REPO, Lines, connect, sock_dir  # noqa: F401 (fixture)
from eddyd_support import (
    eddyd,  # noqa: F401 (fixture)
    run_eddyd,
)
from ws_support import connect as ws_connect
from ws_support import run

LOCAL = "tcp:0:interface=127.0.0.1"
WEB = REPO / "web"
PAGES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/demo": ("demo.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/eddy.js": ("eddy.js", "text/javascript; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/demo.js": ("demo.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


class Daemon:
    """A running eddyd with every service on a loopback port."""

    def __init__(self, proc):
        self.proc = proc
        self.ports = {s: p for s, _, _, p in proc.ready(4)}
        proc.started()

    @property
    def http(self):
        return self.ports["http"]

    def request(self, method, target, headers=None, body=None):
        """One request on a fresh connection: (status, headers, body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=10)
        try:
            c.request(method, target, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            c.close()

    def json(self, target, headers=None):
        status, hdrs, body = self.request("GET", target, headers)
        assert status == 200, (target, status, body)
        assert hdrs["content-type"].startswith("application/json"), hdrs
        return json.loads(body)

    def ws_url(self):
        return f"ws://127.0.0.1:{self.http}/connect/websocket"


def start(eddyd, *extra):
    return Daemon(
        eddyd("--http", LOCAL, "--locks", LOCAL, "--cache", LOCAL, "--publish", LOCAL, *extra)
    )


# ---- Pages -------------------------------------------------------------------


def test_pages_are_served_with_their_types_and_entity_tags(eddyd):
    d = start(eddyd)
    for path, (name, ctype) in PAGES.items():
        status, hdrs, body = d.request("GET", path)
        assert status == 200, path
        assert body == (WEB / name).read_bytes(), path
        assert hdrs["content-type"] == ctype, path
        assert hdrs["cache-control"] == "no-cache", path
        assert hdrs["x-content-type-options"] == "nosniff"
        etag = hdrs["etag"]
        assert re.fullmatch(r'"[0-9a-f]{20}"', etag), etag
        # The tag is the content's: the same file has the same tag.
        assert etag[1:-1] == hashlib.sha256(body).hexdigest()[:20]
        # Revalidation: 304 without a body while the tag holds.
        status, hdrs304, body = d.request("GET", path, {"If-None-Match": etag})
        assert (status, body) == (304, b""), path
        assert hdrs304["etag"] == etag
        status, _, body = d.request("GET", path, {"If-None-Match": '"other", W/' + etag})
        assert status == 304
        status, _, body = d.request("GET", path, {"If-None-Match": '"stale"'})
        assert status == 200 and body == (WEB / name).read_bytes()
        # HEAD: the head of the GET, no body.
        status, hhead, body = d.request("HEAD", path)
        assert (status, body) == (200, b"")
        assert hhead["content-length"] == str((WEB / name).stat().st_size)
        assert hhead["etag"] == etag


def test_unknown_pages_and_methods(eddyd):
    d = start(eddyd)
    assert d.request("GET", "/nope.html")[0] == 404
    assert d.request("GET", "/web/index.html")[0] == 404
    assert d.request("GET", "/../index.html")[0] in (400, 404)
    status, hdrs, _ = d.request("POST", "/", body=b"x")
    assert status == 405
    assert "GET" in hdrs["allow"]


def test_web_root_serves_a_directory_instead(eddyd, tmp_path):
    (tmp_path / "index.html").write_text("<p>from disk</p>")
    (tmp_path / "demo.html").write_text("<p>demo from disk</p>")
    (tmp_path / "eddy.js").write_text("export const x = 1;\n")
    (tmp_path / "extra.css").write_text("p{}")
    d = start(eddyd, "--web-root", tmp_path)
    assert d.request("GET", "/")[2] == b"<p>from disk</p>"
    assert d.request("GET", "/demo")[2] == b"<p>demo from disk</p>"
    status, hdrs, body = d.request("GET", "/eddy.js")
    assert status == 200 and body == b"export const x = 1;\n"
    assert hdrs["content-type"].startswith("text/javascript"), hdrs
    assert d.request("GET", "/extra.css")[0] == 200
    assert d.request("GET", "/favicon.svg")[0] == 404  # not in that directory
    assert d.request("GET", "/%2e%2e/etc/passwd")[0] == 404
    # The service routes still win over the directory.
    assert d.request("GET", "/status")[0] == 200


# ---- /status and /metrics ----------------------------------------------------


def test_status_describes_every_service(eddyd):
    d = start(eddyd)
    s = d.json("/status")
    assert set(s) >= {"version", "pid", "started_unix", "uptime_s", "services"}
    assert s["pid"] == d.proc.proc.pid
    assert re.fullmatch(r"\d+\.\d+\.\d+", s["version"])
    assert abs(s["started_unix"] - time.time()) < 60
    assert s["uptime_s"] >= 0
    services = {x["name"]: x for x in s["services"]}
    assert set(services) == {"realtime", "http", "locks", "cache", "publish"}
    for x in services.values():
        assert x["state"] == "up", x
        assert isinstance(x["endpoints"], list) and isinstance(x["stats"], dict), x
    assert services["http"]["endpoints"] == [f"127.0.0.1:{d.http}"]
    assert services["locks"]["endpoints"] == [f"127.0.0.1:{d.ports['locks']}"]
    assert services["cache"]["endpoints"] == [f"127.0.0.1:{d.ports['cache']}"]
    assert services["publish"]["endpoints"] == [f"127.0.0.1:{d.ports['publish']}"]
    assert services["realtime"]["endpoints"] == ["/connect/websocket", "/sockjs"]
    assert services["http"]["stats"]["requests_total"] >= 1
    assert "clients" in services["realtime"]["stats"]
    assert "grants_total" in services["locks"]["stats"]
    assert "get_hits" in services["cache"]["stats"]


def test_status_shows_services_that_are_off(eddyd):
    p = eddyd("--http", LOCAL, "--locks", "off", "--cache", "off", "--publish", "off",
              "--sockjs", "no")
    (_, _, _, port), = p.ready(1)
    p.started()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/status")
    s = json.loads(c.getresponse().read())
    c.close()
    states = {x["name"]: (x["state"], x["endpoints"]) for x in s["services"]}
    assert states["locks"] == ("off", [])
    assert states["cache"] == ("off", [])
    assert states["publish"] == ("off", [])
    assert states["realtime"] == ("up", ["/connect/websocket"])


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def parse_prometheus(text):
    """The text exposition format 0.0.4, strictly: every line is a HELP or
    TYPE comment or a sample; every sample's family was TYPEd first.
    Returns {"name{labels}": value}."""
    samples, types = {}, {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, f"not a sample: {line!r}"
        name, labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in types or family in types, f"{name} has no TYPE"
        samples[name + (labels or "")] = float(value)
    return samples, types


def metrics(d):
    status, hdrs, body = d.request("GET", "/metrics")
    assert status == 200
    assert hdrs["content-type"].startswith("text/plain; version=0.0.4"), hdrs
    return parse_prometheus(body.decode())


def total(samples, name):
    """Sum over every label set of one metric."""
    return sum(v for k, v in samples.items() if k == name or k.startswith(name + "{"))


def lock_cycle(port, name):
    s = connect(port)
    try:
        lines = Lines(s)
        s.sendall(f"acquire {name}\r\n".encode())
        assert lines.readline().startswith("OK"), name
        s.sendall(f"release {name}\r\n".encode())
        assert lines.readline().startswith("OK"), name
    finally:
        s.close()


def cache_set_get(port, key):
    s = connect(port)
    try:
        s.sendall(f"set {key} 0 0 2\r\nhi\r\nget {key}\r\nget missing-{key}\r\n".encode())
        got = b""
        while got.count(b"END\r\n") < 2:
            chunk = s.recv(65536)
            assert chunk, got
            got += chunk
        assert got.startswith(b"STORED\r\nVALUE "), got
    finally:
        s.close()


def test_metrics_are_prometheus_text_and_move_with_traffic(eddyd):
    d = start(eddyd)
    before, types = metrics(d)
    assert types.get("eddy_uptime_seconds") == "gauge"
    for name in ("eddy_http_requests_total", "eddy_locks_grants_total",
                 "eddy_cache_get_hits_total", "eddy_cache_sets_total"):
        assert types.get(name) == "counter", (name, sorted(types))
    for i in range(3):
        lock_cycle(d.ports["locks"], f"m{i}")
        cache_set_get(d.ports["cache"], f"k{i}")
    for _ in range(5):
        assert d.request("GET", "/status")[0] == 200
    time.sleep(1.1)  # uptime moves in whole seconds at least once
    after, _ = metrics(d)
    assert total(after, "eddy_locks_grants_total") >= total(before, "eddy_locks_grants_total") + 3
    assert total(after, "eddy_cache_sets_total") >= total(before, "eddy_cache_sets_total") + 3
    assert total(after, "eddy_cache_get_hits_total") >= total(before, "eddy_cache_get_hits_total") + 3
    assert total(after, "eddy_cache_get_misses_total") >= total(before, "eddy_cache_get_misses_total") + 3
    assert total(after, "eddy_http_requests_total") >= total(before, "eddy_http_requests_total") + 5
    assert after["eddy_uptime_seconds"] > before["eddy_uptime_seconds"]
    # Histograms carry cumulative buckets ending in +Inf, and a count.
    count = after.get("eddy_http_request_duration_seconds_count")
    assert count is not None and count >= 6
    inf = [v for k, v in after.items()
           if k.startswith("eddy_http_request_duration_seconds_bucket") and 'le="+Inf"' in k]
    assert inf == [count]


# ---- The real-time hub ---------------------------------------------------------


async def ws_request(ws, msg):
    """Sends a request and returns its reply (pushes before it are kept)."""
    await ws.send(json.dumps(msg))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if reply.get("id") == msg.get("id"):
            return reply


def test_metrics_feed_on_eddy_metrics_with_history(eddyd):
    d = start(eddyd)
    time.sleep(2.5)  # a few snapshots in history first

    async def client():
        async with ws_connect(d.ws_url()) as ws:
            reply = await ws_request(ws, {"op": "subscribe", "id": 1,
                                          "channel": "eddy:metrics", "history": 120})
            assert reply["op"] == "subscribed", reply
            kept = reply["publications"]
            assert len(kept) >= 2, reply
            pushes = []
            deadline = time.monotonic() + 6
            while len(pushes) < 3 and time.monotonic() < deadline:
                m = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if m.get("op") == "message":
                    pushes.append(m)
            # Clients may not publish on eddyd's own channel.
            refused = await ws_request(ws, {"op": "publish", "id": 2,
                                            "channel": "eddy:metrics", "data": {}})
            return kept, pushes, refused

    kept, pushes, refused = run(client())
    assert len(pushes) == 3
    snaps = [p["data"] for p in kept] + [p["data"] for p in pushes]
    for snap in snaps:
        assert set(snap) >= {"time", "counters", "gauges", "histograms"}, snap
        assert "eddy_uptime_seconds" in snap["gauges"]
    times = [s["time"] for s in snaps]
    assert times == sorted(times)
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(500 <= g <= 2500 for g in gaps), gaps
    offsets = [p["offset"] for p in pushes]
    assert offsets == list(range(offsets[0], offsets[0] + 3))
    assert all(p["channel"] == "eddy:metrics" for p in pushes)
    assert refused["op"] == "error" and refused["code"] == 403, refused


def test_publish_line_protocol_reaches_websocket_subscribers(eddyd):
    d = start(eddyd, "--namespace", "chat history=10")

    async def client():
        async with ws_connect(d.ws_url()) as ws:
            reply = await ws_request(ws, {"op": "subscribe", "id": 1, "channel": "chat:room"})
            assert reply["op"] == "subscribed", reply
            s = connect(d.ports["publish"])
            lines = Lines(s)
            s.sendall(b'PUBLISH chat:room {"text":"hello"}\r\n')
            ok = lines.readline().rstrip("\r")
            s.sendall(b'PUBLISH nope:room 1\nPING\n')
            unknown = lines.readline().rstrip("\r")
            pong = lines.readline().rstrip("\r")
            s.close()
            while True:
                m = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if m.get("op") == "message":
                    return ok, unknown, pong, m

    ok, unknown, pong, m = run(client())
    assert re.fullmatch(r"OK 1 \S+", ok), ok
    assert unknown.startswith("ERR 404 "), unknown
    assert pong == "PONG"
    assert m["channel"] == "chat:room" and m["data"] == {"text": "hello"} and m["offset"] == 1


def test_publish_token_is_required_when_set(eddyd):
    d = start(eddyd, "--publish-token", "pub-secret")
    s = connect(d.ports["publish"])
    try:
        lines = Lines(s)
        s.sendall(b"PUBLISH news 1\n")
        assert lines.readline().startswith("ERR 401"), "published without AUTH"
    finally:
        s.close()
    s = connect(d.ports["publish"])
    try:
        lines = Lines(s)
        s.sendall(b"AUTH pub-secret\nPUBLISH news 1\n")
        assert lines.readline().rstrip("\r") == "OK"
        assert lines.readline().startswith("OK "), "AUTH did not open publishing"
    finally:
        s.close()


def test_api_is_mounted_and_guarded_by_its_token(eddyd):
    d = start(eddyd, "--api-token", "api-secret")
    status, hdrs, _ = d.request("GET", "/api/locks")
    assert status == 401
    assert hdrs.get("www-authenticate", "").startswith("Bearer")
    got = d.json("/api/locks", {"Authorization": "Bearer api-secret"})
    assert "locks" in got
    status, _, body = d.request(
        "POST", "/api/publish",
        headers={"Authorization": "Bearer api-secret", "Content-Type": "application/json"},
        body=json.dumps({"channel": "news", "data": {"n": 1}}))
    assert status == 200, body
    assert json.loads(body)["channel"] == "news"


def test_access_log_is_off_unless_asked(eddyd):
    d = start(eddyd)
    assert d.request("GET", "/status")[0] == 200
    logged = start(eddyd, "--access-log", "yes")
    assert logged.request("GET", "/status?x=1")[0] == 200
    logged.proc.wait_for(r"\bevent=http\.access\b.*\bGET\b.*/status\?x=1.*\b200\b")
    assert "event=http.access" not in d.proc.stderr_text()


def test_sockjs_is_served_unless_switched_off(eddyd):
    d = start(eddyd)
    status, hdrs, body = d.request("GET", "/sockjs/info")
    assert status == 200, body
    assert json.loads(body)["websocket"] is True
    p = eddyd("--http", LOCAL, "--sockjs", "no", "--locks", "off", "--cache", "off",
              "--publish", "off")
    (_, _, _, port), = p.ready(1)
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request("GET", "/sockjs/info")
    assert c.getresponse().status == 404
    c.close()


def test_sockjs_iframe_loads_the_configured_client(eddyd):
    d = start(eddyd, "--sockjs-client-url", "/static/sockjs.min.js")
    status, hdrs, body = d.request("GET", "/sockjs/iframe.html")
    assert status == 200, body
    assert b'src="/static/sockjs.min.js"' in body, body


def test_realtime_secret_requires_a_token(eddyd):
    d = start(eddyd, "--realtime-secret", "0123456789abcdef0123")

    async def client():
        async with ws_connect(d.ws_url()) as ws:
            await ws.send(json.dumps({"op": "connect", "id": 1, "token": "forged.token"}))
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except Exception:  # the close, as an exception of the library's
                return ws.close_code

    assert run(client()) == 4001


# ---- Configuration errors --------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["--namespace", "eddy history=5"],
         "eddyd: --namespace: the namespace 'eddy' is eddyd's own (its metrics feed) and "
         "cannot be configured"),
        (["--namespace", "chat", "--namespace", "chat history=1"],
         "eddyd: --namespace: namespace 'chat' is given twice"),
        (["--origins", "example.com"],
         "eddyd: --origins: expected an origin such as https://app.example.com or "
         "http://localhost:8000 (no path), or *, got 'example.com'"),
        (["--realtime-secret", "short"],
         "eddyd: --realtime-secret: the secret must be at least 16 bytes (use a long random "
         "string)"),
        (["--realtime-max-clients", "0"],
         "eddyd: --realtime-max-clients: expected a number from 1 to 10000000, got '0'"),
        (["--realtime-send-queue", "1K"],
         "eddyd: --realtime-send-queue: '1K' is out of range (4K to 1G)"),
        (["--publish", "tcp:7702"],
         "eddyd: cache 'tcp:7702' and publish 'tcp:7702' are the same address"),
        (["--sockjs=perhaps"], "eddyd: --sockjs: expected yes or no, got 'perhaps'"),
        (["--sockjs", "perhaps"], "eddyd: unexpected argument 'perhaps' (eddyd takes no operands)"),
        (["--web-root", "/nonexistent/eddy-web"],
         "eddyd: web-root /nonexistent/eddy-web: No such file or directory"),
    ],
)
def test_configuration_errors_exit_2(args, message):
    r = run_eddyd(args)
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines()[0] == message
    assert r.stdout == ""


def test_web_root_must_be_a_directory(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = run_eddyd(["--web-root", f])
    assert r.returncode == 2
    assert r.stderr.strip() == f"eddyd: web-root {f} is not a directory"


def test_bad_namespace_spec_in_a_file_names_the_line(tmp_path):
    conf = tmp_path / "eddyd.conf"
    conf.write_text("namespace = chat history=10\nnamespace = news history=many\n")
    r = run_eddyd(["--config", conf, "--check-config"])
    assert r.returncode == 2
    assert r.stderr.startswith(f"eddyd: {conf}:2: namespace: bad namespace "
                               "'news history=many': "), r.stderr


def test_check_config_prints_the_web_settings(tmp_path):
    r = run_eddyd(["--check-config", "--namespace", "chat history=10 publish=yes",
                   "--origins", "https://a.example.com", "--api-token", "tok-secret",
                   "--realtime-secret", "0123456789abcdef-secret", "--sockjs", "no"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "publish = tcp:7703" in lines
    assert "origins = https://a.example.com" in lines
    assert "sockjs = no" in lines
    assert "access-log = no" in lines
    assert "realtime-max-clients = 100000" in lines
    assert "realtime-send-queue = 1M" in lines
    assert "history-memory = 64M" in lines
    assert "# api-token = (set, not shown)" in lines
    assert "# realtime-secret = (set, not shown)" in lines
    assert "secret" not in r.stdout.replace("realtime-secret", "")
    assert any(l.startswith("namespace = chat ") for l in lines), r.stdout
    assert any(l.startswith("# namespace = eddy ") for l in lines), r.stdout
    again = tmp_path / "again.conf"
    again.write_text(r.stdout)
    r2 = run_eddyd(["--config", again, "--check-config"])
    assert r2.returncode == 0, r2.stderr


def test_publish_without_the_web_port(eddyd):
    p = eddyd("--http", "off", "--publish", LOCAL, "--locks", "off", "--cache", "off")
    (service, _, _, port), = p.ready(1)
    assert service == "publish"
    p.started()
    s = connect(port)
    try:
        lines = Lines(s)
        s.sendall(b"PUBLISH news [1,2]\nPING\n")
        assert re.fullmatch(r"OK 1 \S+", lines.readline().rstrip("\r"))
        assert lines.readline().rstrip("\r") == "PONG"
    finally:
        s.close()
    assert p.stop() == 0
    p.wait_for(r"\bevent=stopped clean=yes\b")


@pytest.mark.parametrize("service", ["http", "publish"])
def test_a_port_in_use_fails_the_start_and_closes_the_rest(sock_dir, service):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    lpath = sock_dir / "l.sock"
    endpoints = {"http": LOCAL, "publish": LOCAL, service: f"tcp:{port}"}
    try:
        r = run_eddyd(["--locks", f"unix:{lpath}", "--cache", "off",
                       "--publish", endpoints["publish"], "--http", endpoints["http"]])
    finally:
        busy.close()
    assert r.returncode == 1, r.stderr
    assert f"eddyd: {service}: cannot listen on tcp:{port}: address already in use" in r.stderr
    assert not lpath.exists(), "the locks socket of a failed start was left behind"


# ---- Stopping -----------------------------------------------------------------------


def read_until(sock, needle, have=b"", timeout=10.0):
    """Reads sock until needle is in what was read (bounded in time)."""
    deadline = time.monotonic() + timeout
    while needle not in have:
        left = deadline - time.monotonic()
        assert left > 0, f"{needle!r} not in {have[-300:]!r}"
        sock.settimeout(left)
        chunk = sock.recv(65536)
        assert chunk, f"closed before {needle!r}: {have[-300:]!r}"
        have += chunk
    return have


def test_sigterm_stops_cleanly_with_clients_connected(eddyd):
    d = start(eddyd, "--namespace", "chat history=10")
    # An idle keep-alive HTTP connection, a lock holder, a cache client and
    # a publisher stay connected through the stop.
    keep = socket.create_connection(("127.0.0.1", d.http), timeout=10)
    keep.sendall(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n")
    assert keep.recv(65536).startswith(b"HTTP/1.1 200")
    holder = connect(d.ports["locks"])
    holder.sendall(b"acquire held\r\n")
    assert Lines(holder).readline().startswith("OK")
    cache = connect(d.ports["cache"])
    publisher = connect(d.ports["publish"])
    sockjs_poll = socket.create_connection(("127.0.0.1", d.http), timeout=10)
    sockjs_poll.sendall(b"POST /sockjs/000/abcdef/xhr_streaming HTTP/1.1\r\nHost: x\r\n"
                        b"Content-Length: 0\r\n\r\n")
    streamed = read_until(sockjs_poll, b"o\n")

    async def client():
        async with ws_connect(d.ws_url()) as ws:
            reply = await ws_request(ws, {"op": "subscribe", "id": 1, "channel": "chat:x"})
            assert reply["op"] == "subscribed"
            started = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            except Exception:
                return ws.close_code, time.monotonic() - started

    code, took = run(client())
    assert code == 4004, code
    assert took < 5
    # The SockJS session is a hub client too: the same code, then the end
    # of the chunked response.
    streamed = read_until(sockjs_poll, b'c[4004,"server stopping"]\n', streamed)
    assert read_until(sockjs_poll, b"0\r\n\r\n", streamed).endswith(b"0\r\n\r\n")
    assert d.proc.wait() == 0
    d.proc.wait_for(r"\bevent=stopped clean=yes\b")
    for s in (keep, holder, cache, publisher, sockjs_poll):
        s.close()


# ---- The embedding script ---------------------------------------------------------


def test_embed_assets_writes_the_table(tmp_path):
    (tmp_path / "a.html").write_bytes(b"<p>\x00\xff</p>")
    (tmp_path / "b.js").write_text("x")
    (tmp_path / "empty.css").write_bytes(b"")
    out = tmp_path / "assets.c"
    script = REPO / "scripts" / "embed-assets"
    files = [tmp_path / "a.html", tmp_path / "b.js", tmp_path / "empty.css"]
    r = subprocess.run(["/usr/bin/python3", script, out, *files], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    tag = hashlib.sha256(b"<p>\x00\xff</p>").hexdigest()[:20]
    assert f'{{"/a.html", "text/html; charset=utf-8", asset_0, 9, "\\"{tag}\\""}},' in text
    assert '"/b.js", "text/javascript; charset=utf-8", asset_1, 1,' in text
    assert '"/empty.css", "text/css; charset=utf-8", asset_2, 0,' in text
    assert "0x3c,0x70,0x3e,0x00,0xff," in text  # bytes as written, then a NUL
    assert "const size_t eddyd_asset_count = 3;" in text
    # Mistakes stop the build with a message.
    (tmp_path / "x.exe").write_text("")
    r = subprocess.run(["/usr/bin/python3", script, out, tmp_path / "x.exe"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "no MIME type known for '.exe'" in r.stderr
    r = subprocess.run(["/usr/bin/python3", script, out, files[1], files[1]],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "b.js is listed twice" in r.stderr

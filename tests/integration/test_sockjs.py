"""The SockJS server (examples/sockjs_echo.c) at the protocol level, every
transport: python's http.client for the HTTP ones, raw sockets for the
streams (chunk by chunk), python3-websockets for the WebSocket ones.

The checks follow the SockJS protocol 0.3.3 as the stock sockjs-client
speaks it: frames, preludes, the response limit (4096 bytes in sockjs-echo,
as the protocol's own test suite asks), CORS and caching headers, the
JSESSIONID cookie, callback checks, session reuse rules and close replay.
"""

import asyncio
import http.client
import json
import re
import socket
import time
import uuid

import pytest
import websockets
import websockets.exceptions

from conftest import IO_TIMEOUT
from ws_support import LOCAL, run

NOT_CACHED = "no-store, no-cache, no-transform, must-revalidate, max-age=0"


@pytest.fixture
def server(run_example):
    p = run_example("sockjs-echo", "--listen", LOCAL)
    return p.port()


def request(port, method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=IO_TIMEOUT)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r, data


def sid():
    return "/000/" + uuid.uuid4().hex


class Stream:
    """A streaming response read one chunk at a time (each frame the server
    writes is one chunk)."""

    def __init__(self, port, method, path, headers=None, wait_head=True):
        self.sock = socket.create_connection(("127.0.0.1", port), IO_TIMEOUT)
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        if method == "POST":
            lines.append("Content-Length: 0")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.buf = b""
        if not wait_head:
            return
        while b"\r\n\r\n" not in self.buf:
            self._more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        first, *rest = head.decode("latin-1").split("\r\n")
        self.status = int(first.split()[1])
        self.headers = {}
        for line in rest:
            k, v = line.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        assert self.headers.get("transfer-encoding") == "chunked"

    def _more(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError
        self.buf += d

    def chunk(self):
        """The next chunk's bytes, or b"" at the end of the response."""
        while b"\r\n" not in self.buf:
            self._more()
        size, self.buf = self.buf.split(b"\r\n", 1)
        n = int(size, 16)
        while len(self.buf) < n + 2:
            self._more()
        data, self.buf = self.buf[:n], self.buf[n + 2 :]
        return data

    def close(self):
        self.sock.close()


def check_cors(h, origin=None):
    if origin:
        assert h["access-control-allow-origin"] == origin
        assert h["access-control-allow-credentials"] == "true"
    else:
        assert h["access-control-allow-origin"] == "*"
        assert "access-control-allow-credentials" not in h


def lower(r):
    return {k.lower(): v for k, v in r.getheaders()}


# ---- Static URLs --------------------------------------------------------------


def test_greeting_and_not_found(server):
    for path in ["/echo", "/echo/"]:
        r, body = request(server, "GET", path)
        assert r.status == 200
        assert r.getheader("Content-Type") == "text/plain; charset=UTF-8"
        assert body == b"Welcome to SockJS!\n"
        assert r.getheader("Set-Cookie") is None
    for suffix in ["/a", "/a.html", "//", "///", "/a/a", "/a/a/", "/a/"]:
        r, _ = request(server, "GET", "/echo" + suffix)
        assert r.status == 404, suffix


def test_iframe_page(server):
    good = ["/iframe.html", "/iframe-a.html", "/iframe-.html",
            "/iframe-0.1.2.html", "/iframe-0.1.2abc-dirty.2144.html",
            "/iframe-a.html?t=1234"]
    etag = None
    for suffix in good:
        r, body = request(server, "GET", "/echo" + suffix)
        assert r.status == 200, suffix
        assert r.getheader("Content-Type") == "text/html; charset=UTF-8"
        assert re.search(r"public", r.getheader("Cache-Control"))
        assert re.search(r"max-age=[1-9][0-9]{6}", r.getheader("Cache-Control"))
        assert r.getheader("Expires")
        assert r.getheader("Last-Modified") is None
        assert r.getheader("Set-Cookie") is None
        etag = etag or r.getheader("ETag")
        assert r.getheader("ETag") == etag
        text = body.decode()
        assert re.search(r'<script src="https?://[^"]+sockjs[^"]*"></script>', text)
        assert "SockJS.bootstrap_iframe();" in text
    for suffix in ["/iframe.htm", "/iframe", "/IFRAME.HTML", "/IFRAME",
                   "/iframe.HTML", "/iframe.xml", "/iframe-/.html"]:
        r, _ = request(server, "GET", "/echo" + suffix)
        assert r.status == 404, suffix
    r, body = request(server, "GET", "/echo/iframe.html",
                      headers={"If-None-Match": etag})
    assert r.status == 304
    assert r.getheader("Content-Type") is None
    assert body == b""


def test_info(server):
    r, body = request(server, "GET", "/echo/info", headers={"Origin": "test"})
    assert r.status == 200
    assert r.getheader("Content-Type") == "application/json; charset=UTF-8"
    assert r.getheader("Cache-Control") == NOT_CACHED
    assert r.getheader("Expires") is None
    check_cors(lower(r), "test")
    info = json.loads(body)
    assert info["websocket"] is True
    assert info["cookie_needed"] is False
    assert info["origins"] == ["*:*"]
    entropies = {info["entropy"]}
    for _ in range(3):
        entropies.add(json.loads(request(server, "GET", "/echo/info")[1])["entropy"])
    assert len(entropies) > 1
    _, body = request(server, "GET", "/disabled_websocket_echo/info")
    assert json.loads(body)["websocket"] is False
    r, body = request(server, "GET", "/cookie_needed_echo/info")
    assert json.loads(body)["cookie_needed"] is True
    assert r.getheader("Set-Cookie") is None


@pytest.mark.parametrize("path,methods", [
    ("/echo/info", "OPTIONS, GET"),
    ("/echo/abc/abc/xhr", "OPTIONS, POST"),
    ("/echo/abc/abc/xhr_send", "OPTIONS, POST"),
    ("/echo/abc/abc/xhr_streaming", "OPTIONS, POST"),
])
def test_preflight(server, path, methods):
    for origin in ["test", "null"]:
        r, body = request(server, "OPTIONS", path, headers={
            "Origin": origin, "Access-Control-Request-Method": methods,
            "Access-Control-Request-Headers": "a, b, c"})
        assert r.status == 204
        assert body == b""
        assert "public" in r.getheader("Cache-Control")
        assert re.search(r"max-age=[1-9][0-9]{6}", r.getheader("Cache-Control"))
        assert r.getheader("Expires")
        assert int(r.getheader("Access-Control-Max-Age")) > 1000000
        assert r.getheader("Access-Control-Allow-Methods") == methods
        assert r.getheader("Access-Control-Allow-Headers") == "a, b, c"
        check_cors(lower(r), origin)
    r, _ = request(server, "OPTIONS", path, headers={"Origin": "x"})
    assert r.getheader("Access-Control-Allow-Headers") is None


# ---- Sessions, xhr-polling ------------------------------------------------------


def test_session_paths(server):
    for part in ["/a/a" + uuid.uuid4().hex, "/_/_" + uuid.uuid4().hex,
                 "/abcdefgh_i-j%20/abcdefg_i-j%20" + uuid.uuid4().hex]:
        r, body = request(server, "POST", "/echo" + part + "/xhr")
        assert (r.status, body) == (200, b"o\n")
    for bad in ["//", "/a./a", "/a/a.", "/./.", "/", "///"]:
        for method in ["GET", "POST"]:
            r, _ = request(server, method, "/echo" + bad + "/xhr")
            assert r.status == 404, (method, bad)
    r, _ = request(server, "POST", "/echo/a/a/xhr_nope")
    assert r.status == 404


def test_xhr_polling(server):
    url = "/echo" + sid()
    r, body = request(server, "POST", url + "/xhr", headers={"Origin": "test"})
    assert (r.status, body) == (200, b"o\n")
    assert r.getheader("Content-Type") == "application/javascript; charset=UTF-8"
    assert r.getheader("Cache-Control") == NOT_CACHED
    check_cors(lower(r), "test")
    r, body = request(server, "POST", url + "/xhr_send", body='["x"]',
                      headers={"Origin": "test"})
    assert (r.status, body) == (204, b"")
    assert r.getheader("Content-Type") == "text/plain; charset=UTF-8"
    assert r.getheader("Cache-Control") == NOT_CACHED
    check_cors(lower(r), "test")
    # The server id is only for load balancers: any value reaches the session.
    r, body = request(server, "POST", url.replace("/000/", "/999/") + "/xhr")
    assert (r.status, body) == (200, b'a["x"]\n')
    # Empty frames, many content types, several messages in one poll.
    for ct in ["text/plain", "T", "application/json", "application/xml", ""]:
        r, _ = request(server, "POST", url + "/xhr_send", body='["a"]',
                       headers={"Content-Type": ct})
        assert r.status == 204
    r, _ = request(server, "POST", url + "/xhr_send", body="[]")
    assert r.status == 204
    r, body = request(server, "POST", url + "/xhr")
    assert body == b'a["a","a","a","a","a"]\n'


def test_xhr_send_errors(server):
    r, _ = request(server, "POST", "/echo" + sid() + "/xhr_send", body='["x"]')
    assert r.status == 404
    url = "/echo" + sid()
    assert request(server, "POST", url + "/xhr")[1] == b"o\n"
    r, body = request(server, "POST", url + "/xhr_send", body='["x')
    assert r.status == 500 and b"Broken JSON encoding." in body
    r, body = request(server, "POST", url + "/xhr_send", body="")
    assert r.status == 500 and b"Payload expected." in body
    for bad in ['[1]', '{"a":1}', '["a"]x', '["a",]', '"\\x"']:
        r, body = request(server, "POST", url + "/xhr_send", body=bad)
        assert r.status == 500, bad
    r, _ = request(server, "POST", url + "/xhr_send", body='"single"')
    assert r.status == 204
    assert request(server, "POST", url + "/xhr")[1] == b'a["single"]\n'
    r, _ = request(server, "GET", url + "/xhr")
    assert r.status == 405 and r.getheader("Allow")


def test_second_receiver(server):
    url = "/echo" + sid()
    assert request(server, "POST", url + "/xhr")[1] == b"o\n"
    first = Stream(server, "POST", url + "/xhr", wait_head=False)  # waits
    time.sleep(0.2)
    r, body = request(server, "POST", url + "/xhr")
    assert body == b'c[2010,"Another connection still open"]\n'
    request(server, "POST", url + "/xhr_send", body='["x"]')
    first.buf = b""
    while b'a["x"]' not in first.buf:
        first._more()
    first.close()


def test_abandoned_poll_interrupts_the_session(run_example):
    # A client that drops its poll closes its side: the receiver ends at
    # once and the session with it (1002), as sockjs-protocol's abort tests
    # ask: the next request finds the interrupted session's close frame or,
    # once disconnect_delay passed, a fresh session.
    p = run_example("sockjs-echo", "--listen", LOCAL, "--heartbeat", "5000",
                    "--disconnect-delay", "500")
    port = p.port()
    url = "/echo" + sid()
    assert request(port, "POST", url + "/xhr")[1] == b"o\n"
    first = Stream(port, "POST", url + "/xhr", wait_head=False)
    first.sock.shutdown(socket.SHUT_WR)
    time.sleep(0.2)
    first.close()
    r, body = request(port, "POST", url + "/xhr")
    assert body in (b'c[1002,"Connection interrupted"]\n', b"o\n"), body
    # Well before the 5 s heartbeat: the drop itself was noticed.
    time.sleep(0.8)
    r, body = request(port, "POST", url + "/xhr")
    assert body == b"o\n"  # the abandoned one is gone: a new session


def test_close_replayed(server):
    url = "/close" + sid()
    assert request(server, "POST", url + "/xhr")[1] == b"o\n"
    for _ in range(2):
        assert request(server, "POST", url + "/xhr")[1] == b'c[3000,"Go away!"]\n'


# ---- Streaming transports -------------------------------------------------------


def test_xhr_streaming(server):
    url = "/echo" + sid()
    s = Stream(server, "POST", url + "/xhr_streaming", {"Origin": "test"})
    assert s.status == 200
    assert s.headers["content-type"] == "application/javascript; charset=UTF-8"
    assert s.headers["cache-control"] == NOT_CACHED
    check_cors(s.headers, "test")
    assert s.chunk() == b"h" * 2048 + b"\n"
    assert s.chunk() == b"o\n"
    r, _ = request(server, "POST", url + "/xhr_send", body='["x"]')
    assert r.status == 204
    assert s.chunk() == b'a["x"]\n'
    # The response ends after 4096 bytes (sockjs-echo's response limit).
    msg = '"' + "x" * 128 + '"'
    for _ in range(31):
        r, _ = request(server, "POST", url + "/xhr_send", body="[" + msg + "]")
        assert r.status == 204
        assert s.chunk() == ("a[" + msg + "]\n").encode()
    assert s.chunk() == b""
    s.close()
    # The session lives on: the next stream picks it up.
    s = Stream(server, "POST", url + "/xhr_streaming")
    s.chunk()
    request(server, "POST", url + "/xhr_send", body='["again"]')
    assert s.chunk() == b'a["again"]\n'
    s.close()


def test_streaming_close_frames(server):
    url = "/close" + sid()
    s1 = Stream(server, "POST", url + "/xhr_streaming")
    s1.chunk()
    assert s1.chunk() == b"o\n"
    assert s1.chunk() == b'c[3000,"Go away!"]\n'
    assert s1.chunk() == b""
    s2 = Stream(server, "POST", url + "/xhr_streaming")
    s2.chunk()
    assert s2.chunk() == b'c[3000,"Go away!"]\n'
    assert s2.chunk() == b""
    s1.close()
    s2.close()
    url = "/echo" + sid()
    s1 = Stream(server, "POST", url + "/xhr_streaming")
    s1.chunk()
    assert s1.chunk() == b"o\n"
    s2 = Stream(server, "POST", url + "/xhr_streaming")
    s2.chunk()
    assert s2.chunk() == b'c[2010,"Another connection still open"]\n'
    assert s2.chunk() == b""
    s1.close()
    s2.close()


def test_eventsource(server):
    url = "/echo" + sid()
    s = Stream(server, "GET", url + "/eventsource")
    assert s.headers["content-type"] == "text/event-stream"
    assert s.headers["cache-control"] == NOT_CACHED
    assert s.chunk() == b"\r\n"
    assert s.chunk() == b"data: o\r\n\r\n"
    request(server, "POST", url + "/xhr_send", body=r'["  \u0000\n\r "]')
    assert s.chunk() == b'data: a["  \\u0000\\n\\r "]\r\n\r\n'
    msg = '"' + "x" * 4096 + '"'
    request(server, "POST", url + "/xhr_send", body="[" + msg + "]")
    assert s.chunk() == ("data: a[" + msg + "]\r\n\r\n").encode()
    assert s.chunk() == b""
    s.close()


def test_htmlfile(server):
    url = "/echo" + sid()
    s = Stream(server, "GET", url + "/htmlfile?c=%63allback")
    assert s.headers["content-type"] == "text/html; charset=UTF-8"
    assert s.headers["cache-control"] == NOT_CACHED
    head = s.chunk()
    assert len(head) > 1024
    assert b"var c = parent.callback;" in head
    assert head.strip().endswith(b"</script>")
    assert s.chunk() == b'<script>\np("o");\n</script>\r\n'
    request(server, "POST", url + "/xhr_send", body='["x"]')
    assert s.chunk() == b'<script>\np("a[\\"x\\"]");\n</script>\r\n'
    # A message cannot end the script element it travels in.
    request(server, "POST", url + "/xhr_send", body='["</script>"]')
    assert s.chunk() == b'<script>\np("a[\\"\\u003c/script\\u003e\\"]");\n</script>\r\n'
    s.close()


@pytest.mark.parametrize("transport", ["htmlfile", "jsonp"])
def test_callback_checks(server, transport):
    r, body = request(server, "GET", f"/echo/a/a/{transport}")
    assert r.status == 500 and b'"callback" parameter required' in body
    for cb in ["%20", "*", "abc(", "abc%28", "a" * 300]:
        r, body = request(server, "GET", f"/echo/a/a/{transport}?c={cb}")
        assert r.status == 500 and b'invalid "callback" parameter' in body, cb


# ---- jsonp ------------------------------------------------------------------------


def test_jsonp(server):
    url = "/echo" + sid()
    r, body = request(server, "GET", url + "/jsonp?c=%63allback")
    assert r.status == 200
    assert r.getheader("Content-Type") == "application/javascript; charset=UTF-8"
    assert r.getheader("Cache-Control") == NOT_CACHED
    assert body == b'/**/callback("o");\r\n'
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    r, body = request(server, "POST", url + "/jsonp_send", body="d=%5B%22x%22%5D",
                      headers=form)
    assert (r.status, body) == (200, b"ok")
    assert r.getheader("Content-Type") == "text/plain; charset=UTF-8"
    assert r.getheader("Cache-Control") == NOT_CACHED
    r, body = request(server, "POST", url + "/jsonp_send", body='["%61bc"]',
                      headers={"Content-Type": "text/plain"})
    assert body == b"ok"
    r, body = request(server, "GET", url + "/jsonp?c=x")
    assert body == b'/**/x("a[\\"x\\",\\"%61bc\\"]");\r\n'
    r, body = request(server, "POST", url + "/jsonp_send", body="d=%5B%22x",
                      headers=form)
    assert r.status == 500 and b"Broken JSON encoding." in body
    for data in ["", "d=", "p=p"]:
        r, body = request(server, "POST", url + "/jsonp_send", body=data,
                          headers=form)
        assert r.status == 500 and b"Payload expected." in body, data
    url = "/close" + sid()
    assert request(server, "GET", url + "/jsonp?c=x")[1] == b'/**/x("o");\r\n'
    assert request(server, "GET", url + "/jsonp?c=x")[1] == \
        b'/**/x("c[3000,\\"Go away!\\"]");\r\n'


# ---- JSESSIONID ----------------------------------------------------------------


def test_jsessionid(server):
    url = "/cookie_needed_echo" + sid()
    r, body = request(server, "POST", url + "/xhr")
    assert body == b"o\n"
    assert r.getheader("Set-Cookie") == "JSESSIONID=dummy; path=/"
    r, body = request(server, "POST", "/cookie_needed_echo" + sid() + "/xhr",
                      headers={"Cookie": "JSESSIONID=abcdef"})
    assert r.getheader("Set-Cookie") == "JSESSIONID=abcdef; path=/"
    r, _ = request(server, "POST", url + "/xhr_send", body='["a"]')
    assert r.getheader("Set-Cookie") == "JSESSIONID=dummy; path=/"
    for t in ["xhr_streaming", "eventsource", "htmlfile?c=x"]:
        s = Stream(server, "POST" if t == "xhr_streaming" else "GET",
                   "/cookie_needed_echo" + sid() + "/" + t)
        assert s.headers["set-cookie"] == "JSESSIONID=dummy; path=/"
        s.close()
    r, _ = request(server, "GET", "/cookie_needed_echo" + sid() + "/jsonp?c=x")
    assert r.getheader("Set-Cookie") == "JSESSIONID=dummy; path=/"
    r, _ = request(server, "POST", "/echo" + sid() + "/xhr")
    assert r.getheader("Set-Cookie") is None


# ---- WebSocket -----------------------------------------------------------------


def ws_url(port, base, path):
    return f"ws://127.0.0.1:{port}{base}{path}"


def test_websocket_transport(server):
    async def go():
        url = ws_url(server, "/echo", sid() + "/websocket")
        async with websockets.connect(url, ping_interval=None) as ws:
            assert await ws.recv() == "o"
            await ws.send("")
            await ws.send("[]")
            await ws.send('["a"]')
            assert await ws.recv() == 'a["a"]'
            await ws.send('"b"')
            assert await ws.recv() == 'a["b"]'
            big = "\u00e9\u4e2d\U0001f600" * 5000
            await ws.send(json.dumps([big]))
            assert json.loads((await ws.recv())[1:]) == [big]
        # The same session id again: WebSocket sessions are per connection.
        async with websockets.connect(url, ping_interval=None) as a, \
                websockets.connect(url, ping_interval=None) as b:
            assert await a.recv() == "o" and await b.recv() == "o"
            await a.send('["1"]')
            await b.send('["2"]')
            assert await a.recv() == 'a["1"]'
            assert await b.recv() == 'a["2"]'
        async with websockets.connect(url, ping_interval=None) as ws:
            assert await ws.recv() == "o"
            await ws.send('["a')
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
    run(go())


def test_websocket_close_and_errors(server):
    async def go():
        url = ws_url(server, "/close", sid() + "/websocket")
        async with websockets.connect(url, ping_interval=None) as ws:
            assert await ws.recv() == "o"
            assert await ws.recv() == 'c[3000,"Go away!"]'
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
    run(go())
    r, _ = request(server, "GET", "/echo/0/0/websocket")
    assert r.status == 400
    r, _ = request(server, "GET", "/echo/0/0/websocket",
                   headers={"Upgrade": "WebSocket", "Connection": "close"})
    assert r.status == 400
    for h in [{"Upgrade": "WebSocket", "Connection": "Upgrade"}, {}]:
        r, body = request(server, "POST", "/echo/0/0/websocket", headers=h)
        assert r.status == 405 and r.getheader("Allow") and body == b""
        assert r.getheader("Content-Type") is None
    r, _ = request(server, "GET", "/disabled_websocket_echo/0/0/websocket")
    assert r.status == 404


def test_raw_websocket(server):
    async def go():
        async with websockets.connect(ws_url(server, "/echo", "/websocket"),
                                      ping_interval=None) as ws:
            await ws.send("Hello world!\uffff")
            assert await ws.recv() == "Hello world!\uffff"
        async with websockets.connect(ws_url(server, "/close", "/websocket"),
                                      ping_interval=None) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
                await ws.recv()
            assert info.value.rcvd.reason == "Go away!"
    run(go())


# ---- Unicode --------------------------------------------------------------------

SERVER_ESCAPES = [(0x200C, 0x200F), (0x2028, 0x202F), (0x2060, 0x206F),
                  (0xFFF0, 0xFFFF)]


def test_server_escapes_and_decodes(server):
    url = "/echo" + sid()
    assert request(server, "POST", url + "/xhr")[1] == b"o\n"
    chars = "".join(chr(c) for lo, hi in SERVER_ESCAPES for c in range(lo, hi + 1))
    payload = json.dumps([chars], ensure_ascii=False).encode()
    assert request(server, "POST", url + "/xhr_send", body=payload)[0].status == 204
    body = request(server, "POST", url + "/xhr")[1].decode()
    expect = '"' + "".join("\\u%04x" % ord(c) for c in chars) + '"'
    assert body.strip()[2:-1] == expect
    # What clients escape comes back as the same characters.
    sent = "".join(chr(c) for c in list(range(0, 0x20)) + list(range(0x7F, 0xA0)) +
                   [0xAD, 0x600, 0x2000, 0xFEFF, 0xD7FF]) + "\U0001f600"
    esc = json.dumps([sent])  # ASCII only: every non-ASCII char as \uXXXX
    assert request(server, "POST", url + "/xhr_send", body=esc)[0].status == 204
    got = json.loads(request(server, "POST", url + "/xhr")[1][1:])
    assert got == [sent]

"""eddyd's HTTP JSON API (/api, docs/protocol/http-api.md) with plain HTTP
clients, cross-checked against the other ways to the same services: a
WebSocket subscriber for publications, the memcached protocol for the
cache, the lock protocol for locks."""

import asyncio
import base64
import http.client
import json
import socket

from conftest import IO_TIMEOUT
from eddyd_support import eddyd  # noqa: F401  (fixture)
from ws_support import run

import websockets

LOCAL = "tcp:0:interface=127.0.0.1"


def start(eddyd, *extra):
    d = eddyd("--http", LOCAL, "--locks", LOCAL, "--cache", LOCAL, *extra)
    return d, {s: p for s, _, _, p in d.ready(3)}


class Api:
    def __init__(self, port, token=None):
        self.port = port
        self.token = token

    def call(self, method, path, body=None, headers=None, raw=None):
        h = dict(headers or {})
        if self.token:
            h.setdefault("Authorization", f"Bearer {self.token}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=IO_TIMEOUT)
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read()
        c.close()
        assert r.getheader("Content-Type", "").startswith("application/json"), (r.status, text)
        return r.status, json.loads(text), r


def test_publish_and_read_back(eddyd):
    _, ports = start(eddyd)
    api = Api(ports["http"])

    async def scenario():
        url = f"ws://127.0.0.1:{ports['http']}/connect/websocket"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "id": 1, "channel": "news"}))
            assert json.loads(await ws.recv())["op"] == "subscribed"
            loop = asyncio.get_running_loop()
            st, body, _ = await loop.run_in_executor(
                None, lambda: api.call("POST", "/api/publish", {"channel": "news", "data": {"n": 1}})
            )
            assert st == 200, body
            assert body["offset"] == 1 and body["subscribers"] == 1
            msg = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
            assert msg["op"] == "message" and msg["data"] == {"n": 1}
            st, pres, _ = await loop.run_in_executor(None, lambda: api.call("GET", "/api/presence/news"))
            assert st == 200 and len(pres["clients"]) == 1, pres
            return body["epoch"]

    epoch = run(scenario())
    st, body, _ = api.call("POST", "/api/broadcast", {"channels": ["news", "nons:x"], "data": 2})
    assert st == 200
    assert body["results"][0]["offset"] == 2
    assert body["results"][1] == {"channel": "nons:x", "error": "unknown namespace", "status": 404}
    st, hist, _ = api.call("GET", "/api/history/news?since=1")
    assert st == 200 and hist["epoch"] == epoch and hist["offset"] == 2
    assert [p["data"] for p in hist["publications"]] == [2]
    st, chans, _ = api.call("GET", "/api/channels?prefix=ne")
    assert st == 200 and [c["channel"] for c in chans["channels"]] == ["news"]


def test_errors(eddyd):
    _, ports = start(eddyd)
    api = Api(ports["http"])
    st, body, _ = api.call("GET", "/api/channels?prefix=none-such")
    assert st == 200 and body == {"channels": [], "truncated": False}
    st, body, _ = api.call("POST", "/api/publish", {"channel": "news"})
    assert st == 400 and "data" in body["error"]
    st, body, _ = api.call("POST", "/api/publish", raw=b"{nope", headers={"Content-Type": "application/json"})
    assert st == 400 and "invalid JSON" in body["error"]
    st, body, _ = api.call("POST", "/api/publish", raw=b"x", headers={"Content-Type": "text/plain"})
    assert st == 415
    st, body, _ = api.call("POST", "/api/publish", {"channel": "nons:x", "data": 1})
    assert st == 404 and body["error"] == "unknown namespace"
    st, body, _ = api.call("GET", "/api/history/news?limit=oops")
    assert st == 400
    st, body, _ = api.call("POST", "/api/token", {"user": "ada"})
    assert st == 404 and "secret" in body["error"]


def test_bearer_token_and_token_minting(eddyd):
    secret = "0123456789abcdef-secret"
    _, ports = start(eddyd, "--api-token", "api-t0k", "--realtime-secret", secret)
    st, body, r = Api(ports["http"]).call("GET", "/api/channels")
    assert st == 401 and r.getheader("WWW-Authenticate", "").startswith("Bearer")
    st, body, _ = Api(ports["http"], "wrong").call("GET", "/api/channels")
    assert st == 401
    api = Api(ports["http"], "api-t0k")
    st, body, _ = api.call("POST", "/api/token", {"user": "ada", "ttl": 60, "info": {"name": "Ada"}})
    assert st == 200, body
    token = body["token"]

    async def connect():
        url = f"ws://127.0.0.1:{ports['http']}/connect/websocket"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "connect", "id": 1, "token": token}))
            return json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))

    reply = run(connect())
    assert reply["op"] == "connected" and reply["user"] == "ada", reply


def memcached(port, request, until=b"\r\n"):
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as s:
        s.sendall(request)
        buf = b""
        while not buf.endswith(until):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf


def test_cache_both_ways(eddyd):
    _, ports = start(eddyd)
    api = Api(ports["http"])
    st, body, _ = api.call("PUT", "/api/cache/greeting?ttl=100&flags=5", raw=b"hello", headers={"Content-Type": "text/plain"})
    assert st == 200 and body["bytes"] == 5
    # The memcached protocol sees what HTTP stored...
    assert memcached(ports["cache"], b"get greeting\r\n", b"END\r\n") == b"VALUE greeting 5 5\r\nhello\r\nEND\r\n"
    # ...and HTTP what memcached stored, binary included.
    assert memcached(ports["cache"], b"set bin 0 0 3\r\n\xff\x00\x01\r\n") == b"STORED\r\n"
    st, body, _ = api.call("GET", "/api/cache/bin")
    assert st == 200 and base64.b64decode(body["value_base64"]) == b"\xff\x00\x01"
    st, body, _ = api.call("GET", "/api/cache/greeting")
    assert body["value"] == "hello" and body["flags"] == 5 and 0 < body["ttl"] <= 100
    st, body, _ = api.call("PUT", "/api/cache/j", {"value": "caf\u00e9", "ttl": 0})
    assert st == 200
    st, body, _ = api.call("GET", "/api/cache?prefix=g")
    assert body == {"keys": ["greeting"], "truncated": False}
    st, body, _ = api.call("DELETE", "/api/cache/greeting")
    assert st == 200 and body["deleted"] is True
    assert memcached(ports["cache"], b"get greeting\r\n", b"END\r\n") == b"END\r\n"
    st, body, _ = api.call("GET", "/api/cache/greeting")
    assert st == 404
    st, body, _ = api.call("GET", "/api/cache/bad%20key")
    assert st == 400


def test_locks_list_and_inspect(eddyd):
    _, ports = start(eddyd)
    api = Api(ports["http"])
    holder = socket.create_connection(("127.0.0.1", ports["locks"]), timeout=IO_TIMEOUT)
    holder.sendall(b"hello web-1\r\nacquire jobs/nightly lease=60000\r\n")
    got = b""
    while got.count(b"\r\n") < 2:
        got += holder.recv(4096)
    assert got.split(b"\r\n")[1].startswith(b"OK "), got
    waiter = socket.create_connection(("127.0.0.1", ports["locks"]), timeout=IO_TIMEOUT)
    waiter.sendall(b"acquire jobs/nightly wait=30000\r\n")
    for _ in range(200):
        st, body, _ = api.call("GET", "/api/locks")
        if body["locks"] and body["locks"][0]["waiters"] == 1:
            break
    lock = body["locks"][0]
    assert lock["name"] == "jobs/nightly" and lock["mode"] == "exclusive"
    assert lock["holders"][0]["client"] == "web-1"
    assert 0 < lock["holders"][0]["lease_ms"] <= 60000
    st, one, _ = api.call("GET", "/api/locks/jobs%2Fnightly")
    assert st == 200 and len(one["queue"]) == 1 and one["queue"][0]["client"] is None
    holder.close()  # the lock goes to the waiter
    for _ in range(200):
        st, one, _ = api.call("GET", "/api/locks/jobs%2Fnightly")
        if one["waiters"] == 0:
            break
    assert one["waiters"] == 0 and len(one["holders"]) == 1
    waiter.close()

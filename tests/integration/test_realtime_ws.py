"""The realtime hub over WebSocket, against examples/realtime-hub, with
Debian's python3-websockets as the client: subscribe and publish, presence
and join/leave, recovery after a reconnect (and the plain refusal when it
cannot be done), the slow reader closed with 4008, application and
WebSocket-level pings, protocol errors."""

import asyncio
import base64
import json
import os
import socket
import struct

import pytest
import websockets
import websockets.exceptions

from conftest import IO_TIMEOUT

LOCAL = "tcp:0:interface=127.0.0.1"
TIMEOUT = 60.0


def run(coro, timeout=TIMEOUT):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def start_hub(run_example, *args):
    ex = run_example(
        "realtime-hub",
        "--listen",
        LOCAL,
        "--namespace",
        "chat history=5 ttl=0 publish=yes",
        "--namespace",
        "tiny history=2 ttl=0 publish=yes",
        *args,
    )
    port = int(ex.wait_for(r"listening on (\d+)", stream="out").group(1))
    return ex, f"ws://127.0.0.1:{port}/connect/websocket", port


def connect(url, **kw):
    kw.setdefault("ping_interval", None)
    kw.setdefault("open_timeout", IO_TIMEOUT)
    kw.setdefault("close_timeout", IO_TIMEOUT)
    kw.setdefault("max_size", 16 << 20)
    return websockets.connect(url, **kw)


async def ask(ws, msg):
    """Sends a request and returns its reply (pushes before it are
    skipped; the reply is the first message with the request's id)."""
    await ws.send(json.dumps(msg))
    while True:
        reply = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
        if reply.get("id") == msg.get("id") and reply["op"] not in ("message", "join", "leave"):
            return reply


async def next_op(ws, op):
    while True:
        m = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
        if m["op"] == op:
            return m


def test_subscribe_publish_presence(run_example):
    ex, url, _ = start_hub(run_example)

    async def conversation():
        async with connect(url) as a, connect(url) as b:
            r = await ask(a, {"op": "connect", "id": 1, "info": {"name": "ann"}})
            assert r["op"] == "connected" and r["user"] == "" and r["ping_ms"] == 25000
            ann = r["client"]
            r = await ask(a, {"op": "subscribe", "id": 2, "channel": "chat:lobby"})
            assert r["op"] == "subscribed" and r["offset"] == 0 and r["publications"] == []
            assert len(r["epoch"]) == 16
            r = await ask(b, {"op": "subscribe", "id": "x", "channel": "chat:lobby"})
            join = await next_op(a, "join")
            assert join["channel"] == "chat:lobby" and join["client"] != ann
            r = await ask(b, {"op": "publish", "id": 3, "channel": "chat:lobby", "data": {"text": "hi"}})
            assert r == {"op": "published", "id": 3, "channel": "chat:lobby", "offset": 1, "epoch": r["epoch"]}
            m = await next_op(a, "message")
            assert m["data"] == {"text": "hi"} and m["offset"] == 1
            assert m["info"]["client"] == join["client"]
            r = await ask(a, {"op": "presence", "id": 4, "channel": "chat:lobby"})
            names = sorted(c["info"].get("name", "") for c in r["clients"])
            assert names == ["", "ann"]
            r = await ask(a, {"op": "history", "id": 5, "channel": "chat:lobby"})
            assert [p["data"] for p in r["publications"]] == [{"text": "hi"}]
            r = await ask(a, {"op": "publish", "id": 6, "channel": "lobby", "data": 1})
            assert r["op"] == "error" and r["code"] == 403
            r = await ask(a, {"op": "subscribe", "id": 7, "channel": "nope:x"})
            assert r == {"op": "error", "id": 7, "code": 404, "message": "unknown namespace"}
            r = await ask(a, {"op": "ping", "id": 8})
            assert r == {"op": "pong", "id": 8}
        # b's leave reaches nobody (a left first); the hub cleaned up.

    run(conversation())


def test_leave_event(run_example):
    ex, url, _ = start_hub(run_example)

    async def conversation():
        async with connect(url) as a:
            await ask(a, {"op": "subscribe", "id": 1, "channel": "chat:l"})
            async with connect(url) as b:
                await ask(b, {"op": "subscribe", "id": 1, "channel": "chat:l"})
                join = await next_op(a, "join")
            leave = await next_op(a, "leave")
            assert leave["client"] == join["client"]

    run(conversation())


def test_recovery_after_reconnect(run_example):
    ex, url, _ = start_hub(run_example)

    async def conversation():
        async with connect(url) as pub:
            async with connect(url) as a:
                r = await ask(a, {"op": "subscribe", "id": 1, "channel": "chat:r"})
                epoch = r["epoch"]
                for i in range(3):
                    await ask(pub, {"op": "publish", "id": i, "channel": "chat:r", "data": i})
                seen = [(await next_op(a, "message"))["offset"] for _ in range(3)]
                assert seen == [1, 2, 3]
            # a is gone; two more are published while it is away.
            for i in range(3, 5):
                await ask(pub, {"op": "publish", "id": i, "channel": "chat:r", "data": i})
            async with connect(url) as a2:
                r = await ask(a2, {"op": "subscribe", "id": 9, "channel": "chat:r",
                                   "recover": {"epoch": epoch, "offset": 3}})
                assert r["recovered"] is True
                assert r["epoch"] == epoch and r["offset"] == 5
                assert [p["data"] for p in r["publications"]] == [3, 4]
                assert [p["offset"] for p in r["publications"]] == [4, 5]
                # Live deliveries continue after the recovered ones.
                await ask(pub, {"op": "publish", "id": 5, "channel": "chat:r", "data": 5})
                m = await next_op(a2, "message")
                assert m["offset"] == 6

    run(conversation())


def test_could_not_recover(run_example):
    ex, url, _ = start_hub(run_example)

    async def conversation():
        async with connect(url) as pub, connect(url) as a:
            r = await ask(a, {"op": "subscribe", "id": 1, "channel": "tiny:r"})
            epoch = r["epoch"]
            await ask(pub, {"op": "publish", "id": 1, "channel": "tiny:r", "data": 1})
            await next_op(a, "message")
            await ask(a, {"op": "unsubscribe", "id": 2, "channel": "tiny:r"})
            for i in range(4):  # history=2 keeps only the last two
                await ask(pub, {"op": "publish", "id": 10 + i, "channel": "tiny:r", "data": i})
            r = await ask(a, {"op": "subscribe", "id": 3, "channel": "tiny:r",
                              "recover": {"epoch": epoch, "offset": 1}})
            assert r["recovered"] is False
            assert r["publications"] == []  # never a partial replay
            assert r["reason"] == "publications after this offset are no longer kept"
            assert r["offset"] == 5
            # Another epoch (a restarted server) is refused the same way.
            await ask(a, {"op": "unsubscribe", "id": 4, "channel": "tiny:r"})
            r = await ask(a, {"op": "subscribe", "id": 5, "channel": "tiny:r",
                              "recover": {"epoch": "0" * 16, "offset": 5}})
            assert r["recovered"] is False and r["publications"] == []

    run(conversation())


def test_slow_reader_closed_with_4008(run_example):
    ex, url, port = start_hub(run_example, "--max-send-queue", "65536")
    data = "x" * 30000

    async def conversation():
        # The slow reader's socket has a tiny receive buffer, and the client
        # library reads at most one message ahead: the server's queue fills.
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", port))
        async with connect(url, sock=s, max_queue=1) as slow, connect(url) as fast, \
                connect(url) as pub:
            await ask(slow, {"op": "subscribe", "id": 1, "channel": "chat:s"})
            await ask(fast, {"op": "subscribe", "id": 1, "channel": "chat:s"})
            got = 0
            closed = False
            for i in range(600):
                await ask(pub, {"op": "publish", "id": i, "channel": "chat:s", "data": data})
                # the fast one keeps up
                while True:
                    m = json.loads(await asyncio.wait_for(fast.recv(), IO_TIMEOUT))
                    if m["op"] == "message":
                        got += 1
                        break
                if i % 50 == 49:
                    await asyncio.sleep(0.05)
            assert got == 600
            # Now drain the slow one: messages in order, then the reason,
            # then close 4008.
            last = 0
            disconnect = None
            try:
                while True:
                    m = json.loads(await asyncio.wait_for(slow.recv(), IO_TIMEOUT))
                    if m["op"] == "message":
                        assert m["offset"] == last + 1
                        last = m["offset"]
                    elif m["op"] == "disconnect":
                        disconnect = m
            except websockets.exceptions.ConnectionClosed as e:
                closed = True
                assert e.code == 4008
                assert e.reason == "send queue full"
            assert closed
            assert disconnect == {"op": "disconnect", "code": 4008, "reason": "send queue full"}
            assert last < 600

    run(conversation())


def test_ping_pong(run_example):
    ex, url, port = start_hub(run_example, "--ping-interval", "200", "--pong-timeout", "2000")

    # A raw client: it must see the server's WebSocket ping on its own.
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            "GET /connect/websocket HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk
        buf += chunk
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101")
    while len(buf) < 2:
        buf += s.recv(4096)
    assert buf[0] == 0x89, "a ping frame"  # FIN + opcode 9
    s.close()

    async def conversation():
        # python3-websockets answers pings itself: the connection stays up
        # across several ping intervals.
        async with connect(url) as ws:
            await asyncio.sleep(0.7)
            assert (await ask(ws, {"op": "ping", "id": 1})) == {"op": "pong", "id": 1}

    run(conversation())


def test_protocol_breakage_closes_4000(run_example):
    ex, url, _ = start_hub(run_example)

    async def conversation():
        async with connect(url) as ws:
            r = await ask(ws, {"op": "subscribe", "id": 1})
            assert r == {"op": "error", "id": 1, "code": 400, "message": "missing channel"}
            await ws.send("not json")
            m = json.loads(await ws.recv())
            assert m == {"op": "error", "id": None, "code": 400, "message": "malformed JSON"}
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                await ws.recv()
            assert e.value.code == 4000

    run(conversation())


def test_stop_sends_4004(run_example):
    ex, url, _ = start_hub(run_example)

    async def conversation():
        async with connect(url) as ws:
            await ask(ws, {"op": "subscribe", "id": 1, "channel": "chat:z"})
            ex.send_signal(15)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                while True:
                    await ws.recv()
            assert e.value.code == 4004
            assert e.value.reason == "server stopping"

    run(conversation())
    assert ex.wait() == 0


def make_token(secret, user, info=None, exp=None):
    """A connection token (docs/protocol/realtime.md, "Tokens"), made here
    independently of the server's code."""
    import hashlib
    import hmac

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {"sub": user}
    if info is not None:
        claims["info"] = info
    if exp is not None:
        claims["exp"] = exp
    head = b64(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), head.encode(), hashlib.sha256).digest()
    return head + "." + b64(sig)


def test_secret_requires_a_token(run_example):
    ex, url, _ = start_hub(run_example, "--secret", "hush")

    async def conversation():
        async with connect(url) as ws:
            await ws.send(json.dumps({"op": "subscribe", "id": 1, "channel": "chat:a"}))
            m = json.loads(await ws.recv())
            assert m == {"op": "error", "id": 1, "code": 401, "message": "connect first"}
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                await ws.recv()
            assert e.value.code == 4001
        async with connect(url) as ws:
            bad = make_token("wrong", "eve")
            await ws.send(json.dumps({"op": "connect", "id": 2, "token": bad}))
            m = json.loads(await ws.recv())
            assert m["code"] == 401 and m["message"] == "invalid or expired token"
            with pytest.raises(websockets.exceptions.ConnectionClosed) as e:
                await ws.recv()
            assert e.value.code == 4001
        async with connect(url) as ws:
            tok = make_token("hush", "ann", info={"role": "ops"})
            r = await ask(ws, {"op": "connect", "id": 3, "token": tok})
            assert r["op"] == "connected" and r["user"] == "ann"
            await ask(ws, {"op": "subscribe", "id": 4, "channel": "chat:a"})
            r = await ask(ws, {"op": "presence", "id": 5, "channel": "chat:a"})
            assert r["clients"] == [{"client": r["clients"][0]["client"], "user": "ann",
                                     "info": {"role": "ops"}}]

    run(conversation())


def test_origin_is_checked(run_example):
    ex, url, _ = start_hub(run_example, "--origin", "http://good.example")

    async def conversation():
        with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
            async with connect(url, origin="http://evil.example"):
                pass
        assert e.value.status_code == 403
        async with connect(url, origin="http://good.example") as ws:
            assert (await ask(ws, {"op": "ping", "id": 1})) == {"op": "pong", "id": 1}
        async with connect(url) as ws:  # not a browser: no Origin
            assert (await ask(ws, {"op": "ping", "id": 1})) == {"op": "pong", "id": 1}

    run(conversation())

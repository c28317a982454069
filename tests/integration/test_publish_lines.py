"""The hub's backend line protocol in eddyd (--publish): raw sockets,
`eddy publish`, and the Python client's Publisher, with a WebSocket
subscriber (python3-websockets) watching what arrives."""

import asyncio
import json
import socket
import subprocess
import sys

import pytest

from conftest import IO_TIMEOUT, REPO, built, sanitizer_env
from eddyd_support import eddyd  # noqa: F401  (fixture)
from ws_support import run

import websockets

LOCAL = "tcp:0:interface=127.0.0.1"

sys.path.insert(0, str(REPO / "clients" / "python" / "src"))
from eddy_client import Publisher, PublishRefused  # noqa: E402


def start_hub(eddyd, *extra):
    d = eddyd("--http", LOCAL, "--publish", LOCAL, "--locks", "off", "--cache", "off", *extra)
    ports = {s: p for s, _, _, p in d.ready(2)}
    return d, ports["http"], ports["publish"]


class LineConn:
    """A raw connection to the line protocol."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError(f"closed; had {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def ask(self, request):
        self.send(request + "\n")
        return self.line()

    def closed(self):
        """True once the server closed (EOF), after any pending bytes."""
        self.s.settimeout(IO_TIMEOUT)
        try:
            while True:
                chunk = self.s.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


async def watch(http_port, channel, count, publish):
    """Subscribes to channel over WebSocket, calls publish() once subscribed,
    and returns the first `count` message pushes."""
    url = f"ws://127.0.0.1:{http_port}/connect/websocket"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "id": 1, "channel": channel}))
        reply = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
        assert reply["op"] == "subscribed", reply
        await asyncio.get_running_loop().run_in_executor(None, publish)
        got = []
        while len(got) < count:
            msg = json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
            if msg.get("op") == "message":
                got.append(msg)
        return got


def test_publish_reaches_websocket_subscribers(eddyd):
    _, http_port, port = start_hub(eddyd)
    conn = LineConn(port)

    def publish():
        assert conn.ask("PING") == "PONG"
        r = conn.ask('PUBLISH news {"headline": "eddy ships"}')
        assert r.startswith("OK 1 "), r
        r2 = conn.ask("BROADCAST news,other [1, 2]")
        assert r2 == "OK 2", r2

    got = run(watch(http_port, "news", 2, publish))
    assert got[0]["data"] == {"headline": "eddy ships"}
    assert got[0]["offset"] == 1
    assert "info" not in got[0], "a backend publication names no client"
    assert got[1]["data"] == [1, 2]
    conn.close()


def test_pipelined_requests_answered_in_order(eddyd):
    _, _, port = start_hub(eddyd)
    conn = LineConn(port)
    n = 2000
    batch = "".join(f"PUBLISH bulk {i}\r\nPING\n" for i in range(n))
    conn.send(batch)
    epoch = None
    for i in range(n):
        words = conn.line().split()
        assert words[0] == "OK" and int(words[1]) == i + 1, words
        epoch = epoch or words[2]
        assert words[2] == epoch
        assert conn.line() == "PONG"
    conn.close()


def test_errors_keep_the_connection(eddyd):
    _, _, port = start_hub(eddyd)
    conn = LineConn(port)
    assert conn.ask("HELLO") == "ERR 400 unknown command"
    assert conn.ask("PUBLISH news {oops") == "ERR 400 data is not one JSON value"
    assert conn.ask("PUBLISH nons:x 1") == "ERR 404 unknown namespace"
    assert conn.ask("PUBLISH bad,name 1") == "ERR 400 bad channel name"
    big = '"' + "x" * (70 * 1024) + '"'
    assert conn.ask(f"PUBLISH news {big}") == "ERR 413 publication too large"
    huge = "PUBLISH news " + "1" * (200 * 1024)
    assert conn.ask(huge).startswith("ERR 413 line longer than")
    assert conn.ask("PING") == "PONG"
    conn.close()


def test_publish_token(eddyd):
    _, _, port = start_hub(eddyd, "--publish-token", "line-s3cret")
    conn = LineConn(port)
    assert conn.ask("PUBLISH news 1") == "ERR 401 AUTH first"
    assert conn.ask("PING") == "PONG"
    assert conn.ask("AUTH line-s3cret") == "OK"
    assert conn.ask("PUBLISH news 1").startswith("OK 1 ")
    conn.close()
    bad = LineConn(port)
    assert bad.ask("AUTH guess") == "ERR 401 bad token"
    assert bad.closed()
    bad.close()


def eddy_tool(*args, env=None, input=None):
    full_env = sanitizer_env(env)
    return subprocess.run(
        [str(built("tools", "eddy")), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=full_env,
        input=input,
    )


def test_eddy_publish_command(eddyd):
    _, http_port, port = start_hub(eddyd, "--publish-token", "tok")
    server = f"tcp:127.0.0.1:{port}"
    results = []

    def publish():
        results.append(eddy_tool("publish", "-s", server, "-t", "tok", "news", '{"a": [1, 2]}'))
        results.append(eddy_tool("publish", "-s", server, "news", "hello", env={"EDDY_PUBLISH_TOKEN": "tok"}))
        results.append(
            eddy_tool("publish", "-s", server, "news", "-", env={"EDDY_PUBLISH_TOKEN": "tok"}, input='{\n "multi": "line"\n}\n')
        )

    got = run(watch(http_port, "news", 3, publish))
    for r in results:
        assert r.returncode == 0, r.stderr
    offset, epoch = results[0].stdout.split()
    assert offset == "1" and len(epoch) == 16
    assert [m["data"] for m in got] == [{"a": [1, 2]}, "hello", {"multi": "line"}]

    r = eddy_tool("publish", "-s", server, "-t", "wrong", "news", "1")
    assert r.returncode == 76 and "401 bad token" in r.stderr, r.stderr
    r = eddy_tool("publish", "-s", server, "-t", "tok", "nons:x", "1")
    assert r.returncode == 76 and "404 unknown namespace" in r.stderr, r.stderr
    r = eddy_tool("publish", "-s", "tcp:127.0.0.1:1", "news", "1")
    assert r.returncode == 69, r.stderr
    r = eddy_tool("publish", "news")
    assert r.returncode == 64
    r = eddy_tool("publish", "--help")
    assert r.returncode == 0 and "usage: eddy publish" in r.stdout


def test_python_publisher(eddyd):
    d, http_port, port = start_hub(eddyd, "--publish-token", "py")
    client = Publisher(f"tcp:127.0.0.1:{port}", token="py")
    out = []

    def publish():
        out.append(client.publish("room", {"n": 1}))
        out.append(client.broadcast(["room", "elsewhere"], {"n": 2}))

    got = run(watch(http_port, "room", 2, publish))
    assert out[0].offset == 1 and len(out[0].epoch) == 16
    assert out[1] == 2
    assert [m["data"] for m in got] == [{"n": 1}, {"n": 2}]
    with pytest.raises(PublishRefused) as e:
        client.publish("nons:x", 1)
    assert e.value.code == 404
    assert client.connects == 1
    client.close()


def test_token_command_makes_tokens_the_hub_accepts(eddyd):
    secret = "0123456789abcdef-secret"
    _, http_port, _ = start_hub(eddyd, "--realtime-secret", secret)
    r = eddy_tool("token", "--ttl", "60", "--info", '{"name": "Ada"}', "ada", env={"EDDY_TOKEN_SECRET": secret})
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()

    async def connect(tok):
        url = f"ws://127.0.0.1:{http_port}/connect/websocket"
        async with websockets.connect(url) as ws:
            await ws.send(json.dumps({"op": "connect", "id": 1, "token": tok}))
            try:
                return json.loads(await asyncio.wait_for(ws.recv(), IO_TIMEOUT))
            except websockets.exceptions.ConnectionClosed as e:
                return {"closed": e.code}

    ok = run(connect(token))
    assert ok["op"] == "connected" and ok["user"] == "ada", ok
    bad = run(connect(token[:-2] + ("AA" if not token.endswith("AA") else "BA")))
    assert bad.get("closed") == 4001 or bad.get("op") == "error", bad

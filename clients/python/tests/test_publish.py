"""Tests of eddy_client.Publisher.

Most run against a scripted line server in this file (it answers as the
hub's line protocol does, and lets a test close connections under the
client); the last one against a real hub (see conftest.py: a running one
named by EDDY_PUBLISH_ENDPOINT, or a private eddyd from the build). The hub side itself is
tested in the eddy tree (tests/unit/test_rt_lines.c,
tests/integration/test_publish_lines.py).
"""

import json
import os
import socket
import threading

import pytest

from eddy_client import (
    Published,
    Publisher,
    PublishConnectionError,
    PublishError,
    PublishRefused,
)


class FakeHub:
    """A line server on a free port: one thread per connection, replies in
    the hub's format. `lines` records what arrived; `token` requires AUTH;
    `close_after` closes each connection after that many lines (without
    answering the last one)."""

    def __init__(self, token=None, close_after=None):
        self.token = token
        self.close_after = close_after
        self.lines = []
        self.offsets = {}
        self.conns = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.endpoint = f"tcp:127.0.0.1:{self.port}"
        self.open = []
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns += 1
            self.open.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _answer(self, line, state):
        verb, _, rest = line.partition(" ")
        if verb == "PING":
            return "PONG"
        if verb == "AUTH":
            if self.token is None or rest == self.token:
                state["authed"] = True
                return "OK"
            return None  # bad token: ERR and close
        if self.token is not None and not state.get("authed"):
            return "ERR 401 AUTH first"
        if verb == "PUBLISH":
            channel, _, data = rest.partition(" ")
            try:
                json.loads(data)
            except ValueError:
                return "ERR 400 data is not one JSON value"
            if channel.startswith("nons:"):
                return "ERR 404 unknown namespace"
            self.offsets[channel] = self.offsets.get(channel, 0) + 1
            return f"OK {self.offsets[channel]} 0123456789abcdef"
        if verb == "BROADCAST":
            chans, _, _ = rest.partition(" ")
            return f"OK {len(chans.split(','))}"
        return "ERR 400 unknown command"

    def _serve(self, c):
        buf = b""
        state = {}
        n = 0
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    raw, buf = buf.split(b"\n", 1)
                    line = raw.decode().rstrip("\r")
                    self.lines.append(line)
                    n += 1
                    if self.close_after is not None and n >= self.close_after:
                        return
                    reply = self._answer(line, state)
                    if reply is None:
                        c.sendall(b"ERR 401 bad token\n")
                        return
                    c.sendall(reply.encode() + b"\n")

    def drop_all(self):
        """Closes every connection, as a restarting hub would."""
        for c in self.open:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.open.clear()

    def stop(self):
        self._stop = True
        self.drop_all()
        self.sock.close()


@pytest.fixture
def hub():
    h = FakeHub()
    yield h
    h.stop()


def test_publish_and_reuse_the_connection(hub):
    with Publisher(hub.endpoint) as client:
        r = client.publish("chat:lobby", {"text": "hi", "n": [1, 2]})
        assert r == Published("chat:lobby", 1, "0123456789abcdef")
        assert client.publish("chat:lobby", "line\nbreak").offset == 2
        assert client.broadcast(["a", "b", "c"], 5) == 3
        client.ping()
        assert client.connects == 1
    assert hub.lines[0] == 'PUBLISH chat:lobby {"text":"hi","n":[1,2]}'
    # JSON escapes the newline: one message is always one line.
    assert hub.lines[1] == 'PUBLISH chat:lobby "line\\nbreak"'
    assert hub.lines[2] == "BROADCAST a,b,c 5"


def test_refusals_keep_the_connection(hub):
    client = Publisher(hub.endpoint)
    with pytest.raises(PublishRefused) as e:
        client.publish("nons:x", 1)
    assert e.value.code == 404
    assert "unknown namespace" in str(e.value)
    assert client.publish("ok", None).offset == 1
    assert client.connects == 1
    client.close()


def test_auth(hub):
    hub.token = "s3cret"
    client = Publisher(hub.endpoint, token="s3cret")
    client.publish("a", 1)
    assert hub.lines[:2] == ["AUTH s3cret", "PUBLISH a 1"]
    client.close()
    bad = Publisher(hub.endpoint, token="wrong")
    with pytest.raises(PublishRefused) as e:
        bad.publish("a", 1)
    assert e.value.code == 401
    bad.close()
    anonymous = Publisher(hub.endpoint)
    with pytest.raises(PublishRefused) as e:
        anonymous.publish("a", 1)
    assert e.value.code == 401
    anonymous.close()


def test_reconnects_after_the_hub_closed_an_idle_connection(hub):
    client = Publisher(hub.endpoint)
    client.publish("a", 1)
    hub.drop_all()
    # The closed connection is noticed before anything is sent on it.
    for _ in range(100):
        try:
            r = client.publish("a", 2)
            break
        except PublishConnectionError:  # the close may not have arrived yet
            continue
    assert r.offset == 2
    assert client.connects == 2
    assert hub.lines.count("PUBLISH a 2") == 1
    client.close()


def test_no_silent_retry_after_sending():
    hub = FakeHub(close_after=2)
    try:
        client = Publisher(hub.endpoint)
        client.publish("a", 1)
        with pytest.raises(PublishConnectionError):
            client.publish("a", 2)  # the hub read it, then vanished
        assert hub.lines.count("PUBLISH a 2") == 1, "not sent twice"
        # The next call connects again.
        assert client.publish("a", 3).offset == 2
        assert client.connects == 2
        client.close()
    finally:
        hub.stop()


def test_unreachable():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    client = Publisher(f"tcp:127.0.0.1:{port}", connect_timeout=2)
    with pytest.raises(PublishConnectionError) as e:
        client.publish("a", 1)
    assert isinstance(e.value, ConnectionError)
    assert isinstance(e.value, PublishError)


def test_arguments_checked_before_any_io():
    with pytest.raises(ValueError):
        Publisher("udp:x:1")
    with pytest.raises(ValueError):
        Publisher(token="has space")
    client = Publisher("tcp:127.0.0.1:1")
    for bad in ["", "a b", 'q"uote', "a,b", "x" * 256, "caf\u00e9"]:
        with pytest.raises(ValueError):
            client.publish(bad, 1)
    with pytest.raises(TypeError):
        client.publish(5, 1)
    with pytest.raises(TypeError):
        client.publish("a", object())
    with pytest.raises(TypeError):
        client.publish("a", float("nan"))
    with pytest.raises(ValueError):
        client.broadcast([], 1)
    with pytest.raises(ValueError):
        client.broadcast(["a", "a"], 1)
    assert client.connects == 0


def test_threads_share_one_connection(hub):
    client = Publisher(hub.endpoint)
    errors = []

    def work(k):
        try:
            for i in range(50):
                client.publish(f"t{k}", i)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert client.connects == 1
    assert all(hub.offsets[f"t{k}"] == 50 for k in range(4))
    client.close()


# ---- Against a real hub ----------------------------------------------------


def test_real_hub(hub_endpoint):
    endpoint, token = hub_endpoint
    client = Publisher(endpoint, token=token)
    channel = f"pytest-{os.getpid()}"
    a = client.publish(channel, {"n": 1})
    b = client.publish(channel, {"n": 2})
    assert b.offset in (0, a.offset + 1)
    assert b.epoch == a.epoch
    assert client.broadcast([channel + "-x", channel + "-y"], 1) == 2
    with pytest.raises(PublishRefused) as e:
        client.publish("unknown-namespace-xyz:c", 1)
    assert e.value.code == 404
    client.ping()
    assert client.connects == 1
    client.close()

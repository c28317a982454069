"""Interop: eddy's WebSocket server and client against python3-websockets.

Debian's python3-websockets is an independent implementation of RFC 6455
and RFC 7692 (permessage-deflate, which it offers by default): it talks to
examples/ws-echo and examples/ws-chat as a client, and plays the echo
server for ws-echo's client mode.

Run: /usr/bin/python3 -m pytest tests/integration (EDDY_BUILD_DIR=build-dir).
"""

import asyncio
import base64
import hashlib
import os
import signal
import socket
import subprocess

import pytest

import websockets
from conftest import IO_TIMEOUT, example_path
from ws_support import (
    LOCAL,
    connect,
    extension_names,
    masked_frame,
    py_echo_server,  # noqa: F401 (a fixture)
    raw_exchange,
    raw_upgrade,
    read_frame,
    run,
    run_client,
    start_ws_echo,
    upgrade_request,
)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
DEFLATE = [pytest.param(True, id="deflate"), pytest.param(False, id="plain")]


async def recv(ws, timeout=IO_TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def echo_all(url, messages, deflate):
    """Sends each message and checks its echo; returns the extensions."""
    async with connect(url, deflate=deflate) as ws:
        for m in messages:
            await ws.send(m)
            back = await recv(ws, timeout=30)
            assert type(back) is type(m)
            assert back == m, f"echo differs ({len(back)} bytes, sent {len(m)})"
        return extension_names(ws)


def compressible_text(n):
    words = ["eddy", "reactor", "frame", "déflate", "écho", "€uro", "😀"]
    out = []
    size = 0
    i = 0
    while size < n:
        w = words[(i * 7 + i // 3) % len(words)] + " "
        out.append(w)
        size += len(w.encode())
        i += 1
    return "".join(out)


# ---- python3-websockets client -> ws-echo ----------------------------------


@pytest.mark.parametrize("deflate", DEFLATE)
def test_text_and_binary_echo(run_example, deflate):
    _, port = start_ws_echo(run_example)
    messages = ["hello", "", "héllo wörld €😀", b"\x00\x01\xff" * 10, b"", "x" * 200]
    exts = run(echo_all(f"ws://127.0.0.1:{port}/", messages, deflate))
    assert exts == (["permessage-deflate"] if deflate else [])


@pytest.mark.parametrize("deflate", DEFLATE)
def test_echo_on_any_path(run_example, deflate):
    _, port = start_ws_echo(run_example)
    for path in ["/", "/echo", "/a/b/c?x=1&y=2"]:
        run(echo_all(f"ws://127.0.0.1:{port}{path}", ["on " + path], deflate))


@pytest.mark.parametrize("deflate", DEFLATE)
def test_one_mebibyte_messages(run_example, deflate):
    _, port = start_ws_echo(run_example)
    messages = [
        os.urandom(1 << 20),  # incompressible
        compressible_text(1 << 20),
        bytes(1 << 20),  # very compressible
        os.urandom((1 << 20) + 7).hex()[: (1 << 20) - 1],  # odd length text
    ]
    run(echo_all(f"ws://127.0.0.1:{port}/big", messages, deflate))


@pytest.mark.parametrize(
    "deflate,payload",
    [
        pytest.param(False, lambda: os.urandom(16 << 20), id="random-plain"),
        pytest.param(
            True, lambda: compressible_text(16 << 20).encode()[: 16 << 20], id="text-deflate"
        ),
        # Incompressible data grows a little when deflated: the limit is on
        # the inflated size, so this still fits.
        pytest.param(True, lambda: os.urandom(16 << 20), id="random-deflate"),
    ],
)
def test_sixteen_mebibyte_message(run_example, deflate, payload):
    _, port = start_ws_echo(run_example)
    # The default max_message is exactly 16 MiB: this one fits.
    run(echo_all(f"ws://127.0.0.1:{port}/", [payload()], deflate), timeout=120)


def test_one_byte_over_sixteen_mebibytes_gets_1009(run_example):
    _, port = start_ws_echo(run_example)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/", deflate=False) as ws:
            try:
                await ws.send(bytes((16 << 20) + 1))
                await recv(ws)
            except websockets.exceptions.ConnectionClosed as e:
                return e.rcvd.code if e.rcvd else None

    assert run(main()) == 1009


@pytest.mark.parametrize("deflate", DEFLATE)
def test_fragmented_messages(run_example, deflate):
    _, port = start_ws_echo(run_example)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/", deflate=deflate) as ws:
            # An iterable is sent as one message in several frames; a
            # multi-byte character is split across two of them below.
            pieces = ["first ", "sec", "ond ", "caf", "é ", "€", "", "end"]
            await ws.send(pieces)
            assert await recv(ws) == "".join(pieces)
            whole = "€".encode()
            await ws.send([b"\x01" * 1000, b"", os.urandom(70000), whole])
            back = await recv(ws)
            assert isinstance(back, bytes) and len(back) == 71003
            # A large message in many frames.
            big = [os.urandom(1 << 16) for _ in range(16)]
            await ws.send(big)
            assert await recv(ws, timeout=30) == b"".join(big)

    run(main())


def test_text_fragment_split_inside_a_character(run_example):
    # python3-websockets sends str fragments whole; raw frames can cut a
    # character in two, which must still be accepted and echoed.
    _, port = start_ws_echo(run_example)
    s = raw_upgrade(port)
    with s:
        euro = "€".encode()
        s.sendall(masked_frame(0x1, b"ab" + euro[:1], fin=False))
        s.sendall(masked_frame(0x0, euro[1:2], fin=False))
        s.sendall(masked_frame(0x0, euro[2:] + b"cd", fin=True))
        fin, opcode, payload = read_frame(s)
        assert (fin, opcode, payload) == (True, 0x1, b"ab" + euro + b"cd")


@pytest.mark.parametrize("deflate", DEFLATE)
def test_pipelined_messages_come_back_in_order(run_example, deflate):
    _, port = start_ws_echo(run_example)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/", deflate=deflate) as ws:
            sent = [f"message {i} " * (i % 50) if i % 3 else os.urandom(i) for i in range(300)]
            for m in sent:
                await ws.send(m)
            for m in sent:
                assert await recv(ws) == m

    run(main())


def test_many_clients_at_once(run_example):
    _, port = start_ws_echo(run_example)

    async def one(i):
        async with connect(f"ws://127.0.0.1:{port}/c{i}", deflate=i % 2 == 0) as ws:
            for k in range(5):
                m = f"client {i} message {k}"
                await ws.send(m)
                assert await recv(ws) == m

    async def main():
        await asyncio.gather(*(one(i) for i in range(60)))

    run(main())


def test_ping_is_answered(run_example):
    _, port = start_ws_echo(run_example)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            for payload in [b"", b"ping data", os.urandom(125)]:
                pong = await ws.ping(payload)
                await asyncio.wait_for(pong, IO_TIMEOUT)
            # Pings do not disturb the messages around them.
            await ws.send("after the pings")
            assert await recv(ws) == "after the pings"

    run(main())


def test_ping_payload_comes_back_in_the_pong(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:
        s.sendall(masked_frame(0x9, b"are you there?"))
        assert read_frame(s) == (True, 0xA, b"are you there?")


@pytest.mark.parametrize(
    "code,reason",
    [(1000, ""), (1000, "normal"), (1001, "going"), (3000, "registered"), (4999, "é" * 20)],
)
def test_close_code_is_echoed(run_example, code, reason):
    _, port = start_ws_echo(run_example)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("before closing")
            assert await recv(ws) == "before closing"
            await ws.close(code, reason)
            return ws.close_code

    assert run(main()) == code


def test_empty_close_is_answered(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:
        s.sendall(masked_frame(0x8, b""))
        fin, opcode, payload = read_frame(s)
        assert (opcode, payload) == (0x8, b"")
        assert s.recv(1) == b"", "the server closes TCP after the handshake"


def test_invalid_close_code_gets_1002(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:
        s.sendall(masked_frame(0x8, (1005).to_bytes(2, "big")))
        fin, opcode, payload = read_frame(s)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1002


def test_invalid_utf8_gets_1007(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:
        s.sendall(masked_frame(0x1, b"valid, then \xff\xfe"))
        fin, opcode, payload = read_frame(s)
        assert opcode == 0x8
        assert int.from_bytes(payload[:2], "big") == 1007


def test_invalid_utf8_across_fragments_gets_1007(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:
        s.sendall(masked_frame(0x1, b"ok \xe2\x82", fin=False))
        s.sendall(masked_frame(0x0, b"A", fin=True))  # not a continuation byte
        fin, opcode, payload = read_frame(s)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1007


def test_unmasked_client_frame_gets_1002(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:
        s.sendall(bytes([0x81, 0x05]) + b"hello")
        fin, opcode, payload = read_frame(s)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1002


def test_reserved_bit_without_deflate_gets_1002(run_example):
    _, port = start_ws_echo(run_example)
    with raw_upgrade(port) as s:  # no extension negotiated
        s.sendall(masked_frame(0x1, b"hello", rsv1=True))
        fin, opcode, payload = read_frame(s)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1002


@pytest.mark.parametrize("deflate", DEFLATE)
def test_message_over_the_limit_gets_1009(run_example, deflate):
    _, port = start_ws_echo(run_example, "--max-message", "1024")

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/", deflate=deflate) as ws:
            await ws.send("x" * 1024)
            assert await recv(ws) == "x" * 1024
            await ws.send("y" * 1025)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
                await recv(ws)
            return info.value.rcvd.code if info.value.rcvd else None

    assert run(main()) == 1009


def test_sigterm_sends_going_away(run_example):
    ex, port = start_ws_echo(run_example)

    async def main():
        async with connect(f"ws://127.0.0.1:{port}/") as ws:
            await ws.send("hi")
            assert await recv(ws) == "hi"
            ex.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await recv(ws)
            return ws.close_code, ws.close_reason

    assert run(main()) == (1001, "server shutting down")
    assert ex.wait() == 0
    assert "clean=yes" in ex.stderr_text()


@pytest.mark.parametrize("name,path", [("ws-echo", "/"), ("ws-chat", "/ws")])
def test_sigterm_cuts_off_a_client_that_never_closes(run_example, name, path):
    ex = run_example(name, "--port", LOCAL)
    port = ex.port()
    s = raw_upgrade(port, path)  # answers nothing, not even the close
    try:
        if name == "ws-chat":
            assert read_frame(s)[1] == 0x1  # the welcome: the member is open
        else:
            s.sendall(masked_frame(0x1, b"open?"))
            assert read_frame(s) == (True, 0x1, b"open?")
        ex.send_signal(signal.SIGTERM)
        fin, opcode, payload = read_frame(s)
        assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == 1001
        # After the grace period the server drops us and exits cleanly.
        assert ex.wait() == 0
        assert "clean=yes" in ex.stderr_text()
    finally:
        s.close()


# ---- The opening handshake -------------------------------------------------


def test_accept_key_and_headers(run_example):
    _, port = start_ws_echo(run_example)
    key = base64.b64encode(os.urandom(16)).decode()
    status, headers, _ = raw_exchange(port, upgrade_request(Sec_WebSocket_Key=key))
    assert status == 101
    want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    assert headers["sec-websocket-accept"] == want
    assert headers["upgrade"].lower() == "websocket"
    assert "upgrade" in headers["connection"].lower()
    assert "sec-websocket-extensions" not in headers  # nothing was offered


def test_deflate_answer_keeps_no_server_context(run_example):
    _, port = start_ws_echo(run_example)
    offer = "permessage-deflate; client_max_window_bits"
    status, headers, _ = raw_exchange(port, upgrade_request(Sec_WebSocket_Extensions=offer))
    assert status == 101
    answer = [p.strip() for p in headers["sec-websocket-extensions"].split(";")]
    assert answer[0] == "permessage-deflate"
    assert "server_no_context_takeover" in answer


def test_no_deflate_option_declines_the_offer(run_example):
    _, port = start_ws_echo(run_example, "--no-deflate")
    exts = run(echo_all(f"ws://127.0.0.1:{port}/", ["plain"], True))
    assert exts == []


@pytest.mark.parametrize(
    "overrides,statuses",
    [
        pytest.param({"Sec-WebSocket-Key": None}, {400}, id="no-key"),
        pytest.param({"Sec-WebSocket-Key": "c2hvcnQ="}, {400}, id="short-key"),
        pytest.param({"Sec-WebSocket-Key": "not base64 at all!!!!!=="}, {400}, id="bad-key"),
        pytest.param({"Sec-WebSocket-Version": "8"}, {426}, id="version-8"),
        pytest.param({"Sec-WebSocket-Version": None}, {400, 426}, id="no-version"),
        pytest.param({"Upgrade": "h2c"}, {400, 426}, id="other-protocol"),
        pytest.param({"Upgrade": None, "Connection": "keep-alive"}, {426}, id="plain-get"),
        pytest.param(
            {"Sec-WebSocket-Extensions": "permessage-deflate; server_max_window_bits=99"},
            {400},
            id="bad-deflate-offer",
        ),
    ],
)
def test_bad_handshake_is_refused(run_example, overrides, statuses):
    _, port = start_ws_echo(run_example)
    status, headers, body = raw_exchange(port, upgrade_request(**overrides))
    if "Sec-WebSocket-Extensions" in overrides and status == 101:
        # RFC 7692 section 5: a server declines an offer with an invalid
        # parameter; it may accept the connection without the extension.
        assert "sec-websocket-extensions" not in headers
    else:
        assert status in statuses, (status, headers, body)
    if status == 426:
        assert "upgrade" in headers or "sec-websocket-version" in headers
    if "Sec-WebSocket-Version" in overrides and status == 426:
        assert headers["sec-websocket-version"] == "13"
    # The server stays healthy for the next client.
    run(echo_all(f"ws://127.0.0.1:{port}/", ["still here"], True))


def test_post_is_not_an_upgrade(run_example):
    _, port = start_ws_echo(run_example)
    req = upgrade_request().replace(b"GET ", b"POST ", 1)
    req = req.replace(b"\r\n\r\n", b"\r\nContent-Length: 0\r\n\r\n")
    status, _, _ = raw_exchange(port, req)
    assert status in (400, 405, 426)


# ---- ws-echo's client mode -> python3-websockets echo server ---------------


@pytest.mark.parametrize("server_deflate", DEFLATE)
@pytest.mark.parametrize("client_deflate", DEFLATE)
@pytest.mark.parametrize(
    "binary", [pytest.param(False, id="text"), pytest.param(True, id="binary")]
)
def test_client_against_python_server(py_echo_server, server_deflate, client_deflate, binary):
    server = py_echo_server(deflate=server_deflate)
    args = ["--connect", server.url("/echo"), "--count", 100, "--size", 3000]
    if binary:
        args.append("--binary")
    if client_deflate:
        args.append("--deflate")
    r = run_client(*args)
    assert r.returncode == 0, r.stderr
    negotiated = server_deflate and client_deflate
    assert f"100 of 100 {'binary' if binary else 'text'} messages" in r.stdout
    assert f"deflate={'yes' if negotiated else 'no'}" in r.stdout
    assert "closed cleanly (code 1000)" in r.stdout
    assert server.extensions == [["permessage-deflate"] if negotiated else []]
    assert server.paths == ["/echo"]
    assert server.messages == 100
    assert server.close_codes == [1000]


@pytest.mark.parametrize("deflate", DEFLATE)
def test_client_large_messages_against_python_server(py_echo_server, deflate):
    server = py_echo_server(deflate=True)
    args = ["--connect", server.url(), "--count", 4, "--size", "1M", "--binary", "--window", 2]
    r = run_client(*(args + (["--deflate"] if deflate else [])))
    assert r.returncode == 0, r.stderr
    assert "4 of 4 binary messages of 1048576 bytes" in r.stdout


@pytest.mark.parametrize("deflate", DEFLATE)
def test_client_fragmented_sends_against_python_server(py_echo_server, deflate):
    server = py_echo_server(deflate=True)
    args = ["--connect", server.url(), "--count", 20, "--size", 10000, "--fragment", 999]
    r = run_client(*(args + (["--deflate"] if deflate else [])))
    assert r.returncode == 0, r.stderr
    assert server.messages == 20


def test_client_against_our_server(run_example):
    _, port = start_ws_echo(run_example)
    for extra in [[], ["--deflate"], ["--binary", "--deflate", "--fragment", "100"]]:
        url = f"ws://127.0.0.1:{port}/x"
        r = run_client("--connect", url, "--count", 200, "--size", 500, *extra)
        assert r.returncode == 0, r.stderr
        assert "200 of 200" in r.stdout


def test_client_reports_a_refused_connection():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    r = run_client("--connect", f"ws://127.0.0.1:{port}/", timeout=30)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr


def test_client_reports_a_server_that_does_not_upgrade(run_example):
    # ws-chat answers 404 on paths other than / and /ws.
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()
    r = run_client("--connect", f"ws://127.0.0.1:{port}/nowhere", timeout=30)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr and "404" in r.stderr


@pytest.mark.parametrize("url", ["http//nope", "wss://127.0.0.1/", "ws://bad host/"])
def test_client_refuses_bad_urls(url):
    r = run_client("--connect", url, timeout=30)
    assert r.returncode == 1
    assert "cannot connect" in r.stderr


# ---- Options -----------------------------------------------------------------


@pytest.mark.parametrize("name", ["ws-echo", "ws-chat"])
def test_help(name):
    r = subprocess.run(
        [str(example_path(name)), "--help"], capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0 and "usage:" in r.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--bogus"],
        ["--port"],
        ["--port", "tcp:70000"],
        ["--count", "3"],  # a client option without --connect
        ["--connect", "ws://127.0.0.1:1/", "--no-deflate"],
        ["--connect", "ws://127.0.0.1:1/", "--size", "17M"],
        ["--connect", "ws://127.0.0.1:1/", "--window", "0"],
        ["--connect", "ws://127.0.0.1:1/", "--count", "-1"],
    ],
)
def test_ws_echo_refuses_bad_options(args):
    r = run_client(*args, timeout=30)
    assert r.returncode == 2, r.stderr
    assert r.stderr


# ---- ws-chat -------------------------------------------------------------------


def chat_url(port):
    return f"ws://127.0.0.1:{port}/ws"


async def expect(ws, text):
    got = await recv(ws)
    assert got == text, f"expected {text!r}, got {got!r}"


def test_chat_broadcast_to_everyone(run_example):
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()

    async def main():
        members = []
        # Alternate compression: one shared message goes out compressed to
        # some and plain to the others.
        for i in range(5):
            ws = await connect(chat_url(port), deflate=i % 2 == 0)
            await expect(ws, f"* welcome, you are guest-{i + 1} ({i + 1} online)")
            for earlier in members:
                await expect(earlier, f"* guest-{i + 1} joined ({i + 1} online)")
            members.append(ws)
        assert [extension_names(m) for m in members] == [
            ["permessage-deflate"] if i % 2 == 0 else [] for i in range(5)
        ]
        long_text = compressible_text(3000)
        for sender, text in [(0, "hello everyone"), (3, "héllo €😀"), (4, long_text)]:
            await members[sender].send(text)
            for m in members:
                await expect(m, f"guest-{sender + 1}: {text}")
        await members[2].close()
        for i in (0, 1, 3, 4):
            await expect(members[i], "* guest-3 left (4 online)")
        for i in (0, 1, 3, 4):
            await members[i].close()

    run(main())


def test_chat_limits(run_example):
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()

    async def closed_with(payload):
        async with connect(chat_url(port)) as ws:
            await recv(ws)  # the welcome
            await ws.send(payload)
            with pytest.raises(websockets.exceptions.ConnectionClosed) as info:
                while True:
                    await recv(ws)
            return info.value.rcvd.code if info.value.rcvd else None

    assert run(closed_with(b"binary")) == 1003
    assert run(closed_with("x" * 5000)) == 1009

    async def fits():
        async with connect(chat_url(port)) as ws:
            text = "y" * 4096
            await recv(ws)
            await ws.send(text)
            name = "guest-3"
            await expect(ws, f"{name}: {text}")

    run(fits())


def test_chat_checks_the_origin(run_example):
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()
    host = f"127.0.0.1:{port}"
    evil = upgrade_request("/ws", host=host, Origin="http://evil.example")
    assert raw_exchange(port, evil)[0] == 403
    own = upgrade_request("/ws", host=host, Origin=f"http://{host}")
    assert raw_exchange(port, own)[0] == 101
    # A client that is not a browser sends no Origin and is let in.
    assert raw_exchange(port, upgrade_request("/ws", host=host))[0] == 101


def test_chat_serves_its_page(run_example):
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()
    req = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    status, headers, body = raw_exchange(port, req.encode())
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b"new WebSocket(" in body and b"/ws" in body
    req = "GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert raw_exchange(port, req.encode())[0] == 404
    req = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    status, headers, _ = raw_exchange(port, req.encode())
    assert status == 405 and "GET" in headers["allow"]


def test_chat_sigterm_says_goodbye(run_example):
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()

    async def main():
        members = [await connect(chat_url(port)) for _ in range(3)]
        for i, m in enumerate(members):
            await recv(m)  # the welcome
            for later in range(i + 1, 3):
                await recv(m)  # the joins after it
        ex.send_signal(signal.SIGTERM)
        for m in members:
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await recv(m)
            assert (m.close_code, m.close_reason) == (1001, "server shutting down")

    run(main())
    assert ex.wait() == 0


def test_chat_cuts_off_a_member_that_does_not_read(run_example):
    ex = run_example("ws-chat", "--port", LOCAL)
    port = ex.port()
    slow = raw_upgrade(port, "/ws")  # joins as guest-1, then never reads
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 12)

    async def main():
        async with connect(chat_url(port), deflate=False) as fast:
            await expect(fast, "* welcome, you are guest-2 (2 online)")
            text = "z" * 4000
            left = "* guest-1 left (1 online)"
            seen_left = False
            # 1 MiB of queue plus what the kernels buffer: a few MiB at most.
            for _ in range(4000):
                await fast.send(text)
                got = await recv(fast)
                if got == left:
                    seen_left = True
                    break
                assert got == f"guest-2: {text}"
            # The slow member was failed (1008) and, as it never answers
            # the close, cut off after the close timeout.
            while not seen_left:
                got = await recv(fast, timeout=30)
                seen_left = got == left
            # The room goes on without it.
            await fast.send("still here")
            await expect(fast, "guest-2: still here")

    try:
        run(main())
    finally:
        slow.close()
    # ws-chat saw its send refused (the queue limit) rather than a reset.
    assert "event=chat.slow_member name=guest-1" in ex.stderr_text()

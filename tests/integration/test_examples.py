"""Integration tests: the example programs, driven by real socket clients.

Run: /usr/bin/python3 -m pytest tests/integration (EDDY_BUILD_DIR=build-dir).
"""

import hashlib
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import IO_TIMEOUT, Lines, connect, example_path, recv_exactly, recv_until_eof


# ---- A tiny threaded TCP server, to play targets the examples talk to -----


class ThreadServer:
    """Accepts on 127.0.0.1:0 and runs handler(conn, index) in a thread per
    connection. close() shuts every socket; all threads are daemons and
    bounded by socket timeouts."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.errors = []
        self.closing = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        index = 0
        while not self.closing:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c.settimeout(IO_TIMEOUT)
            self.conns.append(c)
            threading.Thread(target=self._run, args=(c, index), daemon=True).start()
            index += 1

    def _run(self, c, index):
        try:
            self.handler(c, index)
        except (OSError, AssertionError) as e:
            if not self.closing:
                self.errors.append(repr(e))

    def close(self):
        self.closing = True
        self.thread.join(timeout=5)
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass


@pytest.fixture
def thread_server():
    servers = []

    def make(handler):
        s = ThreadServer(handler)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def run_tool(name, *args, timeout=30):
    """Runs an example to completion (for clients and --help)."""
    return subprocess.run(
        [str(example_path(name))] + [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        text=True,
    )


def send_until_stalled(s, cap, stall=1.0, chunk=1 << 16):
    """Sends without reading until the peer stops taking bytes for `stall`
    seconds or `cap` bytes went out. Returns the bytes accepted (all 'x')."""
    s.setblocking(False)
    data = b"x" * chunk
    sent = 0
    last_progress = time.monotonic()
    try:
        while sent < cap and time.monotonic() - last_progress < stall:
            try:
                n = s.send(data[: min(chunk, cap - sent)])
            except BlockingIOError:
                time.sleep(0.01)
                continue
            sent += n
            last_progress = time.monotonic()
    finally:
        s.setblocking(True)
        s.settimeout(IO_TIMEOUT)
    return sent


def small_buffers(s):
    # Fixed socket buffers turn off autotuning, so what the kernel can hold
    # is small and known.
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)


# ---- Every example ---------------------------------------------------------

SERVERS = ["echo", "uppercase", "chat"]


@pytest.mark.parametrize("name", SERVERS + ["proxy", "simple-client"])
def test_help_exits_zero(name):
    r = run_tool(name, "--help")
    assert r.returncode == 0
    assert "usage:" in r.stdout


@pytest.mark.parametrize("name", SERVERS)
def test_bad_endpoint_points_at_the_mistake(name):
    r = run_tool(name, "tcp:70000")
    assert r.returncode == 2
    assert "bad endpoint" in r.stderr
    assert "^" in r.stderr


@pytest.mark.parametrize("name", SERVERS)
def test_unknown_option_is_refused(name):
    r = run_tool(name, "--no-such-option")
    assert r.returncode == 2
    assert "usage:" in r.stderr


@pytest.mark.parametrize("name", SERVERS)
def test_sigterm_idle_exits_zero(run_example, name):
    ex = run_example(name, "tcp:0")
    ex.port()
    assert ex.stop(signal.SIGTERM) == 0
    assert "clean=yes" in ex.stderr_text()


@pytest.mark.parametrize("name", SERVERS)
def test_sigint_exits_zero(run_example, name):
    ex = run_example(name, "tcp:0")
    ex.port()
    assert ex.stop(signal.SIGINT) == 0


@pytest.mark.parametrize("name", SERVERS)
def test_sigterm_closes_open_connections_gracefully(run_example, name):
    ex = run_example(name, "tcp:0")
    port = ex.port()
    clients = [connect(port) for _ in range(3)]
    # The server has seen them once it answers; chat greets, the others echo.
    for c in clients:
        if name == "chat":
            assert Lines(c).readline().startswith("* welcome")
        else:
            c.sendall(b"ping\n")
            assert recv_exactly(c, 5).lower() == b"ping\n"
    ex.send_signal(signal.SIGTERM)
    for c in clients:
        rest = recv_until_eof(c, timeout=IO_TIMEOUT)
        if name == "chat":
            assert b"shutting down" in rest
        c.close()
    assert ex.wait() == 0
    # Listening stopped: a new connection is refused.
    with pytest.raises(OSError):
        connect(port, timeout=2).recv(1)


# ---- echo ------------------------------------------------------------------


def test_echo_roundtrip_and_talk_hint(run_example):
    ex = run_example("echo", "tcp:0")
    port = ex.port()
    ex.wait_for(rf"talk to it: nc 127\.0\.0\.1 {port}", stream="out")
    with connect(port) as s:
        s.sendall(b"hello, eddy")
        assert recv_exactly(s, 11) == b"hello, eddy"


def test_echo_log_lines_are_parseable(run_example):
    ex = run_example("echo", "tcp:0")
    m = ex.wait_for(r"event=ready endpoint=tcp:0 address=127\.0\.0\.1:(\d+) port=(\d+)$")
    assert m.group(1) == m.group(2) != "0"
    # The library's own line, logged when the listener was bound.
    assert ex.wait_for(r"event=listening .*\bport=(\d+)").group(1) == m.group(2)


def test_echo_unix_socket(run_example, sock_dir):
    path = sock_dir / "echo.sock"
    ex = run_example("echo", f"unix:{path}")
    ex.wait_for(r"event=ready")
    ex.wait_for(rf"talk to it: nc -U {path}", stream="out")
    with connect(path) as s:
        s.sendall(b"over unix")
        assert recv_exactly(s, 9) == b"over unix"
    assert ex.stop() == 0
    assert not path.exists(), "the socket file is removed on stop"


def test_echo_large_payload(run_example):
    ex = run_example("echo", "tcp:0")
    port = ex.port()
    payload = os.urandom(8 << 20)
    with connect(port) as s:
        # Send from a thread while reading here: neither side may wait for
        # the other to finish, or both would stall on full buffers.
        sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        sender.start()
        back = recv_exactly(s, len(payload), timeout=60)
        sender.join(timeout=10)
    assert hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()


def test_echo_many_clients(run_example):
    ex = run_example("echo", "tcp:0")
    port = ex.port()
    clients = [connect(port) for _ in range(200)]
    try:
        for i, c in enumerate(clients):
            c.sendall(f"client {i:04d}|".encode())
        for i, c in enumerate(clients):
            assert recv_exactly(c, 12) == f"client {i:04d}|".encode()
    finally:
        for c in clients:
            c.close()


def test_echo_half_close_flushes_then_closes(run_example):
    ex = run_example("echo", "tcp:0")
    port = ex.port()
    payload = os.urandom(1 << 20)
    with connect(port) as s:
        sender = threading.Thread(
            target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)), daemon=True
        )
        sender.start()
        back = recv_until_eof(s, limit=len(payload))
        sender.join(timeout=10)
    assert back == payload


def test_echo_backpressure_on_a_client_that_does_not_read(run_example):
    ex = run_example("echo", "tcp:0")
    port = ex.port()
    cap = 128 << 20
    with connect(port) as s:
        small_buffers(s)
        sent = send_until_stalled(s, cap)
        # Without backpressure the server would take (and buffer) all of it.
        assert sent < 64 << 20, f"server kept reading: {sent} bytes accepted"
        # Reading resumes the flow: every byte comes back, then EOF.
        s.shutdown(socket.SHUT_WR)
        back = recv_until_eof(s, limit=sent, timeout=60)
    assert len(back) == sent
    assert back == b"x" * sent


def vanish_mid_write(port, line=b""):
    """Makes the server write to a client that is gone: send a lot, read
    nothing, close (the unread bytes turn the close into a reset)."""
    for _ in range(8):
        s = connect(port)
        small_buffers(s)
        send_until_stalled(s, 4 << 20, stall=0.2)
        s.close()
    time.sleep(0.2)


@pytest.mark.parametrize("name", ["echo", "uppercase"])
def test_server_survives_clients_that_vanish_mid_write(run_example, name):
    # Writing to a reset socket raises SIGPIPE unless the process ignores it.
    ex = run_example(name, "tcp:0")
    port = ex.port()
    vanish_mid_write(port)
    assert ex.proc.poll() is None, f"{name} died: status {ex.proc.returncode}"
    with connect(port) as s:
        s.sendall(b"alive\n")
        assert recv_exactly(s, 6).lower() == b"alive\n"


# ---- uppercase -------------------------------------------------------------


def test_uppercase_lines(run_example):
    ex = run_example("uppercase", "tcp:0")
    port = ex.port()
    with connect(port) as s:
        lines = Lines(s)
        s.sendall(b"hello\nWorld 123\r\n\n")
        assert lines.readline() == "HELLO"
        assert lines.readline() == "WORLD 123"
        assert lines.readline() == ""


def test_uppercase_byte_by_byte(run_example):
    ex = run_example("uppercase", "tcp:0")
    port = ex.port()
    with connect(port) as s:
        for b in b"mixed Case\n":
            s.send(bytes([b]))
            time.sleep(0.002)
        assert Lines(s).readline() == "MIXED CASE"


def test_uppercase_many_pipelined_lines_in_order(run_example):
    ex = run_example("uppercase", "tcp:0")
    port = ex.port()
    with connect(port) as s:
        lines = Lines(s)
        s.sendall(b"".join(f"line {i}\n".encode() for i in range(2000)))
        for i in range(2000):
            assert lines.readline() == f"LINE {i}"


def test_uppercase_line_over_the_limit_gets_an_error_and_goes_on(run_example):
    ex = run_example("uppercase", "--max-line", "100", "tcp:0")
    port = ex.port()
    with connect(port) as s:
        lines = Lines(s)
        s.sendall(b"a" * 100 + b"\n")  # exactly the limit: fine
        assert lines.readline() == "A" * 100
        s.sendall(b"b" * 5000 + b"\nafter\n")
        assert lines.readline() == "ERROR line too long (over 100 bytes)"
        assert lines.readline() == "AFTER"
    ex.wait_for(r"event=line\.too_long")


def test_uppercase_endless_line_does_not_grow_memory(run_example):
    """A client streaming one line forever gets one error and is not
    buffered: the server keeps answering afterwards."""
    ex = run_example("uppercase", "--max-line", "1000", "tcp:0")
    port = ex.port()
    with connect(port) as s:
        lines = Lines(s)
        chunk = b"z" * 65536
        for _ in range(256):  # 16 MiB without a newline
            s.sendall(chunk)
        s.sendall(b"\nstill here\n")
        assert lines.readline().startswith("ERROR line too long")
        assert lines.readline() == "STILL HERE"


# ---- simple-client ---------------------------------------------------------


def test_simple_client_against_echo_in_order(run_example):
    ex = run_example("echo", "tcp:0")
    port = ex.port()
    r = run_tool("simple-client", f"tcp:127.0.0.1:{port}", 50, "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"hello-{i}" for i in range(1, 51)]


def test_simple_client_against_uppercase(run_example):
    ex = run_example("uppercase", "tcp:0")
    port = ex.port()
    r = run_tool("simple-client", f"tcp:127.0.0.1:{port}", 5, "shout")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"SHOUT-{i}" for i in range(1, 6)]


def test_simple_client_over_unix_socket(run_example, sock_dir):
    path = sock_dir / "echo.sock"
    ex = run_example("echo", f"unix:{path}")
    ex.wait_for(r"event=ready")
    r = run_tool("simple-client", f"unix:{path}", 3, "u")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["u-1", "u-2", "u-3"]


def test_simple_client_prints_request_order_not_arrival_order(thread_server):
    n = 6

    def reply_late_for_early_requests(c, _index):
        line = Lines(c).readline()
        i = int(line.rsplit("-", 1)[1])
        time.sleep(0.08 * (n - i))  # request 1 is answered last
        c.sendall(f"{line}!\n".encode())
        c.close()

    srv = thread_server(reply_late_for_early_requests)
    r = run_tool("simple-client", f"tcp:127.0.0.1:{srv.port}", n, "req")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"req-{i}!" for i in range(1, n + 1)]
    assert not srv.errors


def test_simple_client_connection_refused(thread_server):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    r = run_tool("simple-client", f"tcp:127.0.0.1:{port}", 3, "x")
    assert r.returncode == 1
    assert "refused" in r.stderr.lower()
    assert r.stdout == ""


def test_simple_client_server_closes_without_reply(thread_server):
    srv = thread_server(lambda c, i: (Lines(c).readline(), c.close()))
    r = run_tool("simple-client", f"tcp:127.0.0.1:{srv.port}", 2, "x")
    assert r.returncode == 1
    assert "closed before the reply" in r.stderr


def test_simple_client_timeout_cancels_everything(thread_server):
    release = threading.Event()
    srv = thread_server(lambda c, i: release.wait(20))
    t0 = time.monotonic()
    r = run_tool("simple-client", "--timeout", 1, f"tcp:127.0.0.1:{srv.port}", 4, "x")
    release.set()
    assert time.monotonic() - t0 < 10
    assert r.returncode == 1
    assert "cancel" in r.stderr.lower()


def test_simple_client_sigterm_exits_zero(thread_server):
    release = threading.Event()
    srv = thread_server(lambda c, i: release.wait(20))
    p = subprocess.Popen(
        [str(example_path("simple-client")), f"tcp:127.0.0.1:{srv.port}", "3", "x"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while len(srv.conns) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(srv.conns) == 3
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
    finally:
        release.set()
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    assert "stopped" in err


@pytest.mark.parametrize(
    "args",
    [
        ["tcp:127.0.0.1:1", "0", "x"],
        ["tcp:127.0.0.1:1", "1001", "x"],
        ["tcp:127.0.0.1:1", "2"],
        ["tcp:127.0.0.1:1", "2", "two\nlines"],
        ["nope:1", "2", "x"],
    ],
)
def test_simple_client_bad_arguments(args):
    r = run_tool("simple-client", *args)
    assert r.returncode == 2


# ---- proxy -----------------------------------------------------------------


@pytest.fixture
def echo_behind_proxy(run_example):
    echo = run_example("echo", "tcp:0")
    echo_port = echo.port()
    proxy = run_example("proxy", "tcp:0", f"tcp:127.0.0.1:{echo_port}")
    return proxy.port(), proxy


def test_proxy_roundtrip(echo_behind_proxy):
    port, _ = echo_behind_proxy
    with connect(port) as s:
        s.sendall(b"through the proxy")
        assert recv_exactly(s, 17) == b"through the proxy"


def test_proxy_large_transfer_intact(echo_behind_proxy):
    port, _ = echo_behind_proxy
    payload = os.urandom(16 << 20)
    with connect(port) as s:
        sender = threading.Thread(target=s.sendall, args=(payload,), daemon=True)
        sender.start()
        back = recv_exactly(s, len(payload), timeout=90)
        sender.join(timeout=10)
    assert hashlib.sha256(back).digest() == hashlib.sha256(payload).digest()


def test_proxy_many_connections(echo_behind_proxy):
    port, _ = echo_behind_proxy
    clients = [connect(port) for _ in range(50)]
    try:
        for i, c in enumerate(clients):
            c.sendall(f"{i:03d}".encode())
        for i, c in enumerate(clients):
            assert recv_exactly(c, 3) == f"{i:03d}".encode()
    finally:
        for c in clients:
            c.close()


def test_proxy_half_close_both_ways(run_example, thread_server):
    """The client's EOF reaches the target, and the target's answer, sent
    after that EOF, still reaches the client, followed by EOF."""

    def count_then_answer(c, _index):
        total = len(recv_until_eof(c, limit=1 << 24))
        c.sendall(f"got {total} bytes\n".encode())
        c.close()

    target = thread_server(count_then_answer)
    proxy = run_example("proxy", "tcp:0", f"tcp:127.0.0.1:{target.port}")
    port = proxy.port()
    with connect(port) as s:
        s.sendall(b"q" * 300000)
        s.shutdown(socket.SHUT_WR)
        assert recv_until_eof(s) == b"got 300000 bytes\n"
    assert not target.errors


def test_proxy_survives_clients_that_vanish_mid_write(echo_behind_proxy):
    port, proxy = echo_behind_proxy
    vanish_mid_write(port)
    assert proxy.proc.poll() is None, f"proxy died: status {proxy.proc.returncode}"
    with connect(port) as s:
        s.sendall(b"alive")
        assert recv_exactly(s, 5) == b"alive"


def test_chat_survives_members_that_vanish(run_example):
    ex = run_example("chat", "tcp:0")
    port = ex.port()
    talker, _, _ = join(port)
    for _ in range(5):
        gone = connect(port)
        small_buffers(gone)
        talker.sendall((b"v" * 1500 + b"\n") * 200)  # broadcast to `gone`
        gone.close()
    time.sleep(0.3)
    assert ex.proc.poll() is None, f"chat died: status {ex.proc.returncode}"
    a, _, _ = join(port)
    a.close()
    talker.close()


def test_proxy_target_down_closes_client_and_keeps_serving(run_example):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead_port = s.getsockname()[1]
    s.close()
    proxy = run_example("proxy", "tcp:0", f"tcp:127.0.0.1:{dead_port}")
    port = proxy.port()
    for _ in range(3):
        with connect(port) as c:
            assert recv_until_eof(c) == b""
    proxy.wait_for(r"event=proxy\.connect_failed error=ECONNREFUSED")


def test_proxy_backpressure_with_a_target_that_does_not_read(run_example, thread_server):
    release = threading.Event()
    target = thread_server(lambda c, i: (small_buffers(c), release.wait(30)))
    proxy = run_example("proxy", "tcp:0", f"tcp:127.0.0.1:{target.port}")
    port = proxy.port()
    try:
        with connect(port) as s:
            small_buffers(s)
            sent = send_until_stalled(s, 128 << 20)
            assert sent < 64 << 20, f"proxy kept reading: {sent} bytes accepted"
    finally:
        release.set()


# ---- chat ------------------------------------------------------------------


def join(port):
    s = connect(port)
    lines = Lines(s)
    welcome = lines.readline()
    assert welcome.startswith("* welcome guest-"), welcome
    name = welcome.split()[2].rstrip(",")
    return s, lines, name


def test_chat_three_clients(run_example):
    ex = run_example("chat", "tcp:0")
    port = ex.port()
    a, la, na = join(port)
    b, lb, nb = join(port)
    assert la.readline() == f"* {nb} joined"
    c, lc, nc = join(port)
    assert la.readline() == f"* {nc} joined"
    assert lb.readline() == f"* {nc} joined"
    try:
        a.sendall(b"/nick alice\n")
        assert la.readline() == "* you are now alice"
        assert lb.readline() == f"* {na} is now alice"
        assert lc.readline() == f"* {na} is now alice"

        a.sendall(b"hello, room\r\n")
        assert lb.readline() == "alice: hello, room"
        assert lc.readline() == "alice: hello, room"
        b.sendall(b"hi alice\n")
        assert la.readline() == f"{nb}: hi alice"
        assert lc.readline() == f"{nb}: hi alice"
        # Nobody hears their own lines.
        assert la.nothing_within(0.3)
        assert lb.nothing_within(0.1)

        c.close()  # leaves
        assert la.readline() == f"* {nc} left"
        assert lb.readline() == f"* {nc} left"

        b.sendall(b"/quit\n")
        assert lb.readline() == "* bye"
        assert lb.expect_eof() == b""
        assert la.readline() == f"* {nb} left"
    finally:
        for s in (a, b, c):
            s.close()


def test_chat_many_clients_get_every_broadcast(run_example):
    ex = run_example("chat", "tcp:0")
    port = ex.port()
    members = [join(port) for _ in range(30)]
    try:
        # Drain the join notices: member k saw 29 - k of them.
        for k, (_, lines, _) in enumerate(members):
            for _ in range(29 - k):
                assert lines.readline().endswith(" joined")
        speaker, _, name = members[0]
        for i in range(20):
            speaker.sendall(f"message {i}\n".encode())
        for _, lines, _ in members[1:]:
            for i in range(20):
                assert lines.readline() == f"{name}: message {i}"
    finally:
        for s, _, _ in members:
            s.close()


def test_chat_nick_rules(run_example):
    ex = run_example("chat", "tcp:0")
    port = ex.port()
    a, la, _ = join(port)
    b, lb, _ = join(port)
    la.readline()  # b joined
    try:
        a.sendall(b"/nick bad name!\n")
        assert la.readline().startswith("! a name is")
        a.sendall(b"/nick " + b"n" * 33 + b"\n")
        assert la.readline().startswith("! a name is")
        b.sendall(b"/nick bob\n")
        assert lb.readline() == "* you are now bob"
        la.readline()  # "... is now bob"
        a.sendall(b"/nick bob\n")
        assert la.readline() == "! bob is taken"
    finally:
        a.close()
        b.close()


def test_chat_line_too_long_is_refused_not_sent(run_example):
    ex = run_example("chat", "tcp:0")
    port = ex.port()
    a, la, na = join(port)
    b, lb, _ = join(port)
    la.readline()
    try:
        a.sendall(b"y" * 5000 + b"\nshort\n")
        assert la.readline().startswith("! line too long")
        assert lb.readline() == f"{na}: short"
    finally:
        a.close()
        b.close()


def test_chat_slow_reader_is_cut_off(run_example):
    """A member that never reads must not make the server buffer without
    bound: it is disconnected, and the room goes on."""
    ex = run_example("chat", "tcp:0")
    port = ex.port()
    slow, _, slow_name = join(port)
    small_buffers(slow)
    fast, _, _ = join(port)
    talker = connect(port)
    stop = threading.Event()
    renamed = threading.Event()

    def drain_fast():
        # `fast` reads everything, so only `slow` falls behind.
        tail = b""
        fast.settimeout(0.2)
        while not stop.is_set():
            try:
                b = fast.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                return
            if not b:
                return
            tail = (tail + b)[-4096:]
            if b"* you are now fast\n" in tail:
                renamed.set()

    reader = threading.Thread(target=drain_fast, daemon=True)
    reader.start()
    try:
        line = b"w" * 2000 + b"\n"
        deadline = time.monotonic() + 30
        cut = False
        sent = 0
        while time.monotonic() < deadline and sent < 20000:
            talker.sendall(line * 50)
            sent += 50
            try:
                ex.wait_for(rf"event=chat\.slow_client name={slow_name}", timeout=0.05)
                cut = True
                break
            except AssertionError:
                pass
        assert cut, "the slow client was never cut off"
        # The room still works for the others.
        fast.sendall(b"/nick fast\n")
        assert renamed.wait(20)
    finally:
        stop.set()
        reader.join(timeout=5)
        for s in (slow, fast, talker):
            s.close()

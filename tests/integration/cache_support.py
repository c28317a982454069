"""Helpers for the cache tests: start Debian's memcached (the reference) and
eddyd's cache service side by side, and take transcripts of raw exchanges.

The memcached text protocol is checked differentially: the same bytes go to
memcached 1.6 and to eddy, and the replies must be the same bytes, except
where a reply legitimately differs (cas uniques, stats values, the version
string) — those are normalized or compared apart, and each test says so.

To see which replies are memcached's alone (while eddyd is not built yet),
set EDDY_CACHE_ORACLE_ONLY=1: "eddy" is then a second memcached, which also
proves the harness is deterministic.
"""

import os
import pathlib
import re
import shutil
import socket
import tempfile
import time

import pytest

from conftest import IO_TIMEOUT, START_TIMEOUT, Process
from eddyd_support import eddyd_path

ORACLE_ONLY = os.environ.get("EDDY_CACHE_ORACLE_ONLY") == "1"
# eddyd logs `event=ready service=cache ... port=N` once the cache listens.
LISTEN_LINE = re.compile(r"\bevent=ready service=cache\b.*?\bport=(\d+)")
SENTINEL = b"mn\r\n"  # meta no-op: its reply "MN" closes every exchange
SENTINEL_REPLY = b"MN\r\n"


def free_port():
    """A port free a moment ago. memcached cannot listen on port 0 and say
    which port it got, so the caller retries if it was taken meanwhile."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_connectable(port, proc, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


class CacheServer(Process):
    """A running cache server (memcached or eddyd) on 127.0.0.1:port. Its
    stdout and stderr are one stream, read into `err`."""

    def __init__(self, name, argv, env=None):
        super().__init__(name, argv, env=env, merge_stderr=True)
        self.argv = [str(a) for a in argv]
        self.port = None

    def wait_line(self, rx, timeout=START_TIMEOUT):
        return self.wait_for(rx, timeout=timeout)

    def output(self):
        return self.stderr_text()

    def stop(self):
        """SIGTERM, then SIGKILL; returns a problem description or None."""
        return "\n".join(self.finish()) or None


def memcached_path():
    path = shutil.which("memcached") or "/usr/bin/memcached"
    if not os.path.exists(path):
        pytest.fail("memcached is missing: scripts/bootstrap installs it (Debian package memcached)")
    return path


def start_memcached(memory_mb=64, max_item=None, extra=()):
    """Debian's memcached, one worker thread, TCP only, on loopback."""
    for _ in range(10):
        port = free_port()
        argv = [memcached_path(), "-l", "127.0.0.1", "-p", port, "-U", "0", "-t", "1", "-m", memory_mb]
        if os.geteuid() == 0:
            argv += ["-u", "root"]  # memcached refuses to run as root otherwise
        if max_item:
            argv += ["-I", max_item]
        argv += list(extra)
        srv = CacheServer("memcached", argv)
        if wait_connectable(port, srv.proc):
            srv.port = port
            return srv
        srv.kill()  # the port was taken in between: try another
    pytest.fail("memcached did not start:\n" + srv.output())


def wait_socket_file(path, proc, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            c.settimeout(1)
            c.connect(str(path))
            c.close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def start_memcached_unix(path, memory_mb=64):
    """memcached on a Unix socket only (-s turns TCP off)."""
    argv = [memcached_path(), "-s", path, "-U", "0", "-t", "1", "-m", memory_mb]
    if os.geteuid() == 0:
        argv += ["-u", "root"]
    srv = CacheServer("memcached", argv)
    if not wait_socket_file(path, srv.proc):
        srv.kill()
        pytest.fail("memcached did not listen on its socket:\n" + srv.output())
    srv.path = str(path)
    return srv


def start_eddyd_unix(path, memory_mb=64):
    """eddyd's cache on a Unix socket only."""
    if ORACLE_ONLY:
        return start_memcached_unix(path, memory_mb)
    argv = [eddyd_path()] + eddyd_flags() + ["--cache", f"unix:{path}", "--cache-memory", f"{memory_mb}M"]
    srv = CacheServer("eddyd", argv)
    srv.wait_line(re.compile(r"\bevent=ready service=cache\b"))
    if not wait_socket_file(path, srv.proc):
        srv.kill()
        pytest.fail("eddyd did not listen on its socket:\n" + srv.output())
    srv.path = str(path)
    return srv


def eddyd_flags():
    """The switches that turn off every service but the cache (none of them
    may bind its fixed default port in a test)."""
    return ["--locks", "off", "--http", "off", "--publish", "off"]


def start_eddyd(memory_mb=64, max_item=None, extra=()):
    """eddyd with only its cache service, on an ephemeral loopback port."""
    if ORACLE_ONLY:
        return start_memcached(memory_mb, max_item)
    argv = [eddyd_path()] + eddyd_flags() + ["--cache", "tcp:0:interface=127.0.0.1"]
    argv += ["--cache-memory", f"{memory_mb}M"]
    if max_item:
        argv += ["--cache-max-item", max_item]
    argv += list(extra)
    srv = CacheServer("eddyd", argv)
    m = srv.wait_line(LISTEN_LINE)
    srv.port = int(m.group(1))
    if not wait_connectable(srv.port, srv.proc):
        srv.kill()
        pytest.fail("eddyd did not accept connections:\n" + srv.output())
    return srv


class Servers:
    """Starts servers for one test and stops all of them at its end."""

    def __init__(self):
        self.started = []

    def memcached(self, **kw):
        s = start_memcached(**kw)
        self.started.append(s)
        return s

    def eddy(self, **kw):
        s = start_eddyd(**kw)
        self.started.append(s)
        return s

    def memcached_unix(self, path, **kw):
        s = start_memcached_unix(path, **kw)
        self.started.append(s)
        return s

    def eddy_unix(self, path, **kw):
        s = start_eddyd_unix(path, **kw)
        self.started.append(s)
        return s

    def close(self):
        problems = []
        for s in self.started:
            p = s.stop()
            if p:
                problems.append(p)
        return problems


@pytest.fixture
def servers():
    """servers.memcached(...) / servers.eddy(...): stopped when the test ends;
    a sanitizer report or a hung stop fails the test."""
    s = Servers()
    try:
        yield s
    finally:
        problems = s.close()
    assert not problems, "\n".join(problems)


@pytest.fixture
def pair(servers):
    """(memcached, eddy), both fresh, default limits."""
    return servers.memcached(), servers.eddy()


@pytest.fixture
def sock_tmp():
    d = tempfile.mkdtemp(prefix="eddy-cache-", dir="/tmp")
    yield pathlib.Path(d)
    shutil.rmtree(d, ignore_errors=True)


# ---- Raw exchanges ---------------------------------------------------------


class Sleep:
    """A step that waits (the same wait for both servers)."""

    def __init__(self, seconds):
        self.seconds = seconds


class Conn:
    """A raw client connection that reads one exchange at a time: it sends
    the request followed by `mn` and reads up to the `MN` that answers it,
    so the reply is exactly what the request produced, however many lines."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.last_cas = None

    def close(self):
        self.s.close()

    def _mn_count(self):
        return len(re.findall(rb"^MN\r$", self.buf, re.M))

    def exchange(self, data, timeout=IO_TIMEOUT):
        """Sends data + mn; returns the bytes before MN, or what came before
        the server closed the connection followed by b'<EOF>'."""
        if self.eof:
            return b"<EOF>"
        try:
            self.s.sendall(data + SENTINEL)
        except (BrokenPipeError, ConnectionResetError):
            self.eof = True
            return self.buf + b"<EOF>"
        # a request may hold mn itself: wait for its MN and ours
        want = data.count(SENTINEL) + 1
        deadline = time.monotonic() + timeout
        while not (self.buf.endswith(SENTINEL_REPLY) and self._mn_count() >= want):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no MN within {timeout}s after {data[:80]!r}; have {self.buf[:200]!r}")
            self.s.settimeout(left)
            try:
                b = self.s.recv(1 << 20)
            except socket.timeout:
                continue
            except ConnectionResetError:
                b = b""
            if not b:
                self.eof = True
                out, self.buf = self.buf, b""
                return out + b"<EOF>"
            self.buf += b
        out, self.buf = self.buf[: -len(SENTINEL_REPLY)], b""
        m = re.findall(rb"^VALUE \S+ \d+ \d+ (\d+)\r$", out, re.M)
        if m:
            self.last_cas = int(m[-1])
        m = re.findall(rb"^(?:VA \d+|HD|EN|NF|NS|EX)(?: .*)? c(\d+)(?: |\r)", out, re.M)
        if m:
            self.last_cas = int(m[-1])
        return out


CAS_IN_VALUE = re.compile(rb"^(VALUE \S+ \d+ \d+) \d+\r$", re.M)
CAS_IN_META = re.compile(rb"^((?:VA \d+|HD|EN|NF|NS|EX)(?: \S+)*?) c\d+", re.M)


def normalize(reply):
    """cas uniques are each server's own counter: compare their presence,
    not their value."""
    reply = CAS_IN_VALUE.sub(rb"\1 <cas>\r", reply)
    return CAS_IN_META.sub(rb"\1 c<cas>", reply)


def run_steps(conn, steps):
    """Runs steps (bytes, callables of the connection returning bytes, or
    Sleep) and returns the list of (request, normalized reply)."""
    out = []
    for step in steps:
        if isinstance(step, Sleep):
            time.sleep(step.seconds)
            continue
        data = step(conn) if callable(step) else step
        out.append((data, normalize(conn.exchange(data))))
    return out


def run_side_by_side(ports, steps):
    """Runs the same steps on every port in lock step (sleeps are shared, so
    timing is the same for all) and returns one transcript per port."""
    conns = [Conn(p) for p in ports]
    try:
        results = [[] for _ in conns]
        for step in steps:
            if isinstance(step, Sleep):
                time.sleep(step.seconds)
                continue
            for i, c in enumerate(conns):
                data = step(c) if callable(step) else step
                results[i].append((data, normalize(c.exchange(data))))
        return results
    finally:
        for c in conns:
            c.close()


def assert_same(mc_transcript, eddy_transcript):
    """Every reply byte-identical, reported exchange by exchange."""
    diffs = []
    for (req, want), (_, got) in zip(mc_transcript, eddy_transcript):
        if want != got:
            diffs.append(f"request {req[:120]!r}\n  memcached: {want[:300]!r}\n  eddy:      {got[:300]!r}")
    assert not diffs, "replies differ from memcached's:\n" + "\n".join(diffs)
    assert len(mc_transcript) == len(eddy_transcript)


def stats(port):
    """`stats` as a dict of strings."""
    c = Conn(port)
    try:
        raw = c.exchange(b"stats\r\n")
    finally:
        c.close()
    assert raw.endswith(b"END\r\n"), raw[-200:]
    out = {}
    for line in raw.decode().split("\r\n"):
        if line.startswith("STAT "):
            _, k, v = line.split(" ", 2)
            out[k] = v
    return out

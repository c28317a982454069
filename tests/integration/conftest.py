"""Shared fixtures for the integration tests of the example programs.

The examples are real processes; the clients are standard-library sockets.
Every example is started on port 0 (or a temporary Unix socket) and the test
reads the port from its log line (`event=ready ... port=N`, logged once the
example listens; the library's own `event=listening` line comes just before).
Every process is terminated when its test ends, whatever happened, and its
stderr is checked for sanitizer reports.

EDDY_BUILD_DIR names the meson build directory (default: build-test, relative
to the repository root).
"""

import os
import pathlib
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0  # seconds for an example to log where it listens
STOP_TIMEOUT = 15.0  # seconds for a graceful stop
IO_TIMEOUT = 10.0  # per socket operation
READY = re.compile(r"\bevent=ready\b.*?\bport=(\d+)")
SANITIZER = re.compile(r"(ERROR: (Address|Leak)Sanitizer|runtime error:)")


def build_dir():
    d = pathlib.Path(os.environ.get("EDDY_BUILD_DIR", "build-test"))
    return d if d.is_absolute() else REPO / d


def built(*parts):
    """The path of a program in the build directory; fails the test when it
    has not been built."""
    path = build_dir().joinpath(*parts)
    if not path.exists():
        pytest.fail(f"{path} is missing: build first (ninja -C {build_dir()})")
    return path


def example_path(name):
    return built("examples", name)


def sanitizer_env(extra=None):
    """The environment for a sanitized child: reports complete, and fatal."""
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


class Process:
    """A running child process (an example, eddyd, a lock service, a cache
    server). stdout and stderr are read by threads into lists of lines, so a
    test can wait for a line without blocking on a pipe, and the child can
    never stall on a full pipe. With merge_stderr, stderr goes to stdout and
    every line lands in `err`."""

    def __init__(self, name, argv, env=None, merge_stderr=False):
        self.name = name
        self.proc = subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if merge_stderr else subprocess.PIPE,
            env=sanitizer_env(env),
        )
        self.out = []
        self.err = []
        self._cond = threading.Condition()
        if merge_stderr:
            pipes = [(self.proc.stdout, self.err)]
        else:
            pipes = [(self.proc.stdout, self.out), (self.proc.stderr, self.err)]
        self._readers = [threading.Thread(target=self._pump, args=p, daemon=True) for p in pipes]
        for t in self._readers:
            t.start()

    def _pump(self, stream, lines):
        for raw in iter(stream.readline, b""):
            with self._cond:
                lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        stream.close()

    def wait_for(self, pattern, stream="err", timeout=START_TIMEOUT):
        """Waits for a line matching pattern; returns the match."""
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        lines = self.err if stream == "err" else self.out
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for line in lines[seen:]:
                    m = rx.search(line)
                    if m:
                        return m
                seen = len(lines)
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and seen == len(lines)):
                    break
                self._cond.wait(min(left, 0.1))
        raise AssertionError(
            f"{self.name}: no line matching {rx.pattern!r} within {timeout}s "
            f"(exit={self.proc.poll()})\nstderr:\n" + "\n".join(self.err)
        )

    def port(self):
        return int(self.wait_for(READY).group(1))

    def send_signal(self, signum):
        if self.proc.poll() is None:
            self.proc.send_signal(signum)

    def wait(self, timeout=STOP_TIMEOUT):
        rc = self.proc.wait(timeout=timeout)
        self._join()
        return rc

    def _join(self):
        for t in self._readers:
            t.join(timeout=5)

    def stop(self, signum=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stops gracefully; returns the exit status."""
        self.send_signal(signum)
        return self.wait(timeout)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def stderr_text(self):
        with self._cond:
            return "\n".join(self.err)

    def finish(self, check_exit=False):
        """The end of a test: SIGTERM (then SIGKILL) if still running, and
        the stderr checked for sanitizer reports. Returns the problems found
        (with check_exit, a nonzero status on SIGTERM is one)."""
        problems = []
        if self.proc.poll() is None:
            try:
                rc = Process.stop(self)
                if check_exit and rc != 0:
                    problems.append(f"{self.name} exited {rc} on SIGTERM:\n{self.stderr_text()}")
            except subprocess.TimeoutExpired:
                problems.append(f"{self.name} did not stop on SIGTERM")
                self.kill()
        self._join()  # all of stderr, even from a child that died early
        if SANITIZER.search(self.stderr_text()):
            problems.append(f"{self.name} sanitizer report:\n{self.stderr_text()}")
        return problems


def finish_all(started, check_exit=False):
    """Fixture teardown: finishes every process, then fails on any problem."""
    problems = []
    for p in started:
        problems += p.finish(check_exit)
    assert not problems, "\n".join(problems)


class Example(Process):
    """A running example binary (from the build's examples/)."""

    def __init__(self, name, args, env=None):
        super().__init__(name, [example_path(name)] + list(args), env=env)


@pytest.fixture
def run_example():
    """run_example(name, *args) starts an example; all are stopped at the end
    of the test (SIGTERM, then SIGKILL) and their stderr is checked for
    sanitizer reports."""
    started = []

    def start(name, *args, env=None):
        ex = Example(name, list(args), env=env)
        started.append(ex)
        return ex

    yield start
    finish_all(started)


@pytest.fixture
def sock_dir(tmp_path_factory):
    """A short directory for Unix sockets (sun_path holds 108 bytes)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="eddy-it-", dir="/tmp")
    yield pathlib.Path(d)
    for p in pathlib.Path(d).iterdir():
        p.unlink()
    os.rmdir(d)


# ---- Client helpers ------------------------------------------------------


def connect(port_or_path, timeout=IO_TIMEOUT):
    if isinstance(port_or_path, int):
        s = socket.create_connection(("127.0.0.1", port_or_path), timeout=timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        s.connect(str(port_or_path))
    s.settimeout(timeout)
    return s


def recv_exactly(s, n, timeout=IO_TIMEOUT * 3):
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while got < n:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {got} of {n} bytes within {timeout}s")
        b = s.recv(min(n - got, 1 << 20))
        if not b:
            raise AssertionError(f"EOF after {got} of {n} bytes")
        chunks.append(b)
        got += len(b)
    return b"".join(chunks)


def recv_until_eof(s, limit=1 << 28, timeout=IO_TIMEOUT * 3):
    deadline = time.monotonic() + timeout
    chunks = []
    got = 0
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"no EOF within {timeout}s ({got} bytes)")
        b = s.recv(1 << 20)
        if not b:
            return b"".join(chunks)
        chunks.append(b)
        got += len(b)
        assert got <= limit, f"more than {limit} bytes before EOF"


class Lines:
    """Reads '\\n'-terminated lines from a socket, with a deadline and a cap
    on line length."""

    def __init__(self, s, max_line=1 << 20):
        self.s = s
        self.buf = b""
        self.max_line = max_line

    def readline(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            assert len(self.buf) <= self.max_line, "line too long"
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line within {timeout}s (have {self.buf[:80]!r})")
            self.s.settimeout(left)
            b = self.s.recv(65536)
            if not b:
                raise AssertionError(f"EOF while waiting for a line (have {self.buf[:80]!r})")
            self.buf += b
        line, _, self.buf = self.buf.partition(b"\n")
        self.s.settimeout(IO_TIMEOUT)
        return line.decode("utf-8", "replace")

    def nothing_within(self, seconds):
        """True when no byte arrives for `seconds`."""
        if self.buf:
            return False
        self.s.settimeout(seconds)
        try:
            b = self.s.recv(65536)
        except socket.timeout:
            return True
        finally:
            self.s.settimeout(IO_TIMEOUT)
        self.buf += b
        return False

    def expect_eof(self, timeout=IO_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no EOF")
            self.s.settimeout(left)
            b = self.s.recv(65536)
            if not b:
                return self.buf
            self.buf += b

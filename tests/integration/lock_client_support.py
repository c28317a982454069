"""Helpers for the lock integration tests (test_locks.py): start a lock
service, make Python clients, run the `eddy` tool.

The service is the real eddyd (`--locks tcp:0 --cache off --http off`) when
it is built, else the `lock-server` tool (the same library module, alone);
EDDY_LOCK_TEST_SERVER=lock-server forces the latter. Either logs
`event=ready ... port=N` once it listens.
"""

import os
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, SANITIZER, STOP_TIMEOUT, Example, build_dir

# The client package under test, from the tree (no install needed).
sys.path.insert(0, str(REPO / "clients" / "python" / "src"))

READY = re.compile(r"\bevent=ready\b.*?\bport=([1-9]\d*)")


def sanitizer_env(extra=None):
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


def server_command(sock_path=None):
    """argv of the lock service to test, listening on tcp:0 (and on
    unix:sock_path when given)."""
    eddyd = build_dir() / "daemon" / "eddyd"
    lock_server = build_dir() / "tools" / "lock-server"
    if eddyd.exists() and os.environ.get("EDDY_LOCK_TEST_SERVER") != "lock-server":
        unix = ["--locks", f"unix:{sock_path}"] if sock_path else []
        return [str(eddyd), "--locks", "tcp:0", *unix, "--cache", "off", "--http", "off"]
    if not lock_server.exists():
        pytest.fail(f"{lock_server} is missing: build first (ninja -C {build_dir()})")
    return [str(lock_server), "tcp:0"] + ([f"unix:{sock_path}"] if sock_path else [])


def eddy_tool():
    path = build_dir() / "tools" / "eddy"
    if not path.exists():
        pytest.fail(f"{path} is missing: build first (ninja -C {build_dir()})")
    return path


class LockService(Example):
    """A running lock service; stderr and stdout read by threads."""

    def __init__(self, argv):
        self.name = os.path.basename(argv[0])
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=sanitizer_env(),
        )
        self.out = []
        self.err = []
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.out), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True),
        ]
        for t in self._readers:
            t.start()
        self.port = int(self.wait_for(READY).group(1))
        self.endpoint = f"tcp:127.0.0.1:{self.port}"


@pytest.fixture
def lock_service():
    """A fresh lock service for the test; stopped (and its stderr checked
    for sanitizer reports) at the end."""
    started = []

    def start(sock_path=None):
        s = LockService(server_command(sock_path))
        started.append(s)
        return s

    yield start
    problems = []
    for s in started:
        if s.proc.poll() is None:
            try:
                rc = s.stop(timeout=STOP_TIMEOUT)
                if rc != 0:
                    problems.append(f"{s.name} exited {rc} on SIGTERM:\n{s.stderr_text()}")
            except subprocess.TimeoutExpired:
                problems.append(f"{s.name} did not stop on SIGTERM")
                s.kill()
        if SANITIZER.search(s.stderr_text()):
            problems.append(f"{s.name} sanitizer report:\n{s.stderr_text()}")
    assert not problems, "\n".join(problems)


def wait_until(cond, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def run_eddy(*args, timeout=30, env=None, **kw):
    """Runs `eddy ARGS...` to completion; returns the CompletedProcess."""
    return subprocess.run(
        [str(eddy_tool())] + [str(a) for a in args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=sanitizer_env(env),
        **kw,
    )

"""Helpers for the lock integration tests (test_locks.py): start a lock
service, make Python clients, run the `eddy` tool.

The service is the real eddyd (`--locks tcp:0 --cache off --http off --publish off`) when
it is built, else the `lock-server` tool (the same library module, alone);
EDDY_LOCK_TEST_SERVER=lock-server forces the latter. Either logs
`event=ready ... port=N` once it listens.
"""

import os
import re
import subprocess
import sys
import time

import pytest

from conftest import REPO, Process, build_dir, built, finish_all, sanitizer_env

# The client package under test, from the tree (no install needed).
sys.path.insert(0, str(REPO / "clients" / "python" / "src"))

READY = re.compile(r"\bevent=ready\b.*?\bport=([1-9]\d*)")


def server_command(sock_path=None):
    """argv of the lock service to test, listening on tcp:0 (and on
    unix:sock_path when given)."""
    eddyd = build_dir() / "daemon" / "eddyd"
    if eddyd.exists() and os.environ.get("EDDY_LOCK_TEST_SERVER") != "lock-server":
        unix = ["--locks", f"unix:{sock_path}"] if sock_path else []
        return [str(eddyd), "--locks", "tcp:0", *unix, "--cache", "off", "--http", "off", "--publish", "off"]
    return [str(built("tools", "lock-server")), "tcp:0"] + ([f"unix:{sock_path}"] if sock_path else [])


def eddy_tool():
    return built("tools", "eddy")


class LockService(Process):
    """A running lock service; stderr and stdout read by threads."""

    def __init__(self, argv):
        super().__init__(os.path.basename(argv[0]), argv)
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
    finish_all(started, check_exit=True)


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

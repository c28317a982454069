"""Starts real servers for the client's tests.

Which lock server, in order:
  - EDDY_LOCKS_ENDPOINT: one already running (tests that need a fresh or
    private server are then skipped);
  - EDDY_LOCK_SERVER: the path of a `lock-server` binary;
  - `tools/lock-server` in EDDY_BUILD_DIR, or in the eddy tree's build-test/
    or build/ when this package sits in an eddy checkout.
Which realtime hub (for Publisher), in order:
  - EDDY_PUBLISH_ENDPOINT (and EDDY_PUBLISH_TOKEN): one already running;
  - `daemon/eddyd` found as above, started with only its publish port.
Without any, the tests that need a server are skipped.
"""

import os
import pathlib
import re
import signal
import subprocess
import tempfile
import time

import pytest

READY = re.compile(rb"\bevent=ready\b[^\n]*?\bport=(\d+)")
HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]


def built_binary(*parts):
    dirs = []
    if os.environ.get("EDDY_BUILD_DIR"):
        d = pathlib.Path(os.environ["EDDY_BUILD_DIR"])
        dirs.append(d if d.is_absolute() else REPO / d)
    dirs += [REPO / "build-test", REPO / "build"]
    for d in dirs:
        if d.joinpath(*parts).exists():
            return d.joinpath(*parts)
    return None


def server_binary():
    p = os.environ.get("EDDY_LOCK_SERVER")
    if p:
        return pathlib.Path(p)
    return built_binary("tools", "lock-server")


class Server:
    """A lock-server process listening on a free TCP port and a Unix
    socket."""

    def __init__(self, binary, extra=()):
        self.dir = tempfile.mkdtemp(prefix="eddy-py-", dir="/tmp")
        self.sock = os.path.join(self.dir, "locks.sock")
        self.proc = subprocess.Popen(
            [str(binary), *extra, "tcp:0", "unix:" + self.sock],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        self.log = b""
        deadline = time.monotonic() + 15
        os.set_blocking(self.proc.stderr.fileno(), False)
        # One ready line per endpoint: both must listen before a test starts.
        while len(READY.findall(self.log)) < 2:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("lock-server did not start:\n" + self.log.decode())
            chunk = self.proc.stderr.read()
            if chunk:
                self.log += chunk
            else:
                time.sleep(0.01)
        self.port = int(READY.search(self.log).group(1))
        self.endpoint = f"tcp:127.0.0.1:{self.port}"
        self.unix_endpoint = "unix:" + self.sock

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        os.rmdir(self.dir)


@pytest.fixture
def start_server():
    """start_server(*extra_args) -> Server; stopped at the end of the test."""
    binary = server_binary()
    if binary is None:
        pytest.skip("no lock-server binary (set EDDY_LOCK_SERVER or EDDY_BUILD_DIR)")
    started = []

    def start(*extra):
        s = Server(binary, extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def endpoint(request):
    """A server's endpoint: EDDY_LOCKS_ENDPOINT's, or a fresh private one."""
    ext = os.environ.get("EDDY_LOCKS_ENDPOINT")
    if ext:
        return ext
    return request.getfixturevalue("start_server")().endpoint


@pytest.fixture
def lockname(request):
    """A lock name no other test uses (servers may be shared)."""
    return f"pytest/{os.getpid()}/{request.node.name}"


PUBLISH_READY = re.compile(rb"\bevent=ready service=publish\b[^\n]*?\bport=(\d+)")


@pytest.fixture
def hub_endpoint():
    """(endpoint, token) of a realtime hub's line protocol: the one named by
    EDDY_PUBLISH_ENDPOINT, or a private eddyd serving only that."""
    ext = os.environ.get("EDDY_PUBLISH_ENDPOINT")
    if ext:
        yield ext, os.environ.get("EDDY_PUBLISH_TOKEN")
        return
    binary = built_binary("daemon", "eddyd")
    if binary is None:
        pytest.skip("no hub: set EDDY_PUBLISH_ENDPOINT, or EDDY_BUILD_DIR with eddyd built")
    token = "pytest-publish-token"
    proc = subprocess.Popen(
        [str(binary), "--http", "off", "--locks", "off", "--cache", "off",
         "--publish", "tcp:0:interface=127.0.0.1", "--publish-token", token],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    log = b""
    deadline = time.monotonic() + 15
    os.set_blocking(proc.stderr.fileno(), False)
    try:
        while not PUBLISH_READY.search(log):
            if time.monotonic() > deadline or proc.poll() is not None:
                time.sleep(0.05)
                log += proc.stderr.read() or b""
                raise RuntimeError(f"{binary} did not start:\n" + log.decode())
            chunk = proc.stderr.read()
            if chunk:
                log += chunk
            else:
                time.sleep(0.01)
        port = int(PUBLISH_READY.search(log).group(1))
        yield f"tcp:127.0.0.1:{port}", token
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

"""Helpers for the eddyd integration tests: start the real daemon, read where
it listens, stop it whatever happens.

eddyd logs `event=ready service=S endpoint=E address=A port=N` for each
endpoint once it listens (port is the real one after tcp:0; 0 for Unix
sockets) and prints `eddyd: S listening on A (E)` on stdout.
"""

import os
import pathlib
import re
import signal
import subprocess
import time

import pytest

from conftest import STOP_TIMEOUT, Process, built, finish_all, sanitizer_env

# eddyd serves its web port (tcp:7700) and the publish protocol (tcp:7703) by
# default. A test that does not name one of them gets it switched off, so no
# test binds a fixed port; the flags come first, so a test's own flags and
# their errors are unchanged, and they override a configuration file as any
# flag does. --check-config, --help and --version runs are left as given:
# they print the configuration or the usage.
DEFAULT_OFF = ("--http", "--publish")
AS_GIVEN = {"--check-config", "--help", "-h", "--version", "-V"}


def with_web_off(args):
    args = [str(a) for a in args]
    names = {a.split("=", 1)[0] for a in args}
    if names & AS_GIVEN:
        return args
    off = []
    for flag in DEFAULT_OFF:
        if flag not in names:
            off += [flag, "off"]
    return off + args


READY = re.compile(r"\bevent=ready service=(\w+) endpoint=(\S+) address=(\S+) port=(\d+)")
RUN_TIMEOUT = 30.0  # seconds for a short eddyd run (--help, bad flags, --daemon start)


def eddyd_path():
    return built("daemon", "eddyd")


class Eddyd(Process):
    """eddyd in the foreground, its stdout and stderr read by threads."""

    def __init__(self, args):
        super().__init__("eddyd", [eddyd_path()] + with_web_off(args))

    def ready(self, count):
        """Waits for `count` ready lines; returns [(service, endpoint,
        address, port)] in the order logged."""
        deadline = time.monotonic() + 15.0
        while True:
            found = [m.groups() for m in map(READY.search, list(self.err)) if m]
            if len(found) >= count:
                return [(s, e, a, int(p)) for s, e, a, p in found]
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(
                    f"eddyd: {len(found)} of {count} ready lines "
                    f"(exit={self.proc.poll()})\n" + self.stderr_text()
                )
            time.sleep(0.02)

    def started(self):
        self.wait_for(r"\bevent=started\b")


def run_eddyd(args, timeout=RUN_TIMEOUT, cwd=None, sanitizer_dir=None):
    """Runs eddyd to completion (for runs that exit by themselves, and for
    --daemon, whose caller returns once the daemon is ready). A daemon's
    stderr is /dev/null: with sanitizer_dir, sanitizer reports go to files
    there instead (see the sanitizer_logs fixture)."""
    env = sanitizer_env()
    if sanitizer_dir is not None:
        env["ASAN_OPTIONS"] += f":log_path={sanitizer_dir}/asan"
        env["UBSAN_OPTIONS"] += f":log_path={sanitizer_dir}/ubsan"
    return subprocess.run(
        [str(eddyd_path())] + with_web_off(args),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
    )


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes (it is not our child to reap).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_gone(pid, timeout=STOP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def wait_until(predicate, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def eddyd():
    """eddyd(*args) starts eddyd in the foreground; every one is stopped at
    the end (SIGTERM, then SIGKILL) and checked for sanitizer reports."""
    started = []

    def start(*args):
        d = Eddyd(list(args))
        started.append(d)
        return d

    yield start
    finish_all(started)


@pytest.fixture
def sanitizer_logs(tmp_path_factory):
    """A directory for detached eddyds' sanitizer reports; it must be empty
    once the test's daemons are gone. Request it before `daemons`, so that it
    is checked after they were stopped."""
    d = tmp_path_factory.mktemp("sanitizer")
    yield d
    reports = sorted(d.iterdir())
    assert not reports, "sanitizer reports:\n" + "\n".join(p.read_text() for p in reports)


@pytest.fixture
def daemons():
    """A list to which a test appends the pids of detached eddyds; each still
    alive at the end is killed (SIGTERM, then SIGKILL)."""
    pids = []
    yield pids
    for pid in pids:
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            if not wait_gone(pid, 10):
                os.kill(pid, signal.SIGKILL)
                wait_gone(pid, 5)


def read_pid(path):
    text = pathlib.Path(path).read_text()
    assert text.endswith("\n"), repr(text)
    return int(text)

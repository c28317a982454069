"""The lock service end to end: the real service (eddyd, or lock-server when
eddyd is not built), the Python client (clients/python) in many processes,
and the `eddy lock` tool. Every wait is bounded."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from conftest import REPO, build_dir
from lock_client_support import (  # noqa: F401 - lock_service is a fixture
    eddy_tool,
    lock_service,
    run_eddy,
    sanitizer_env,
    wait_until,
)

from eddy_client import (
    LockBusy,
    LockClient,
    LockError,
    LockHeld,
    LockNotHeld,
    LockReset,
    LockTimeout,
)

CLIENT_SRC = str(REPO / "clients" / "python" / "src")


def python_worker(code, *args):
    """Starts `python3 -c code args...` with the client package importable."""
    env = dict(os.environ)
    env["PYTHONPATH"] = CLIENT_SRC + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *[str(a) for a in args]],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


# ---- Mutual exclusion under contention ------------------------------------------

WORKER = """
    import os, sys, time
    from eddy_client import LockClient
    endpoint, name, counter, log, rounds = sys.argv[1:6]
    c = LockClient(endpoint, name=f"worker-{os.getpid()}")
    for _ in range(int(rounds)):
        with c.lock(name, timeout=60) as g:
            with open(log, "a") as f:
                f.write(f"enter {os.getpid()} {g.token}\\n")
            n = int(open(counter).read())
            time.sleep(0.001)  # widen the race a lock must close
            open(counter, "w").write(str(n + 1))
            with open(log, "a") as f:
                f.write(f"exit {os.getpid()} {g.token}\\n")
    c.close()
"""


def test_many_processes_mutual_exclusion(lock_service, tmp_path):
    svc = lock_service()
    counter = tmp_path / "counter"
    counter.write_text("0")
    log = tmp_path / "log"
    log.write_text("")
    procs, rounds = 8, 25
    ps = [python_worker(WORKER, svc.endpoint, "shared/counter", counter, log, rounds) for _ in range(procs)]
    for p in ps:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert int(counter.read_text()) == procs * rounds
    # Strictly alternating enter/exit by the same holder, tokens growing.
    lines = log.read_text().split()
    events = [lines[i : i + 3] for i in range(0, len(lines), 3)]
    assert len(events) == 2 * procs * rounds
    last = 0
    for enter, leave in zip(events[::2], events[1::2]):
        assert enter[0] == "enter" and leave[0] == "exit"
        assert enter[1:] == leave[1:], "another holder ran inside the lock"
        assert int(enter[2]) > last, "fencing tokens must grow"
        last = int(enter[2])


def test_eddy_lock_cli_mutual_exclusion(lock_service, tmp_path):
    svc = lock_service()
    counter = tmp_path / "counter"
    counter.write_text("0")
    script = 'n=$(cat "$1"); sleep 0.01; echo $((n + 1)) > "$1"'
    procs, rounds = 6, 5

    def worker():
        for _ in range(rounds):
            r = run_eddy("lock", "-e", svc.endpoint, "cli/counter", "--", "sh", "-c", script, "sh", counter, timeout=60)
            assert r.returncode == 0, r.stderr

    ts = [threading.Thread(target=worker) for _ in range(procs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert int(counter.read_text()) == procs * rounds


# ---- A holder that dies ----------------------------------------------------------

HOLDER = """
    import sys, time
    from eddy_client import LockClient
    c = LockClient(sys.argv[1], name="doomed")
    g = c.acquire(sys.argv[2])
    print(g.token, flush=True)
    time.sleep(120)
"""


def test_sigkilled_holder_releases_promptly(lock_service):
    svc = lock_service()
    holder = python_worker(HOLDER, svc.endpoint, "victim")
    try:
        token = int(holder.stdout.readline())
        with LockClient(svc.endpoint) as c:
            assert c.try_acquire("victim") is None
            got = []
            t = threading.Thread(target=lambda: got.append(c.acquire("victim", timeout=20)))
            t.start()
            time.sleep(0.2)
            killed = time.monotonic()
            holder.send_signal(signal.SIGKILL)
            t.join(20)
            assert got, "the waiter never got the lock"
            assert time.monotonic() - killed < 2.0
            assert got[0].token > token
    finally:
        holder.kill()
        holder.communicate(timeout=10)


def test_sigkilled_eddy_lock_releases(lock_service, tmp_path):
    svc = lock_service()
    started = tmp_path / "started"
    # A new session, so the sleeping command can be cleaned up as a group.
    eddy = subprocess.Popen(
        [str(eddy_tool()), "lock", "-e", svc.endpoint, "cli/victim", "--", "sh", "-c", f"touch {started}; sleep 60"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=sanitizer_env(),
        start_new_session=True,
    )
    try:
        wait_until(started.exists, 15, "the command to start")
        with LockClient(svc.endpoint) as c:
            assert c.try_acquire("cli/victim") is None
            eddy.send_signal(signal.SIGKILL)
            eddy.wait(10)
            assert c.acquire("cli/victim", timeout=5) is not None
    finally:
        try:
            os.killpg(eddy.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        eddy.wait(10)


# ---- Fairness, timeouts, reentrancy, modes ---------------------------------------


def test_fifo_fairness(lock_service):
    svc = lock_service()
    n = 6
    clients = [LockClient(svc.endpoint) for _ in range(n + 1)]
    try:
        holder, waiters = clients[0], clients[1:]
        holder.acquire("fair")
        order = []
        lock = threading.Lock()

        def wait(i):
            g = waiters[i].acquire("fair", timeout=30)
            with lock:
                order.append((i, g.token))
            time.sleep(0.02)
            waiters[i].release("fair")

        ts = []
        for i in range(n):
            t = threading.Thread(target=wait, args=(i,))
            t.start()
            ts.append(t)
            # Queue them in a known order: wait until the server sees it.
            wait_until(lambda: holder.inspect("fair").waiters == i + 1, 10, f"waiter {i}")
        holder.release("fair")
        for t in ts:
            t.join(30)
        assert [i for i, _ in order] == list(range(n))
        tokens = [t for _, t in order]
        assert tokens == sorted(tokens)
    finally:
        for c in clients:
            c.close()


def test_timeouts_and_try(lock_service):
    svc = lock_service()
    with LockClient(svc.endpoint) as a, LockClient(svc.endpoint) as b:
        a.acquire("t")
        with pytest.raises(LockBusy):
            b.acquire("t", timeout=0)
        assert b.try_acquire("t") is None
        for wait in (0.1, 0.5):
            t0 = time.monotonic()
            with pytest.raises(LockTimeout):
                b.acquire("t", timeout=wait)
            took = time.monotonic() - t0
            assert wait - 0.02 <= took < wait + 1.5
        # A timed-out waiter left no trace in the queue.
        assert a.inspect("t").waiters == 0
        r = run_eddy("lock", "-e", svc.endpoint, "-t", "0.2", "t", "--", "true")
        assert r.returncode == 75, r.stderr
        assert "not granted within" in r.stderr
        r = run_eddy("lock", "-e", svc.endpoint, "-t", "0", "t", "--", "true")
        assert r.returncode == 75 and "busy" in r.stderr


def test_reentrancy(lock_service):
    svc = lock_service()
    with LockClient(svc.endpoint) as a, LockClient(svc.endpoint) as b:
        g = a.acquire("r", reentrant=True)
        assert a.acquire("r", reentrant=True).token == g.token
        assert a.acquire("r", reentrant=True).token == g.token
        with pytest.raises(LockHeld):
            a.acquire("r")
        assert a.release("r") == 2
        assert a.release("r") == 1
        assert b.try_acquire("r") is None
        assert a.release("r") == 0
        assert b.try_acquire("r") is not None
        with pytest.raises(LockNotHeld):
            a.release("r")


def test_shared_vs_exclusive(lock_service):
    svc = lock_service()
    cs = [LockClient(svc.endpoint) for _ in range(4)]
    try:
        r1, r2, writer, r3 = cs
        r1.acquire("s", shared=True)
        r2.acquire("s", shared=True, timeout=0)
        assert writer.try_acquire("s") is None
        got = []
        tw = threading.Thread(target=lambda: got.append(("w", writer.acquire("s", timeout=20))))
        tw.start()
        wait_until(lambda: r1.inspect("s").waiters == 1, 10, "the writer to queue")
        # A new reader queues behind the waiting writer: no writer starvation.
        assert r3.try_acquire("s", shared=True) is None
        tr = threading.Thread(target=lambda: got.append(("r", r3.acquire("s", shared=True, timeout=20))))
        tr.start()
        wait_until(lambda: r1.inspect("s").waiters == 2, 10, "the reader to queue")
        r1.release("s")
        time.sleep(0.1)
        assert not got, "the writer must wait for every reader"
        r2.release("s")
        tw.join(20)
        assert [k for k, _ in got] == ["w"]
        assert r1.inspect("s").state == "exclusive"
        writer.release("s")
        tr.join(20)
        assert [k for k, _ in got] == ["w", "r"]
        assert r1.inspect("s").state == "shared"
    finally:
        for c in cs:
            c.close()


def test_fencing_tokens_strictly_increase(lock_service):
    svc = lock_service()
    clients = [LockClient(svc.endpoint) for _ in range(4)]
    try:
        seen = []
        lock = threading.Lock()

        def work(c):
            for _ in range(50):
                with c.lock("fence", timeout=30) as g:
                    with lock:
                        seen.append(g.token)

        ts = [threading.Thread(target=work, args=(c,)) for c in clients]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert len(seen) == 200
        assert all(a < b for a, b in zip(seen, seen[1:])), "tokens must grow in grant order"
        # Tokens grow across names too.
        t1 = clients[0].acquire("fence/a").token
        t2 = clients[0].acquire("fence/b").token
        assert seen[-1] < t1 < t2
    finally:
        for c in clients:
            c.close()


def test_reset_answers_every_waiter(lock_service):
    svc = lock_service()
    n = 5
    holder = LockClient(svc.endpoint)
    waiters = [LockClient(svc.endpoint) for _ in range(n)]
    admin = LockClient(svc.endpoint)
    try:
        g = holder.acquire("busy")
        results = [None] * n

        def wait(i):
            try:
                waiters[i].acquire("busy", timeout=30)
                results[i] = "granted"
            except LockError as e:
                results[i] = e

        ts = [threading.Thread(target=wait, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        wait_until(lambda: admin.inspect("busy").waiters == n, 10, "every waiter to queue")
        assert admin.reset() >= 1
        for t in ts:
            t.join(10)
        assert all(isinstance(r, LockReset) for r in results), results
        with pytest.raises(LockNotHeld):
            holder.release("busy")
        assert ("busy", g.token, "reset") in holder.lost
        # The service goes on.
        assert waiters[0].acquire("busy", timeout=5) is not None
    finally:
        for c in [holder, admin, *waiters]:
            c.close()


# ---- The `eddy lock` tool ------------------------------------------------------


def test_eddy_lock_runs_command_with_token(lock_service):
    svc = lock_service()
    r = run_eddy("lock", "--endpoint", svc.endpoint, "jobs/x", "--", "sh", "-c", 'echo "$EDDY_LOCK_NAME $EDDY_LOCK_TOKEN"; exit 7')
    assert r.returncode == 7, r.stderr
    name, token = r.stdout.split()
    assert name == "jobs/x" and int(token) > 0
    # Released after the command: the next run gets a larger token.
    r2 = run_eddy("lock", "-e", svc.endpoint, "jobs/x", "--", "sh", "-c", 'echo "$EDDY_LOCK_TOKEN"')
    assert r2.returncode == 0 and int(r2.stdout) > int(token)
    # Shared: two at once.
    with LockClient(svc.endpoint) as c:
        c.acquire("jobs/x", shared=True)
        r3 = run_eddy("lock", "-s", "-t", "0", "-e", svc.endpoint, "jobs/x", "--", "true")
        assert r3.returncode == 0, r3.stderr
        r4 = run_eddy("lock", "-t", "0", "-e", svc.endpoint, "jobs/x", "--", "true")
        assert r4.returncode == 75


def test_eddy_lock_errors(lock_service):
    svc = lock_service()
    r = run_eddy("lock", "-e", "tcp:127.0.0.1:1", "x", "--", "true")
    assert r.returncode == 69 and "cannot reach" in r.stderr
    for argv in (["lock"], ["lock", "x"], ["lock", "x", "--"], ["lock", "-t", "abc", "x", "--", "true"],
                 ["lock", "two words", "--", "true"], ["lock", "-e", "bogus", "x", "--", "true"], ["nosuch"]):
        r = run_eddy(*argv)
        assert r.returncode == 64, (argv, r.stderr)
        assert r.stderr
    r = run_eddy("lock", "-e", svc.endpoint, "x", "--", "/nonexistent/cmd")
    assert r.returncode == 127
    r = run_eddy("lock", "-e", svc.endpoint, "x", "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 128 + 9
    r = run_eddy("lock", "--help")
    assert r.returncode == 0 and "EDDY_LOCK_TOKEN" in r.stdout and "Exit status" in r.stdout
    r = run_eddy("--help")
    assert r.returncode == 0 and "lock" in r.stdout


def test_eddy_lock_forwards_sigterm_and_releases(lock_service, tmp_path):
    svc = lock_service()
    started = tmp_path / "started"
    eddy = subprocess.Popen(
        [str(eddy_tool()), "lock", "-e", svc.endpoint, "term", "--", "sh", "-c", f"trap 'exit 5' TERM; touch {started}; while :; do sleep 0.05; done"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=sanitizer_env(),
        start_new_session=True,
    )
    try:
        wait_until(started.exists, 15, "the command to start")
        eddy.send_signal(signal.SIGTERM)
        assert eddy.wait(15) == 5
        with LockClient(svc.endpoint) as c:
            assert c.try_acquire("term") is not None
    finally:
        try:
            os.killpg(eddy.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        eddy.wait(10)


def test_eddy_lock_interrupted_while_waiting(lock_service):
    svc = lock_service()
    with LockClient(svc.endpoint) as c:
        c.acquire("w")
        eddy = subprocess.Popen(
            [str(eddy_tool()), "lock", "-e", svc.endpoint, "w", "--", "true"],
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=sanitizer_env(),
        )
        wait_until(lambda: c.inspect("w").waiters == 1, 15, "eddy to queue")
        eddy.send_signal(signal.SIGINT)
        assert eddy.wait(15) == 130
        wait_until(lambda: c.inspect("w").waiters == 0, 5, "the wait to be dropped")


def test_eddy_lock_lease_renewed(lock_service):
    svc = lock_service()
    r = run_eddy("lock", "-l", "0.3", "-e", svc.endpoint, "leased", "--", "sleep", "1")
    assert r.returncode == 0, r.stderr
    assert "lost" not in r.stderr


# ---- The Python client's own tests, against this build --------------------------


def test_python_client_suite():
    env = dict(os.environ)
    env["PYTHONPATH"] = CLIENT_SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["EDDY_BUILD_DIR"] = str(build_dir())
    r = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(REPO / "clients" / "python" / "tests")],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "skipped" not in r.stdout.splitlines()[-1], r.stdout


def test_eddy_lock_stops_command_when_lock_is_lost(lock_service, tmp_path):
    svc = lock_service()
    started = tmp_path / "started"
    eddy = subprocess.Popen(
        [str(eddy_tool()), "lock", "-e", svc.endpoint, "lost", "--", "sh", "-c", f"touch {started}; exec sleep 30"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=sanitizer_env(),
        start_new_session=True,
    )
    try:
        wait_until(started.exists, 15, "the command to start")
        with LockClient(svc.endpoint) as admin:
            assert admin.reset() == 1
        assert eddy.wait(15) == 70
        assert "lost the lock lost" in eddy.stderr.read()
    finally:
        try:
            os.killpg(eddy.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        eddy.wait(10)


def test_unix_socket_clients(lock_service, sock_dir):
    path = sock_dir / "locks.sock"
    svc = lock_service(str(path))
    # Not path.exists(): the file appears at bind(), a moment before
    # listen(), and a connect in between is refused. The library logs
    # "listening" once the socket accepts.
    svc.wait_for(r'event=listening endpoint="?unix:')
    with LockClient(f"unix:{path}") as c:
        c.acquire("u")
        r = run_eddy("lock", "-t", "0", "-e", f"unix:{path}", "u", "--", "true")
        assert r.returncode == 75, r.stderr
        c.release("u")
        r = run_eddy("lock", "-e", f"unix:{path}", "u", "--", "sh", "-c", 'test -n "$EDDY_LOCK_TOKEN"')
        assert r.returncode == 0, r.stderr
    # The TCP endpoint serves the same locks.
    with LockClient(svc.endpoint) as a, LockClient(f"unix:{path}") as b:
        a.acquire("both")
        assert b.try_acquire("both") is None

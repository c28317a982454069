"""Tests of eddy_client.LockClient against a real lock server."""

import threading
import time

import pytest

from eddy_client import (
    LockBusy,
    LockClient,
    LockConnectionError,
    LockError,
    LockHeld,
    LockNotHeld,
    LockProtocolError,
    LockReset,
    LockTimeout,
    parse_endpoint,
)

# ---- Without a server --------------------------------------------------------


def test_parse_endpoint():
    import socket

    assert parse_endpoint("tcp:127.0.0.1:7701") == (socket.AF_UNSPEC, ("127.0.0.1", 7701))
    assert parse_endpoint("tcp:localhost:1") == (socket.AF_UNSPEC, ("localhost", 1))
    assert parse_endpoint("tcp6:[::1]:7701") == (socket.AF_INET6, ("::1", 7701))
    assert parse_endpoint("unix:/run/eddy/locks.sock") == (socket.AF_UNIX, "/run/eddy/locks.sock")
    assert parse_endpoint("/tmp/x.sock") == (socket.AF_UNIX, "/tmp/x.sock")
    assert parse_endpoint(("h", 5)) == (socket.AF_UNSPEC, ("h", 5))
    for bad in ["", "tcp:7701", "tcp:h:0", "tcp:h:70000", "tcp:h:x", "udp:h:1", "unix:", 7701]:
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_unreachable():
    with pytest.raises(LockConnectionError) as e:
        LockClient("tcp:127.0.0.1:1", connect_timeout=2)
    assert isinstance(e.value, ConnectionError)
    assert "127.0.0.1:1" in str(e.value)


# ---- Against the server -------------------------------------------------------


def test_acquire_release_tokens_grow(endpoint, lockname):
    with LockClient(endpoint, name="t1") as c:
        assert c.id is not None
        tokens = []
        for _ in range(5):
            g = c.acquire(lockname)
            assert g.name == lockname and not g.shared
            tokens.append(g.token)
            assert g.release() == 0
        assert tokens == sorted(set(tokens))


def test_context_manager_releases(endpoint, lockname):
    with LockClient(endpoint) as a, LockClient(endpoint) as b:
        with a.lock(lockname, timeout=1) as g:
            assert g.token > 0
            assert b.try_acquire(lockname) is None
        assert b.try_acquire(lockname) is not None
        b.release(lockname)
        with pytest.raises(RuntimeError):
            with a.lock(lockname):
                raise RuntimeError("boom")
        assert b.try_acquire(lockname) is not None


def test_timeout_and_busy(endpoint, lockname):
    with LockClient(endpoint) as a, LockClient(endpoint) as b:
        a.acquire(lockname)
        with pytest.raises(LockBusy) as e:
            b.acquire(lockname, timeout=0)
        assert e.value.code == "busy"
        t0 = time.monotonic()
        with pytest.raises(LockTimeout) as e:
            b.acquire(lockname, timeout=0.3)
        took = time.monotonic() - t0
        assert e.value.code == "timeout"
        assert 0.25 <= took < 3
        # The client is still usable after an error reply.
        b.ping()


def test_waiter_gets_lock_when_released(endpoint, lockname):
    with LockClient(endpoint) as a, LockClient(endpoint) as b:
        g1 = a.acquire(lockname)
        got = []
        t = threading.Thread(target=lambda: got.append(b.acquire(lockname, timeout=10)))
        t.start()
        time.sleep(0.2)
        assert not got
        a.release(lockname)
        t.join(10)
        assert got and got[0].token > g1.token


def test_reentrant(endpoint, lockname):
    with LockClient(endpoint) as c:
        g = c.acquire(lockname)
        with pytest.raises(LockHeld):
            c.acquire(lockname)
        g2 = c.acquire(lockname, reentrant=True)
        assert g2.token == g.token
        assert c.release(lockname) == 1
        assert c.release(lockname) == 0
        with pytest.raises(LockNotHeld):
            c.release(lockname)


def test_shared_and_exclusive(endpoint, lockname):
    with LockClient(endpoint) as a, LockClient(endpoint) as b, LockClient(endpoint) as w:
        ga = a.acquire(lockname, shared=True)
        gb = b.acquire(lockname, shared=True, timeout=0)
        assert ga.shared and gb.shared and ga.token != gb.token
        assert w.try_acquire(lockname) is None
        a.release(lockname)
        assert w.try_acquire(lockname) is None
        b.release(lockname)
        assert w.try_acquire(lockname) is not None
        assert a.try_acquire(lockname, shared=True) is None


def test_close_releases(endpoint, lockname):
    a = LockClient(endpoint)
    b = LockClient(endpoint)
    a.acquire(lockname)
    a.close()
    assert a.closed
    with pytest.raises(LockConnectionError):
        a.acquire(lockname)
    assert b.acquire(lockname, timeout=5) is not None
    b.close()


def test_unix_socket(start_server, lockname):
    s = start_server()
    with LockClient(s.unix_endpoint) as a, LockClient(s.sock) as b:
        a.acquire(lockname)
        assert b.try_acquire(lockname) is None


def test_lease_expiry_is_reported(endpoint, lockname):
    events = []
    with LockClient(endpoint, on_lost=lambda *ev: events.append(ev)) as c:
        with pytest.raises(LockNotHeld):
            with c.lock(lockname, lease=0.2) as g:
                time.sleep(0.5)
                c.ping()  # reads the event
                assert (lockname, g.token, "lease_expired") in c.lost
        assert events and events[0][0] == lockname


def test_refresh_keeps_lease(endpoint, lockname):
    with LockClient(endpoint) as c, LockClient(endpoint) as other:
        g = c.acquire(lockname, lease=0.3)
        for _ in range(4):
            time.sleep(0.1)
            g.refresh()
        assert other.try_acquire(lockname) is None
        g.refresh(lease=5)
        assert c.release(lockname) == 0


def test_reset_fails_waiters(start_server, lockname):
    s = start_server()
    with LockClient(s.endpoint) as a, LockClient(s.endpoint) as b, LockClient(s.endpoint) as admin:
        a.acquire(lockname)
        errors = []

        def wait():
            try:
                b.acquire(lockname, timeout=10)
            except LockError as e:
                errors.append(e)

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.2)
        assert admin.reset() >= 1
        t.join(10)
        assert len(errors) == 1 and isinstance(errors[0], LockReset)
        with pytest.raises(LockNotHeld):
            a.release(lockname)


def test_bad_names_refused_locally(endpoint):
    with LockClient(endpoint) as c:
        for bad in ["", "a b", "x" * 251, "tab\t", "nl\n"]:
            with pytest.raises(ValueError):
                c.acquire(bad)
        c.ping()
        with pytest.raises(ValueError):
            LockClient(endpoint, name="two words")


def test_threads_share_a_client(endpoint, lockname):
    with LockClient(endpoint) as c:
        errors = []

        def work(i):
            try:
                for _ in range(20):
                    name = f"{lockname}/{i}"
                    c.acquire(name, timeout=5)
                    c.release(name)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        assert not errors


def test_server_gone(start_server, lockname):
    s = start_server()
    c = LockClient(s.endpoint)
    c.acquire(lockname)
    s.proc.kill()
    s.proc.wait()
    with pytest.raises(LockConnectionError):
        c.ping()
    assert c.closed


def test_list_and_inspect(endpoint, lockname):
    with LockClient(endpoint, name="lister") as a, LockClient(endpoint) as b:
        a.acquire(lockname + "/x")
        infos = b.locks(lockname)
        assert [i.name for i in infos] == [lockname + "/x"]
        assert infos[0].state == "exclusive" and infos[0].holders == 1
        info = b.inspect(lockname + "/x")
        assert info.holder_details[0]["client"] == "lister"
        assert b.stats()["holders"] >= 1


def test_protocol_error_class(endpoint):
    assert issubclass(LockProtocolError, LockError)


def test_close_from_another_thread_wakes_a_waiter(endpoint, lockname):
    with LockClient(endpoint) as a:
        a.acquire(lockname)
        b = LockClient(endpoint)
        errors = []

        def wait():
            try:
                b.acquire(lockname)
            except LockError as e:
                errors.append(e)

        t = threading.Thread(target=wait)
        t.start()
        time.sleep(0.2)
        b.close()
        t.join(10)
        assert not t.is_alive()
        assert isinstance(errors[0], LockConnectionError)
        assert b.closed


def test_on_lost_callback_may_use_the_client(endpoint, lockname):
    seen = []

    def lost(name, token, reason):
        seen.append((name, reason))
        c.ping()  # runs outside the request that read the event

    c = LockClient(endpoint, on_lost=lost)
    try:
        c.acquire(lockname, lease=0.1)
        time.sleep(0.3)
        c.ping()
        assert seen == [(lockname, "lease_expired")]
    finally:
        c.close()

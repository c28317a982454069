"""A client for eddy's lock service (docs/protocol/locks.md in the eddy tree).

One LockClient is one connection. Every lock it holds is released by the
server, and its waits dropped, the moment the connection closes: when
close() is called, when the process exits, or when it is killed.
"""

import contextlib
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

DEFAULT_ENDPOINT = "tcp:127.0.0.1:7701"
NAME_MAX = 250
CLIENT_NAME_MAX = 64
LINE_MAX = 64 * 1024
WAIT_MAX_MS = 4294967295  # the protocol's largest wait=
# How long past its own wait the client waits for the server's answer
# before it decides the connection is dead.
REPLY_GRACE = 10.0


# ---- Errors ---------------------------------------------------------------


class LockError(Exception):
    """Any failure of the lock service or of the connection to it. `code` is
    the server's error code (`busy`, `timeout`, `held`, ...) or None."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class LockTimeout(LockError):
    """The lock was not granted within the timeout."""


class LockBusy(LockTimeout):
    """A try (timeout 0) found the lock taken."""


class LockHeld(LockError):
    """This client already holds or waits for the lock and the acquire is
    not allowed (not reentrant, or a shared-to-exclusive upgrade)."""


class LockNotHeld(LockError):
    """release/refresh of a lock this client does not hold (for example
    after its lease expired or an admin reset)."""


class LockLimit(LockError):
    """A server limit was reached (locks, waiters, lease length...)."""


class LockReset(LockError):
    """An admin reset dropped this waiting acquire."""


class LockDenied(LockError):
    """reset without the right admin token."""


class LockProtocolError(LockError):
    """A malformed request, or a reply the client could not understand."""


class LockConnectionError(LockError, ConnectionError):
    """The service cannot be reached, or the connection was lost: every lock
    this client held is gone."""


_ERRORS = {
    "timeout": LockTimeout,
    "busy": LockBusy,
    "held": LockHeld,
    "not_held": LockNotHeld,
    "limit": LockLimit,
    "reset": LockReset,
    "denied": LockDenied,
    "bad_request": LockProtocolError,
    "too_long": LockProtocolError,
    "shutdown": LockConnectionError,
}


# ---- Values ---------------------------------------------------------------


@dataclass
class Grant:
    """A lock held by a client. `token` is the fencing token: it only ever
    grows for a lock name, so a resource can refuse a stale holder."""

    name: str
    token: int
    shared: bool
    client: "LockClient" = field(repr=False, compare=False)

    def release(self):
        """Releases one hold; returns the count this client still holds."""
        return self.client.release(self.name)

    def refresh(self, lease=None):
        self.client.refresh(self.name, lease=lease)


@dataclass
class LockInfo:
    name: str
    state: str  # "free", "exclusive" or "shared"
    holders: int
    waiters: int
    holder_details: List[Dict[str, str]] = field(default_factory=list)
    waiter_details: List[Dict[str, str]] = field(default_factory=list)


# ---- Endpoints ------------------------------------------------------------


def parse_endpoint(endpoint) -> Tuple[int, object]:
    """Returns (family, address) for socket.connect. Accepts
    "tcp:HOST:PORT", "tcp6:HOST:PORT", "unix:PATH", a path starting with
    "/" or ".", and a (host, port) tuple."""
    if isinstance(endpoint, tuple) and len(endpoint) == 2:
        return socket.AF_UNSPEC, (str(endpoint[0]), int(endpoint[1]))
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError(f"bad endpoint {endpoint!r}")
    if endpoint.startswith(("/", "./", "../")):
        return socket.AF_UNIX, endpoint
    kind, _, rest = endpoint.partition(":")
    if kind == "unix" and rest:
        return socket.AF_UNIX, rest
    if kind in ("tcp", "tcp6"):
        host, sep, port = rest.rpartition(":")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if sep and host and port.isdigit() and 0 < int(port) < 65536:
            fam = socket.AF_INET6 if kind == "tcp6" else socket.AF_UNSPEC
            return fam, (host, int(port))
    raise ValueError(
        f"bad endpoint {endpoint!r}: want tcp:HOST:PORT, tcp6:HOST:PORT or unix:PATH"
    )


def _check_name(name, what="lock name", limit=NAME_MAX):
    if not isinstance(name, str):
        raise TypeError(f"a {what} is a str")
    raw = name.encode("utf-8")
    if not 1 <= len(raw) <= limit or any(b <= 0x20 or b == 0x7F for b in raw):
        raise ValueError(
            f"a {what} is 1 to {limit} bytes without spaces or control characters: {name!r}"
        )
    return name


def _ms(seconds, what):
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"{what} is a number of seconds")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative")
    return int(round(seconds * 1000))


# ---- The client -----------------------------------------------------------


class LockClient:
    """A connection to an eddy lock service.

        client = LockClient("tcp:127.0.0.1:7701", name="worker-1")
        with client.lock("invoices", timeout=5) as grant:
            ...  # grant.token is the fencing token

    THREADS: a client may be shared between threads; requests are
    serialized, so a thread waiting in acquire() holds up the others until
    it is answered. Threads that wait for locks independently should each
    use their own client.

    close() may be called from any thread; it wakes up a waiting acquire,
    which raises LockConnectionError.

    A request interrupted half-way (KeyboardInterrupt, a socket error)
    leaves the connection out of step with the server, so the client closes
    it: every lock it held is released, and later calls raise
    LockConnectionError. There is no automatic reconnection.
    """

    def __init__(
        self,
        endpoint=DEFAULT_ENDPOINT,
        name: Optional[str] = None,
        connect_timeout: float = 10.0,
        on_lost: Optional[Callable[[str, int, str], None]] = None,
    ):
        self.endpoint = endpoint
        self.name = _check_name(name, "client name", CLIENT_NAME_MAX) if name else None
        self.on_lost = on_lost
        # (name, token, reason) for grants taken away while connected.
        self.lost: List[Tuple[str, int, str]] = []
        self.id: Optional[int] = None
        self._mutex = threading.Lock()
        self._to_tell: List[Tuple[str, int, str]] = []
        self._buf = b""
        self._sock = None
        family, addr = parse_endpoint(endpoint)
        try:
            if family == socket.AF_UNIX:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.settimeout(connect_timeout)
                    s.connect(addr)
                except BaseException:
                    s.close()
                    raise
            else:
                s = self._connect_tcp(family, addr, connect_timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise LockConnectionError(f"cannot reach the lock service at {endpoint}: {e}") from e
        s.settimeout(None)
        self._sock = s
        if self.name:
            self.id = self._int(self._request(f"hello {self.name}", wait=0)[0], 0)

    @staticmethod
    def _connect_tcp(family, addr, timeout):
        host, port = addr
        last = None
        fam = socket.AF_INET6 if family == socket.AF_INET6 else socket.AF_UNSPEC
        for af, st, proto, _, sa in socket.getaddrinfo(host, port, fam, socket.SOCK_STREAM):
            s = socket.socket(af, st, proto)
            try:
                s.settimeout(timeout)
                s.connect(sa)
                return s
            except OSError as e:
                last = e
                s.close()
        raise last or OSError(f"no address for {host}")

    # -- plumbing --

    def _fail(self, message):
        """Drops the connection and raises: the stream can no longer be
        trusted (or is gone)."""
        self._close_socket()
        raise LockConnectionError(message)

    def _close_socket(self):
        s, self._sock = self._sock, None
        if s is not None:
            try:
                s.close()
            except OSError:
                pass

    def _readline(self, deadline):
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 1 :]
                return line.rstrip(b"\r").decode("utf-8", "replace")
            if len(self._buf) > LINE_MAX:
                self._fail("reply line too long")
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail("no reply from the lock service in time; connection closed")
                self._sock.settimeout(left)
            else:
                self._sock.settimeout(None)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                self._fail(f"connection to the lock service lost: {e}")
            if not data:
                self._fail("connection to the lock service closed")
            self._buf += data

    def _event(self, words):
        if len(words) >= 5 and words[1] == "lost" and words[3].isdigit():
            ev = (words[2], int(words[3]), words[4])
            self.lost.append(ev)
            del self.lost[:-1000]  # bounded
            if self.on_lost is not None:
                self._to_tell.append(ev)

    def _tell(self):
        """Calls on_lost for the events read by the last request, outside
        the request (the callback may use the client)."""
        while self._to_tell:
            try:
                ev = self._to_tell.pop(0)
            except IndexError:
                return
            self.on_lost(*ev)

    def _request(self, line, wait=None):
        """Sends one request; returns the words after OK and the data lines
        before it. wait: seconds the server may take (None: unbounded)."""
        try:
            return self._exchange(line, wait)
        finally:
            if self._to_tell:
                self._tell()

    def _exchange(self, line, wait):
        with self._mutex:
            if self._sock is None:
                raise LockConnectionError("the lock client is closed")
            deadline = None if wait is None else time.monotonic() + wait + REPLY_GRACE
            done = False
            try:
                try:
                    self._sock.sendall(line.encode("utf-8") + b"\r\n")
                except OSError as e:
                    self._fail(f"connection to the lock service lost: {e}")
                data = []
                while True:
                    reply = self._readline(deadline)
                    words = reply.split()
                    if not words:
                        continue
                    if words[0] == "EVENT":
                        self._event(words)
                        continue
                    if words[0] == "OK":
                        done = True
                        return words[1:], data
                    if words[0] == "ERR":
                        done = True
                        code = words[1] if len(words) > 1 else ""
                        message = reply[4:].strip()
                        raise _ERRORS.get(code, LockProtocolError)(message, code)
                    if len(data) >= 100000:
                        self._fail("reply too long")
                    data.append(words)
            finally:
                if not done:
                    # Interrupted half-way: out of step with the server.
                    self._close_socket()

    # -- the API --

    def acquire(
        self,
        name: str,
        timeout: Optional[float] = None,
        shared: bool = False,
        reentrant: bool = False,
        lease: Optional[float] = None,
    ) -> Grant:
        """Acquires `name` and returns the Grant. timeout: seconds to wait
        (None: as long as it takes; 0: try once, LockBusy if taken);
        LockTimeout when it passes. shared: a read lock. reentrant: if this
        client holds it already, count up instead of failing. lease: seconds
        after which the server releases the lock unless refreshed."""
        _check_name(name)
        parts = ["acquire", name, "shared" if shared else "exclusive"]
        if reentrant:
            parts.append("reentrant")
        wait_ms = _ms(timeout, "timeout")
        if wait_ms == 0:
            parts.append("try")
        elif wait_ms is not None and wait_ms <= WAIT_MAX_MS:
            parts.append(f"wait={wait_ms}")
        lease_ms = _ms(lease, "lease")
        if lease_ms is not None:
            if lease_ms == 0:
                raise ValueError("lease must be at least 0.001 s")
            parts.append(f"lease={lease_ms}")
        words, _ = self._request(" ".join(parts), wait=timeout)
        return Grant(name, self._int(words, 0), bool(shared), self)

    def try_acquire(self, name, shared=False, reentrant=False, lease=None) -> Optional[Grant]:
        """The grant if the lock is free now, else None."""
        try:
            return self.acquire(name, timeout=0, shared=shared, reentrant=reentrant, lease=lease)
        except LockBusy:
            return None

    def release(self, name: str) -> int:
        """Releases one hold of `name`; returns the count still held (0: the
        lock is free for others). LockNotHeld if not held."""
        words, _ = self._request(f"release {_check_name(name)}", wait=0)
        return self._int(words, 0)

    def refresh(self, name: str, lease: Optional[float] = None) -> None:
        """Restarts the lease of a held lock (for `lease` seconds if given,
        else for the length it had)."""
        line = f"refresh {_check_name(name)}"
        lease_ms = _ms(lease, "lease")
        if lease_ms is not None:
            line += f" lease={lease_ms}"
        self._request(line, wait=0)

    @contextlib.contextmanager
    def lock(self, name, timeout=None, shared=False, reentrant=False, lease=None):
        """`with client.lock("name", timeout=5) as grant:` — acquires, yields
        the Grant, releases on the way out. If the lock was lost meanwhile
        (lease expired, admin reset) and the block raised nothing, the
        release raises LockNotHeld so the loss is not silent."""
        grant = self.acquire(name, timeout=timeout, shared=shared, reentrant=reentrant, lease=lease)
        try:
            yield grant
        except BaseException:
            with contextlib.suppress(LockError):
                self.release(name)
            raise
        else:
            self.release(name)

    def locks(self, prefix: Optional[str] = None) -> List[LockInfo]:
        """The locks with a holder or waiter (whose name starts with prefix),
        sorted by name; at most 1000."""
        line = "list" if not prefix else f"list {_check_name(prefix, 'prefix')}"
        _, data = self._request(line, wait=0)
        return [self._info(w) for w in data if w[0] == "LOCK"]

    def inspect(self, name: str) -> LockInfo:
        """One lock with its holders and waiters (queue order)."""
        _, data = self._request(f"inspect {_check_name(name)}", wait=0)
        info = None
        for w in data:
            if w[0] == "LOCK":
                info = self._info(w)
            elif info is not None and w[0] in ("HOLDER", "WAITER"):
                kv = dict(x.split("=", 1) for x in w[1:] if "=" in x)
                (info.holder_details if w[0] == "HOLDER" else info.waiter_details).append(kv)
        if info is None:
            raise LockProtocolError("inspect answered without a LOCK line")
        return info

    def stats(self) -> Dict[str, int]:
        _, data = self._request("stats", wait=0)
        return {w[1]: int(w[2]) for w in data if w[0] == "STAT" and len(w) >= 3 and w[2].isdigit()}

    def reset(self, token: Optional[str] = None) -> int:
        """Admin: releases every lock of every client and fails every waiter.
        Returns the number of grants released."""
        line = "reset" if token is None else f"reset {_check_name(token, 'admin token', 256)}"
        words, _ = self._request(line, wait=0)
        return self._int(words, 0)

    def ping(self) -> None:
        self._request("ping", wait=0)

    def close(self) -> None:
        """Closes the connection; the server releases everything it held.
        Safe from any thread: an acquire waiting in another thread is woken
        up and raises LockConnectionError."""
        s = self._sock
        if s is None:
            return
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        # A request in flight in another thread sees EOF and closes the
        # socket itself; otherwise close it here.
        if self._mutex.acquire(blocking=False):
            try:
                self._close_socket()
            finally:
                self._mutex.release()

    @property
    def closed(self) -> bool:
        return self._sock is None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        s = getattr(self, "_sock", None)
        if s is not None:
            s.close()

    # -- helpers --

    def _int(self, words, i):
        if len(words) <= i or not words[i].isdigit():
            self._close_socket()
            raise LockProtocolError(f"unexpected reply: OK {' '.join(words)}")
        return int(words[i])

    @staticmethod
    def _info(w):
        kv = dict(x.split("=", 1) for x in w[3:] if "=" in x)
        return LockInfo(
            name=w[1] if len(w) > 1 else "",
            state=w[2] if len(w) > 2 else "free",
            holders=int(kv.get("holders", "0")),
            waiters=int(kv.get("waiters", "0")),
        )

"""Publishing to eddy's realtime hub over its backend line protocol
(docs/protocol/realtime.md, "Backend line protocol", in the eddy tree).

    client = Publisher("tcp:127.0.0.1:7703", token="s3cret")
    client.publish("chat:lobby", {"text": "deploy finished"})

One Publisher is one persistent connection, opened on first use and
reopened after a failure, so a web worker pays the connection once, not per
message.
"""

import json
import select
import socket
import threading
import time
from dataclasses import dataclass
from typing import Iterable, Optional

from .locks import parse_endpoint

DEFAULT_PUBLISH_ENDPOINT = "tcp:127.0.0.1:7703"
CHANNEL_MAX = 255
BROADCAST_MAX = 1000
REPLY_LINE_MAX = 4096


class PublishError(Exception):
    """Any failure to publish. `code` is the hub's status code (400, 401,
    404, 413, ...) when it refused, else None."""

    def __init__(self, message, code=None):
        super().__init__(message)
        self.code = code


class PublishRefused(PublishError):
    """The hub answered with an error: a bad channel name (400), a bad
    token (401), an unknown namespace (404), data too large (413), a limit
    (503). The connection stays usable, except after a bad token."""


class PublishConnectionError(PublishError, ConnectionError):
    """The hub cannot be reached, or the connection broke before it
    answered: the message may or may not have been published. The next call
    connects again."""


@dataclass(frozen=True)
class Published:
    """Where a publication went: its offset in the channel's history (0 when
    the namespace keeps none) and the channel's epoch, which browsers use to
    recover what they missed."""

    channel: str
    offset: int
    epoch: str


def check_channel(channel):
    """A channel name as the hub takes it: 1 to 255 bytes of printable ASCII
    without spaces, quotes, backslashes or commas."""
    if not isinstance(channel, str):
        raise TypeError("a channel name is a str")
    ok = 1 <= len(channel) <= CHANNEL_MAX and all(
        0x21 <= ord(ch) <= 0x7E and ch not in '"\\,' for ch in channel
    )
    if not ok:
        raise ValueError(
            "a channel name is 1 to 255 printable ASCII characters without "
            f"spaces, quotes, backslashes or commas: {channel!r}"
        )
    return channel


def encode_data(data) -> str:
    """Any JSON-serialisable value as one line of compact JSON (newlines
    inside strings are escaped by JSON itself)."""
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise TypeError(f"data is not JSON-serialisable: {e}") from e


class Publisher:
    """A persistent connection to a hub's line protocol (eddyd: tcp 7703).

        client = Publisher(token=os.environ.get("EDDY_PUBLISH_TOKEN"))
        client.publish("orders:42", {"state": "shipped"})
        client.broadcast(["user:1", "user:2"], {"notice": "maintenance"})

    The connection opens on first use, sends `AUTH token` first when a
    token is given, and stays open. A connection the hub closed meanwhile
    (a restart, an idle proxy) is noticed before sending and replaced
    silently. A failure after the request was sent raises
    PublishConnectionError, because the message may have gone out; the next
    call reconnects. Nothing is retried behind your back, so nothing is
    published twice.

    THREADS: a Publisher may be shared; requests are serialized on its one
    connection.
    """

    def __init__(
        self,
        endpoint=DEFAULT_PUBLISH_ENDPOINT,
        token: Optional[str] = None,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
    ):
        parse_endpoint(endpoint)  # a bad endpoint fails here, not on first use
        if token is not None and (
            not isinstance(token, str) or not token or any(c.isspace() for c in token)
        ):
            raise ValueError("a token is a non-empty str without spaces")
        self.endpoint = endpoint
        self.token = token
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.connects = 0  # connections opened so far (reconnects show here)
        self._mutex = threading.Lock()
        self._sock = None
        self._buf = b""

    # -- public --

    def publish(self, channel: str, data) -> Published:
        """Publishes data (any JSON-serialisable value) on channel."""
        line = f"PUBLISH {check_channel(channel)} {encode_data(data)}"
        words = self._request(line).split()
        if len(words) != 3 or not words[1].isdigit():
            raise PublishError(f"unexpected answer from the hub: {' '.join(words)}")
        epoch = "" if words[2] == "-" else words[2]
        return Published(channel, int(words[1]), epoch)

    def broadcast(self, channels: Iterable[str], data) -> int:
        """Publishes data on every channel (at most 1000, none twice);
        returns how many. If one fails, PublishRefused says which and how far
        it got: the channels before it were published to."""
        chans = [check_channel(c) for c in channels]
        if not 1 <= len(chans) <= BROADCAST_MAX:
            raise ValueError("broadcast to 1 to 1000 channels")
        if len(set(chans)) != len(chans):
            raise ValueError("a channel is named twice")
        words = self._request(f"BROADCAST {','.join(chans)} {encode_data(data)}").split()
        if len(words) != 2 or not words[1].isdigit():
            raise PublishError(f"unexpected answer from the hub: {' '.join(words)}")
        return int(words[1])

    def ping(self):
        """Round trip to the hub; raises when it does not answer."""
        reply = self._request("PING")
        if reply != "PONG":
            raise PublishError(f"unexpected answer to PING: {reply}")

    def close(self):
        with self._mutex:
            self._close_socket()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- plumbing --

    def _close_socket(self):
        s, self._sock = self._sock, None
        self._buf = b""
        if s is not None:
            try:
                s.close()
            except OSError:
                pass

    def _connect(self):
        family, addr = parse_endpoint(self.endpoint)
        try:
            if family == socket.AF_UNIX:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    s.settimeout(self.connect_timeout)
                    s.connect(addr)
                except BaseException:
                    s.close()
                    raise
            else:
                s = socket.create_connection(addr, timeout=self.connect_timeout)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as e:
            raise PublishConnectionError(f"cannot reach the hub at {self.endpoint}: {e}") from e
        self._sock = s
        self._buf = b""
        self.connects += 1
        if self.token is not None:
            reply = self._exchange(f"AUTH {self.token}")
            if reply != "OK":
                self._close_socket()
                raise PublishError(f"unexpected answer to AUTH: {reply}")

    def _stale(self) -> bool:
        """True when the hub closed the connection while it sat idle (or
        sent something unasked): then it must not carry the next request."""
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            if not readable:
                return False
            return True  # EOF, a reset, or bytes no request asked for
        except (OSError, ValueError):
            return True

    def _readline(self, deadline) -> str:
        while True:
            i = self._buf.find(b"\n")
            if i >= 0:
                line, self._buf = self._buf[:i], self._buf[i + 1 :]
                return line.rstrip(b"\r").decode("utf-8", "replace")
            if len(self._buf) > REPLY_LINE_MAX:
                self._close_socket()
                raise PublishConnectionError("reply line too long; connection closed")
            left = deadline - time.monotonic()
            if left <= 0:
                self._close_socket()
                raise PublishConnectionError("no answer from the hub in time; connection closed")
            self._sock.settimeout(left)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                self._close_socket()
                raise PublishConnectionError(f"connection to the hub lost: {e}") from e
            if not data:
                self._close_socket()
                raise PublishConnectionError("the hub closed the connection before answering")
            self._buf += data

    def _exchange(self, line) -> str:
        """Sends one line, returns the reply line; raises PublishRefused for
        an ERR reply."""
        deadline = time.monotonic() + self.timeout
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(line.encode("utf-8") + b"\n")
        except OSError as e:
            self._close_socket()
            raise PublishConnectionError(f"connection to the hub lost: {e}") from e
        reply = self._readline(deadline)
        if reply.startswith("ERR "):
            _, _, rest = reply.partition(" ")
            code, _, message = rest.partition(" ")
            code = int(code) if code.isdigit() else None
            if code == 401:
                # The hub closes the connection after a bad token.
                self._close_socket()
            raise PublishRefused(f"the hub refused: {rest}", code)
        return reply

    def _request(self, line) -> str:
        with self._mutex:
            if self._sock is not None and self._stale():
                self._close_socket()
            if self._sock is None:
                self._connect()
            try:
                return self._exchange(line)
            except BaseException as e:
                # A half-done exchange leaves the stream out of step.
                if not isinstance(e, PublishRefused):
                    self._close_socket()
                raise

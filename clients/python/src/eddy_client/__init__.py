"""eddy_client — Python clients for eddyd's services (standard library only).

    from eddy_client import LockClient, Publisher

    client = LockClient("tcp:127.0.0.1:7701", name="worker-1")
    with client.lock("nightly-report", timeout=10) as grant:
        print("holding it with fencing token", grant.token)

    hub = Publisher("tcp:127.0.0.1:7703")
    hub.publish("chat:lobby", {"text": "report ready"})
"""

from .locks import (
    DEFAULT_ENDPOINT,
    Grant,
    LockBusy,
    LockClient,
    LockConnectionError,
    LockDenied,
    LockError,
    LockHeld,
    LockInfo,
    LockLimit,
    LockNotHeld,
    LockProtocolError,
    LockReset,
    LockTimeout,
    parse_endpoint,
)
from .publish import (
    DEFAULT_PUBLISH_ENDPOINT,
    Published,
    Publisher,
    PublishConnectionError,
    PublishError,
    PublishRefused,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_PUBLISH_ENDPOINT",
    "Grant",
    "LockBusy",
    "LockClient",
    "LockConnectionError",
    "LockDenied",
    "LockError",
    "LockHeld",
    "LockInfo",
    "LockLimit",
    "LockNotHeld",
    "LockProtocolError",
    "LockReset",
    "LockTimeout",
    "PublishConnectionError",
    "PublishError",
    "PublishRefused",
    "Published",
    "Publisher",
    "parse_endpoint",
]

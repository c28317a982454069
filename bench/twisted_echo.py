#!/usr/bin/python3
"""twisted_echo.py -- the Twisted echo server eddy's echo is compared with.

    python3 bench/twisted_echo.py [PORT]      (default 0: any free port)

Listens on 127.0.0.1 with Twisted's default reactor (epoll on Linux), sets
TCP_NODELAY like the other servers in the comparison, logs
"event=listening port=N" on stderr and exits 0 on SIGINT/SIGTERM.
Needs Debian's python3-twisted.
"""
import sys

from twisted.internet import protocol, reactor


class Echo(protocol.Protocol):
    def connectionMade(self):
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data):
        self.transport.write(data)


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and not sys.argv[1].isdigit()):
        print("usage: twisted_echo.py [PORT]", file=sys.stderr)
        return 2
    port = int(sys.argv[1]) if len(sys.argv) == 2 else 0
    factory = protocol.Factory.forProtocol(Echo)
    listening = reactor.listenTCP(port, factory, interface="127.0.0.1")
    print("event=listening port=%d" % listening.getHost().port,
          file=sys.stderr, flush=True)
    # Twisted's reactor stops cleanly on SIGINT and SIGTERM by itself.
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

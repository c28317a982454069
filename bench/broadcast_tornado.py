#!/usr/bin/python3
"""broadcast_tornado.py -- a Tornado hub with the subset of eddy's realtime
protocol that bench/run-broadcast-bench drives (docs/protocol/realtime.md):

    {"op":"subscribe","id":I,"channel":C}  -> {"op":"subscribed","id":I,"channel":C}
    {"op":"publish","id":I,"channel":C,"data":D}
         -> {"op":"message","channel":C,"offset":N,"data":D} to every
            subscriber of C, then {"op":"published","id":I,"channel":C,"offset":N}
    anything else -> {"op":"error","id":I,"code":400,"message":"..."}

    /usr/bin/python3 bench/broadcast_tornado.py [--port PORT]

The chat-demo idiom of Tornado's documentation: a WebSocketHandler per
connection, a class-level dict of subscriber sets, and write_message of the
once-serialised text to each subscriber (its returned future is not
awaited, as in the demo: no backpressure). Accepts any path and any Origin
(check_origin returns True). Compact JSON separators. Listens on 127.0.0.1,
logs "event=listening port=N" on stderr, exits 0 on SIGINT/SIGTERM. Needs
Debian's python3-tornado (6.2).
"""
import argparse
import asyncio
import json
import signal
import socket
import sys

import tornado.httpserver
import tornado.netutil
import tornado.web
import tornado.websocket

channels = {}  # name -> [set of handlers, last offset]


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


class Hub(tornado.websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def open(self, *args):
        self.mine = set()

    def on_message(self, text):
        try:
            m = json.loads(text)
            op, ch, mid = m.get("op"), m.get("channel"), m.get("id")
        except (ValueError, AttributeError):
            self.close(4000, "bad request")
            return
        if not isinstance(ch, str) or not ch:
            self.write_message(dumps({"op": "error", "id": mid, "code": 400, "message": "channel required"}))
        elif op == "subscribe":
            channels.setdefault(ch, [set(), 0])[0].add(self)
            self.mine.add(ch)
            self.write_message(dumps({"op": "subscribed", "id": mid, "channel": ch}))
        elif op == "publish":
            entry = channels.get(ch)
            offset = 0
            if entry is not None:
                entry[1] += 1
                offset = entry[1]
                text = dumps({"op": "message", "channel": ch, "offset": offset, "data": m.get("data")})
                for sub in entry[0]:
                    try:
                        sub.write_message(text)
                    except tornado.websocket.WebSocketClosedError:
                        pass
            self.write_message(dumps({"op": "published", "id": mid, "channel": ch, "offset": offset}))
        else:
            self.write_message(dumps({"op": "error", "id": mid, "code": 400, "message": "unknown op"}))

    def on_close(self):
        for ch in getattr(self, "mine", ()):
            entry = channels.get(ch)
            if entry is not None:
                entry[0].discard(self)
                if not entry[0]:
                    del channels[ch]


async def serve(port):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    app = tornado.web.Application([(r"/.*", Hub)], websocket_ping_interval=0)
    server = tornado.httpserver.HTTPServer(app)
    socks = tornado.netutil.bind_sockets(port, "127.0.0.1", family=socket.AF_INET, backlog=4096)
    server.add_sockets(socks)
    print("event=listening port=%d" % socks[0].getsockname()[1], file=sys.stderr, flush=True)
    await stop.wait()


def main():
    ap = argparse.ArgumentParser(description="Tornado hub for bench/run-broadcast-bench")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if not 0 <= args.port <= 65535:
        ap.error("--port 0..65535")
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""broadcast_websockets.py -- a python3-websockets (asyncio) hub with the
subset of eddy's realtime protocol that bench/run-broadcast-bench drives
(docs/protocol/realtime.md):

    {"op":"subscribe","id":I,"channel":C}  -> {"op":"subscribed","id":I,"channel":C}
    {"op":"publish","id":I,"channel":C,"data":D}
         -> {"op":"message","channel":C,"offset":N,"data":D} to every
            subscriber of C, then {"op":"published","id":I,"channel":C,"offset":N}
    anything else -> {"op":"error","id":I,"code":400,"message":"..."}

    /usr/bin/python3 bench/broadcast_websockets.py [--port PORT]

Written the way the library's documentation recommends for fan-out: a
publication is serialised once and handed to websockets.broadcast(), which
writes it to every connection without awaiting each one (no per-client
coroutine, no backpressure). Compact JSON separators, as the other peers
send. The library's defaults otherwise (a ping every 20 s; no
permessage-deflate since the load generator offers none). Listens on
127.0.0.1, logs "event=listening port=N" on stderr, exits 0 on
SIGINT/SIGTERM. Needs Debian's python3-websockets (10.4).
"""
import argparse
import asyncio
import json
import signal
import sys

import websockets

channels = {}  # name -> [set of connections, last offset]


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


async def session(ws, _path=None):
    # websockets 10 passes (ws, path); later versions pass ws only
    mine = set()
    try:
        async for text in ws:
            try:
                m = json.loads(text)
                op, ch, mid = m.get("op"), m.get("channel"), m.get("id")
            except (ValueError, AttributeError):
                await ws.close(4000, "bad request")
                return
            if not isinstance(ch, str) or not ch:
                await ws.send(dumps({"op": "error", "id": mid, "code": 400, "message": "channel required"}))
            elif op == "subscribe":
                channels.setdefault(ch, [set(), 0])[0].add(ws)
                mine.add(ch)
                await ws.send(dumps({"op": "subscribed", "id": mid, "channel": ch}))
            elif op == "publish":
                entry = channels.get(ch)
                offset = 0
                if entry is not None:
                    entry[1] += 1
                    offset = entry[1]
                    websockets.broadcast(entry[0], dumps(
                        {"op": "message", "channel": ch, "offset": offset, "data": m.get("data")}))
                await ws.send(dumps({"op": "published", "id": mid, "channel": ch, "offset": offset}))
            else:
                await ws.send(dumps({"op": "error", "id": mid, "code": 400, "message": "unknown op"}))
    except websockets.ConnectionClosed:
        pass
    finally:
        for ch in mine:
            entry = channels.get(ch)
            if entry is not None:
                entry[0].discard(ws)
                if not entry[0]:
                    del channels[ch]


async def serve(port):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # backlog raised from asyncio's 100 so thousands of clients connecting
    # at once are not dropped
    async with websockets.serve(session, "127.0.0.1", port, backlog=4096) as server:
        port = server.sockets[0].getsockname()[1]
        print("event=listening port=%d" % port, file=sys.stderr, flush=True)
        await stop.wait()


def main():
    ap = argparse.ArgumentParser(description="python3-websockets hub for bench/run-broadcast-bench")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if not 0 <= args.port <= 65535:
        ap.error("--port 0..65535")
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""ws_echo_websockets.py -- the python3-websockets echo server eddy's ws-echo
is compared with (bench/run-ws-bench).

    python3 bench/ws_echo_websockets.py [--port PORT]   (default 0: free port)

Listens on 127.0.0.1, accepts a connection on any path and sends every
message back as it came (text as text, binary as binary), with the library's
defaults otherwise (permessage-deflate when the client offers it -- the
load generator does not -- and a ping every 20 s) but a 16 MiB message limit
instead of 1 MiB, like the other servers. Logs
"event=listening port=N" on stderr and exits 0 on SIGINT/SIGTERM. Needs
Debian's python3-websockets (10.4).
"""
import argparse
import asyncio
import signal
import sys

import websockets


async def echo(ws, _path=None):
    # websockets 10 passes (ws, path); later versions pass ws only
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def serve(port):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # a 16 MiB limit, as the other servers, so large-message runs compare
    async with websockets.serve(echo, "127.0.0.1", port, max_size=16 << 20) as server:
        port = server.sockets[0].getsockname()[1]
        print("event=listening port=%d" % port, file=sys.stderr, flush=True)
        await stop.wait()


def main():
    ap = argparse.ArgumentParser(description="python3-websockets echo server for bench/run-ws-bench")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    if not 0 <= args.port <= 65535:
        ap.error("--port 0..65535")
    asyncio.run(serve(args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())

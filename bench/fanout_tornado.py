#!/usr/bin/python3
"""fanout_tornado.py -- the Tornado fan-out handler eddy's fanout example is
compared with (bench/run-fanout-bench).

    python3 bench/fanout_tornado.py --backend URL --backend URL --backend URL
                                    [--port PORT]

Listens on 127.0.0.1 (port 0, the default, picks a free one) and logs
"event=listening port=N" on stderr. Every GET (any path) fetches the three
backend URLs concurrently with AsyncHTTPClient and, once all three have
answered, responds with the same JSON as eddy's examples/fanout:

    {"elapsed_us": 10412, "results": [
       {"backend": URL, "status": 200, "body": <its JSON, or its text>},
       {"backend": URL, "error": "..."}, ...]}

200, or 502 when a backend failed or answered other than 2xx. Exits 0 on
SIGINT/SIGTERM. Needs Debian's python3-tornado.

AsyncHTTPClient is Tornado's default (simple_httpclient). Its max_clients
defaults to 10 simultaneous fetches, beyond which fetches wait in a queue:
at concurrency 20 (60 fetches in flight) that queue, not Tornado's speed,
would set the latency, so it is raised to 1000. simple_httpclient opens a
new connection per fetch (it has no keep-alive pool): that is Tornado's
stock behaviour and part of what is measured.
"""
import argparse
import asyncio
import json
import signal
import sys
import time

import tornado.httpclient
import tornado.httpserver
import tornado.netutil
import tornado.web

MAX_CLIENTS = 1000


def body_value(resp):
    """A backend's body as JSON when it says it is JSON, else as text."""
    if resp.headers.get("Content-Type", "").startswith("application/json"):
        try:
            return json.loads(resp.body)
        except ValueError:
            pass
    return resp.body.decode("utf-8", "replace")


class FanOut(tornado.web.RequestHandler):
    def initialize(self, backends):
        self.backends = backends

    def compute_etag(self):
        # Tornado hashes every body for an ETag by default: work that has
        # nothing to do with fanning out, and that the other servers skip
        return None

    async def get(self, _path):
        started = time.monotonic_ns()
        client = tornado.httpclient.AsyncHTTPClient()
        replies = await asyncio.gather(*(client.fetch(u, raise_error=False) for u in self.backends),
                                       return_exceptions=True)
        results, ok = [], True
        for url, r in zip(self.backends, replies):
            if isinstance(r, Exception) or r.code == 599:  # 599: no HTTP answer
                ok = False
                results.append({"backend": url, "error": str(getattr(r, "error", r))})
            else:
                ok = ok and 200 <= r.code <= 299
                results.append({"backend": url, "status": r.code, "body": body_value(r)})
        self.set_status(200 if ok else 502)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"elapsed_us": (time.monotonic_ns() - started) // 1000,
                                "results": results}, separators=(",", ":")))


async def serve(args):
    tornado.httpclient.AsyncHTTPClient.configure(None, max_clients=MAX_CLIENTS)
    app = tornado.web.Application([(r"/(.*)", FanOut, {"backends": args.backend})])
    server = tornado.httpserver.HTTPServer(app)
    sockets = tornado.netutil.bind_sockets(args.port, address="127.0.0.1")
    server.add_sockets(sockets)
    print("event=listening port=%d" % sockets[0].getsockname()[1], file=sys.stderr, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()


def main():
    ap = argparse.ArgumentParser(description="Tornado fan-out server for bench/run-fanout-bench")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--backend", action="append", default=[], metavar="URL")
    args = ap.parse_args()
    if len(args.backend) != 3 or not all(u.startswith("http://") for u in args.backend):
        ap.error("exactly three --backend http://HOST:PORT/PATH URLs")
    if not 0 <= args.port <= 65535:
        ap.error("--port 0..65535")
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

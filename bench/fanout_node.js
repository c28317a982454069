#!/usr/bin/env node
// fanout_node.js -- the Node `http` fan-out handler eddy's fanout example is
// compared with (bench/run-fanout-bench); also a slow backend.
//
//   node bench/fanout_node.js --backend URL --backend URL --backend URL [--port PORT]
//   node bench/fanout_node.js --backend-mode DELAY_MS [--port PORT]
//
// Listens on 127.0.0.1 (port 0, the default, picks a free one) and logs
// "event=listening port=N" on stderr; exits 0 on SIGINT/SIGTERM.
//
// Fan-out mode: every GET fetches the three backend URLs concurrently and,
// once all three have answered, responds with the same JSON as eddy's
// examples/fanout:
//   {"elapsed_us": 10412, "results": [
//      {"backend": URL, "status": 200, "body": <its JSON, or its text>},
//      {"backend": URL, "error": "..."}, ...]}
// 200, or 502 when a backend failed or answered other than 2xx. The
// backends are reached through one keep-alive http.Agent with no socket
// limit, so connections are reused as a tuned Node service would.
//
// Backend mode: every request is answered after DELAY_MS milliseconds with
// {"delay_ms": N, "path": "/..."}, as eddy's fanout --backend-mode does (the
// runner uses eddy's when it is built; this one stands in otherwise).
'use strict';

const http = require('http');

function usage(msg) {
  process.stderr.write(`fanout_node.js: ${msg}\n` +
    'usage: fanout_node.js --backend URL x3 [--port PORT]\n' +
    '       fanout_node.js --backend-mode DELAY_MS [--port PORT]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opt = { port: 0, backends: [], delay: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (v === undefined) usage(`${a} needs a value`);
    if (a === '--port') opt.port = Number(v);
    else if (a === '--backend') opt.backends.push(v);
    else if (a === '--backend-mode') opt.delay = Number(v);
    else usage(`unknown option ${a}`);
    i++;
  }
  if (!Number.isInteger(opt.port) || opt.port < 0 || opt.port > 65535) usage('--port 0..65535');
  if (opt.delay !== null) {
    if (!Number.isInteger(opt.delay) || opt.delay < 0 || opt.delay > 60000) usage('--backend-mode 0..60000');
    if (opt.backends.length) usage('--backend-mode takes no --backend');
  } else if (opt.backends.length !== 3 || !opt.backends.every((u) => u.startsWith('http://'))) {
    usage('exactly three --backend http://HOST:PORT/PATH URLs');
  }
  return opt;
}

// Resolves to {backend, status, body} or {backend, error}: never rejects,
// so one failure does not hide the others' results.
function fetch(agent, url) {
  return new Promise((resolve) => {
    const req = http.get(url, { agent }, (res) => {
      const parts = [];
      res.on('data', (d) => parts.push(d));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let body = text;
        if ((res.headers['content-type'] || '').startsWith('application/json')) {
          try {
            body = JSON.parse(text);
          } catch (e) {
            body = text;
          }
        }
        resolve({ backend: url, status: res.statusCode, body });
      });
      res.on('error', (err) => resolve({ backend: url, error: err.message }));
    });
    req.on('error', (err) => resolve({ backend: url, error: err.message }));
  });
}

function fanout(opt) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
  return http.createServer((req, res) => {
    const started = process.hrtime.bigint();
    // the request body (none for GET) must be consumed for keep-alive
    req.resume();
    Promise.all(opt.backends.map((u) => fetch(agent, u))).then((results) => {
      const ok = results.every((r) => r.error === undefined && r.status >= 200 && r.status <= 299);
      const out = JSON.stringify({
        elapsed_us: Number((process.hrtime.bigint() - started) / 1000n),
        results,
      });
      res.writeHead(ok ? 200 : 502, {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(out),
      });
      res.end(out);
    });
  });
}

function backend(opt) {
  return http.createServer((req, res) => {
    req.resume();
    setTimeout(() => {
      const body = JSON.stringify({ delay_ms: opt.delay, path: req.url.split('?')[0] });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    }, opt.delay);
  });
}

const opt = parseArgs(process.argv.slice(2));
const server = opt.delay !== null ? backend(opt) : fanout(opt);
server.keepAliveTimeout = 60000;
server.listen(opt.port, '127.0.0.1', () => {
  process.stderr.write(`event=listening port=${server.address().port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}

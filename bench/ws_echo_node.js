#!/usr/bin/env node
// ws_echo_node.js -- the Node `ws` echo server eddy's ws-echo is compared
// with (bench/run-ws-bench).
//
//   node bench/ws_echo_node.js [--port PORT]      (default 0: any free port)
//
// Listens on 127.0.0.1, upgrades a request on any path and sends every
// message back as it came (text as text, binary as binary). `ws`'s defaults
// otherwise: permessage-deflate is off in `ws` unless asked for, so it
// echoes plain frames like the other servers; a 100 MiB message limit.
// TCP_NODELAY is set (`ws` does it on every socket). Logs
// "event=listening port=N" on stderr and exits 0 on SIGINT/SIGTERM.
// Needs the npm package `ws` in bench/node_modules (cd bench && npm install).
'use strict';

const { WebSocketServer } = require('ws');

function usage(msg) {
  process.stderr.write(`ws_echo_node.js: ${msg}\nusage: ws_echo_node.js [--port PORT]\n`);
  process.exit(2);
}

let port = 0;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] !== '--port' || argv[i + 1] === undefined) usage(`bad argument ${argv[i]}`);
  port = Number(argv[i + 1]);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port 0..65535');

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  process.stderr.write(`event=listening port=${wss.address().port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}

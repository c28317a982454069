#!/usr/bin/env node
// broadcast_node.js -- a Node `ws` hub with the subset of eddy's realtime
// protocol that bench/run-broadcast-bench drives (docs/protocol/realtime.md):
//
//   {"op":"subscribe","id":I,"channel":C}  -> {"op":"subscribed","id":I,"channel":C}
//   {"op":"publish","id":I,"channel":C,"data":D}
//        -> {"op":"message","channel":C,"offset":N,"data":D} to every
//           subscriber of C, then {"op":"published","id":I,"channel":C,"offset":N}
//   anything else -> {"op":"error","id":I,"code":400,"message":"..."}
//
//   node bench/broadcast_node.js [--port PORT]      (default 0: any free port)
//
// Written as a user who cares about speed would write it with `ws`: channels
// are Maps of Sets of sockets; a publication is serialised once and turned
// into a Buffer once, and that same Buffer is sent to every subscriber
// (`ws.send(buf, {binary: false})`: `ws` then frames it without converting
// a string per client). `ws` has no public API to share one encoded frame
// between sockets, so each send still writes its own small header. No
// permessage-deflate (off in `ws` servers by default). Listens on 127.0.0.1,
// logs "event=listening port=N" on stderr, exits 0 on SIGINT/SIGTERM. Needs
// the npm package `ws` in bench/node_modules (cd bench && npm install).
'use strict';

const { WebSocketServer } = require('ws');

function usage(msg) {
  process.stderr.write(`broadcast_node.js: ${msg}\nusage: broadcast_node.js [--port PORT]\n`);
  process.exit(2);
}

let port = 0;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) {
  if (argv[i] !== '--port' || argv[i + 1] === undefined) usage(`bad argument ${argv[i]}`);
  port = Number(argv[i + 1]);
}
if (!Number.isInteger(port) || port < 0 || port > 65535) usage('--port 0..65535');

const channels = new Map(); // name -> {subs: Set<ws>, offset: number}

function reply(ws, obj) {
  ws.send(JSON.stringify(obj));
}

function onMessage(ws, text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch (e) {
    ws.close(4000, 'bad request');
    return;
  }
  const id = m.id === undefined ? null : m.id;
  if (typeof m.channel !== 'string' || m.channel === '') {
    reply(ws, { op: 'error', id, code: 400, message: 'channel required' });
    return;
  }
  if (m.op === 'subscribe') {
    let ch = channels.get(m.channel);
    if (!ch) {
      ch = { subs: new Set(), offset: 0 };
      channels.set(m.channel, ch);
    }
    ch.subs.add(ws);
    ws.subs.add(m.channel);
    reply(ws, { op: 'subscribed', id, channel: m.channel });
  } else if (m.op === 'publish') {
    const ch = channels.get(m.channel);
    const offset = ch ? ++ch.offset : 0;
    if (ch) {
      const buf = Buffer.from(JSON.stringify({ op: 'message', channel: m.channel, offset, data: m.data }));
      for (const sub of ch.subs) sub.send(buf, { binary: false });
    }
    reply(ws, { op: 'published', id, channel: m.channel, offset });
  } else {
    reply(ws, { op: 'error', id, code: 400, message: 'unknown op' });
  }
}

const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, clientTracking: false });
wss.on('connection', (ws) => {
  ws.subs = new Set();
  ws.on('message', (data, isBinary) => {
    if (isBinary) ws.close(4000, 'bad request');
    else onMessage(ws, data.toString());
  });
  ws.on('close', () => {
    for (const name of ws.subs) {
      const ch = channels.get(name);
      if (ch) {
        ch.subs.delete(ws);
        if (ch.subs.size === 0) channels.delete(name);
      }
    }
  });
  ws.on('error', () => ws.terminate());
});
wss.on('listening', () => {
  process.stderr.write(`event=listening port=${wss.address().port}\n`);
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}

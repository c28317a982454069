// Unit checks of web/eddy.js in Node, without a browser or a server: the
// backoff function, and the client's protocol logic against a scripted fake
// WebSocket (connect, subscribe with history, recovery after a drop, a
// recovery the server refuses, duplicates skipped, request errors and
// timeouts, the SockJS fall-back decision, xhr-polling after a hung
// xhr-streaming, close codes).
//
//   node tests/browser/eddy_js_unit.mjs
//
// Run by tests/integration/test_browser_hub.py.
import assert from 'node:assert/strict';
import { test } from 'node:test';

globalThis.location = new URL('http://hub.test:7700/demo');

// A fake WebSocket the test plays the server for. Each instance registers
// itself; the test answers what the client sends.
const sockets = [];
class FakeWebSocket {
  static CONNECTING = 0;
  static OPEN = 1;
  static CLOSING = 2;
  static CLOSED = 3;

  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.waiters = [];
    sockets.push(this);
  }

  // ---- what the client calls ----
  send(text) {
    assert.equal(this.readyState, 1, 'send on an open socket only');
    const msg = JSON.parse(text);
    this.sent.push(msg);
    const w = this.waiters.shift();
    if (w) w(msg);
  }

  close(code = 1000, reason = '') {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    this.closedByClient = { code, reason };
    setTimeout(() => this.onclose?.({ code, reason }), 0);
  }

  // ---- what the test (the server) does ----
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }

  refuse() {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code: 1006, reason: '' });
  }

  push(obj) {
    this.onmessage?.({ data: JSON.stringify(obj) });
  }

  drop(code = 1006, reason = '') {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  // The next message the client sends (already sent ones first).
  next(timeout = 2000) {
    const queued = this.sent.slice(this.read ?? 0);
    if (queued.length) {
      this.read = (this.read ?? 0) + 1;
      return Promise.resolve(queued[0]);
    }
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no message from the client')), timeout);
      this.waiters.push((m) => {
        clearTimeout(t);
        this.read = (this.read ?? 0) + 1;
        resolve(m);
      });
    });
  }

  // Accepts the connection and answers the connect request.
  async handshake(client = 'c1') {
    this.accept();
    const m = await this.next();
    assert.equal(m.op, 'connect');
    this.push({ op: 'connected', id: m.id, client, user: '', ping_ms: 25000 });
    return m;
  }
}
globalThis.WebSocket = FakeWebSocket;

const { backoff, connect, EddyError } = await import('../../web/eddy.js');

async function nextSocket(count, timeout = 3000) {
  const end = Date.now() + timeout;
  while (sockets.length < count) {
    if (Date.now() > end) throw new Error(`no socket #${count}`);
    await new Promise((r) => setTimeout(r, 2));
  }
  return sockets[count - 1];
}

const fast = { backoffBase: 20, backoffCap: 60, requestTimeout: 500, sockjsAfter: 1000 };

test('backoff: full jitter below min(cap, base * 2^n), never above the cap', () => {
  const opts = { base: 500, cap: 20000 };
  for (let n = 0; n < 40; n++) {
    const ceiling = Math.min(20000, 500 * 2 ** n);
    assert.equal(backoff(n, { ...opts, random: () => 0 }), 0);
    const hi = backoff(n, { ...opts, random: () => 0.9999999999 });
    assert.ok(hi < ceiling && hi >= ceiling - 1, `attempt ${n}: ${hi} vs ${ceiling}`);
    for (let i = 0; i < 50; i++) {
      const d = backoff(n, opts);
      assert.ok(d >= 0 && d < ceiling && Number.isInteger(d), `attempt ${n}: ${d}`);
    }
  }
  // The first retry is a small random delay, and the delays spread out.
  const first = new Set(Array.from({ length: 200 }, () => backoff(0, opts)));
  assert.ok(first.size > 50, 'the first retry is spread over [0, base)');
  assert.ok(Math.max(...first) < 500);
  assert.equal(backoff(1e9, { ...opts, random: () => 0.5 }), 10000, 'huge attempts stay at the cap');
  assert.equal(backoff(-3, { ...opts, random: () => 0.5 }), 250, 'negative attempts count as the first');
});

test('URLs: same origin by default, ws:// given, SockJS base derived', async () => {
  const c = connect(undefined, { transports: ['websocket'] });
  assert.equal(c.wsUrl, 'ws://hub.test:7700/connect/websocket');
  assert.equal(c.sockjsUrl, 'http://hub.test:7700/sockjs');
  c.close();
  const d = connect('wss://other.test/rt/ws', { transports: ['websocket'] });
  assert.equal(d.wsUrl, 'wss://other.test/rt/ws');
  assert.equal(d.sockjsUrl, 'https://other.test/sockjs');
  d.close();
});

test('connect, subscribe with history, live messages, recovery after a drop', async () => {
  const base = sockets.length;
  const c = connect(undefined, fast);
  const states = [];
  c.on('state', (s) => states.push(s.state));
  const got = [];
  const recovered = [];
  const sub = c.subscribe('chat:room', {
    history: 2,
    onMessage: (data, meta) => got.push([data, meta.offset, meta.history]),
    onRecovered: (ctx) => recovered.push(ctx),
    onNotRecovered: () => assert.fail('should recover'),
  });
  const ws = await nextSocket(base + 1);
  assert.equal(ws.url, 'ws://hub.test:7700/connect/websocket');
  await ws.handshake('c1');
  const s1 = await ws.next();
  assert.deepEqual({ ...s1, id: 0 }, { op: 'subscribe', channel: 'chat:room', history: 2, id: 0 });
  // A push racing ahead of the reply waits for the history.
  ws.push({ op: 'message', channel: 'chat:room', offset: 6, data: 'six' });
  ws.push({
    op: 'subscribed', id: s1.id, channel: 'chat:room', epoch: 'e1', offset: 5,
    publications: [{ offset: 4, data: 'four' }, { offset: 5, data: 'five' }],
  });
  const ctx = await sub.ready;
  assert.equal(ctx.epoch, 'e1');
  assert.equal(c.clientId, 'c1');
  ws.push({ op: 'message', channel: 'chat:room', offset: 6, data: 'six again' }); // a duplicate
  ws.push({ op: 'message', channel: 'chat:room', offset: 7, data: 'seven', info: { client: 'c9', user: '' } });
  assert.deepEqual(got, [['four', 4, true], ['five', 5, true], ['six', 6, false], ['seven', 7, false]]);

  // Publish gets its reply; an in-flight request fails when the link drops.
  const p = c.publish('chat:room', { text: 'hi' });
  const pm = await ws.next();
  assert.deepEqual(pm.data, { text: 'hi' });
  ws.push({ op: 'published', id: pm.id, channel: 'chat:room', offset: 8, epoch: 'e1' });
  assert.deepEqual(await p, { offset: 8, epoch: 'e1' });
  const lost = c.presence('chat:room');
  await ws.next();
  ws.drop(4008, 'send queue full');
  await assert.rejects(lost, /disconnected/);
  assert.equal(c.state, 'disconnected');

  // A publish while disconnected waits for the next connection.
  const queued = c.publish('chat:room', 'later');
  const ws2 = await nextSocket(base + 2);
  await ws2.handshake('c2');
  const s2 = await ws2.next();
  assert.equal(s2.op, 'subscribe');
  assert.deepEqual(s2.recover, { epoch: 'e1', offset: 7 });
  assert.equal(s2.history, undefined);
  const q = await ws2.next();
  assert.equal(q.op, 'publish');
  assert.equal(q.data, 'later');
  ws2.push({ op: 'published', id: q.id, channel: 'chat:room', offset: 10, epoch: 'e1' });
  await queued;
  ws2.push({
    op: 'subscribed', id: s2.id, channel: 'chat:room', epoch: 'e1', offset: 9, recovered: true,
    publications: [{ offset: 8, data: 'eight' }, { offset: 9, data: 'nine' }],
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got.slice(4), [['eight', 8, false], ['nine', 9, false]]);
  assert.equal(recovered.length, 1);
  assert.equal(recovered[0].publications, 2);
  assert.deepEqual(states.slice(0, 5), ['connecting', 'connected', 'disconnected', 'connecting', 'connected']);
  c.close();
  assert.equal(c.state, 'closed');
});

test('a refused recovery is reported, never replayed in part', async () => {
  const base = sockets.length;
  const c = connect(undefined, fast);
  const got = [];
  const notRecovered = [];
  c.subscribe('news', {
    onMessage: (d) => got.push(d),
    onNotRecovered: (ctx) => notRecovered.push(ctx),
  });
  const ws = await nextSocket(base + 1);
  await ws.handshake();
  const s1 = await ws.next();
  assert.equal(s1.history, undefined);
  ws.push({ op: 'subscribed', id: s1.id, channel: 'news', epoch: 'a', offset: 3, publications: [] });
  ws.push({ op: 'message', channel: 'news', offset: 4, data: 4 });
  ws.drop();
  const ws2 = await nextSocket(base + 2);
  await ws2.handshake();
  const s2 = await ws2.next();
  assert.deepEqual(s2.recover, { epoch: 'a', offset: 4 });
  ws2.push({
    op: 'subscribed', id: s2.id, channel: 'news', epoch: 'b', offset: 50, recovered: false,
    reason: 'history lost', publications: [],
  });
  ws2.push({ op: 'message', channel: 'news', offset: 51, data: 51 });
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(got, [4, 51]);
  assert.equal(notRecovered.length, 1);
  assert.equal(notRecovered[0].reason, 'history lost');
  // The next drop recovers from the new epoch.
  ws2.drop();
  const ws3 = await nextSocket(base + 3);
  await ws3.handshake();
  assert.deepEqual((await ws3.next()).recover, { epoch: 'b', offset: 51 });
  c.close();
});

test('a channel without history: the hub refuses the recovery, onNotRecovered says why', async () => {
  const base = sockets.length;
  const c = connect(undefined, fast);
  const events = [];
  c.subscribe('live', {
    history: 5,
    onMessage: (d, meta) => events.push(`msg:${d}:${meta.offset}`),
    onNotRecovered: (ctx) => events.push(`not:${ctx.reason}`),
    onRecovered: () => events.push('recovered'),
  });
  const ws = await nextSocket(base + 1);
  await ws.handshake();
  const s1 = await ws.next();
  assert.equal(s1.history, 5);
  // As the hub answers for a namespace without history: the channel's
  // epoch, offset 0, and pushes without offsets.
  ws.push({ op: 'subscribed', id: s1.id, channel: 'live', epoch: 'f00d', offset: 0, publications: [] });
  ws.push({ op: 'message', channel: 'live', offset: 0, data: 'x' });
  ws.push({ op: 'message', channel: 'live', offset: 0, data: 'x' }); // no offsets: no de-duplication
  ws.drop();
  const ws2 = await nextSocket(base + 2);
  await ws2.handshake();
  const s2 = await ws2.next();
  assert.deepEqual(s2.recover, { epoch: 'f00d', offset: 0 });
  assert.equal(s2.history, undefined, 'history is for the first subscribe only');
  ws2.push({
    op: 'subscribed', id: s2.id, channel: 'live', epoch: 'f00d', offset: 0, recovered: false,
    reason: 'this channel keeps no history', publications: [],
  });
  ws2.push({ op: 'message', channel: 'live', offset: 0, data: 'y' });
  assert.deepEqual(events, ['msg:x:0', 'msg:x:0', 'not:this channel keeps no history', 'msg:y:0']);
  c.close();
});

test('request errors and timeouts; a refused subscribe goes to onError', async () => {
  const base = sockets.length;
  const c = connect(undefined, { ...fast, requestTimeout: 100 });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  const ws = await nextSocket(base + 1);
  await ws.handshake();
  const p = c.publish('eddy:metrics', 1);
  const m = await ws.next();
  ws.push({ op: 'error', id: m.id, code: 403, message: 'publish not allowed' });
  await assert.rejects(p, (e) => e instanceof EddyError && e.code === 403);
  const t = c.history('x', { since: 3, limit: 2 });
  const h = await ws.next();
  assert.equal(h.since, 3);
  assert.equal(h.limit, 2);
  await assert.rejects(t, /timeout/);
  const onError = [];
  const sub = c.subscribe('nope:x', { onError: (e) => onError.push(e) });
  const s = await ws.next();
  ws.push({ op: 'error', id: s.id, code: 404, message: 'unknown namespace' });
  await assert.rejects(sub.ready, /unknown namespace/);
  assert.equal(onError[0].code, 404);
  assert.ok(errors.some((e) => e.code === 404));
  assert.throws(() => c.subscribe(''), TypeError);
  c.close();
  await assert.rejects(c.ping(), /closed/);
});

test('WebSocket failing to open N times in a row switches to SockJS', async () => {
  const base = sockets.length;
  const fetched = [];
  globalThis.fetch = async (url, init) => {
    fetched.push([String(url), init.method]);
    throw new TypeError('network down (test)');
  };
  const c = connect(undefined, { ...fast, sockjsAfter: 2, connectTimeout: 300 });
  const states = [];
  c.on('state', (s) => states.push(`${s.state}:${s.transport}`));
  (await nextSocket(base + 1)).refuse();
  (await nextSocket(base + 2)).refuse();
  const end = Date.now() + 3000;
  while (fetched.length < 2 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  // xhr-streaming first, then xhr-polling, each with a fresh session.
  assert.match(fetched[0][0], /^http:\/\/hub\.test:7700\/sockjs\/\d{3}\/[a-z0-9]{16}\/xhr_streaming$/);
  assert.match(fetched[1][0], /\/sockjs\/\d{3}\/[a-z0-9]{16}\/xhr$/);
  assert.notEqual(fetched[0][0].split('/')[5], fetched[1][0].split('/')[5]);
  assert.equal(fetched[0][1], 'POST');
  assert.ok(states.includes('connecting:sockjs'), states.join(' '));
  assert.equal(sockets.length, base + 2, 'no more WebSocket attempts');
  c.close();
});

test('after a WebSocket worked, failures (a hub restart) never switch to SockJS', async (t) => {
  const base = sockets.length;
  const fetched = [];
  globalThis.fetch = async (url) => {
    fetched.push(String(url));
    throw new TypeError('network down (test)');
  };
  const c = connect(undefined, { ...fast, sockjsAfter: 2, connectTimeout: 300 });
  t.after(() => c.close()); // also when an assertion fails: no client left running
  await (await nextSocket(base + 1)).handshake('c1');
  assert.equal(c.state, 'connected');
  sockets[base].drop(1006);
  // The hub is away for longer than sockjsAfter attempts.
  for (let n = 2; n <= 5; n++) (await nextSocket(base + n)).refuse();
  const ws = await nextSocket(base + 6);
  assert.equal(ws.url, 'ws://hub.test:7700/connect/websocket');
  await ws.handshake('c2');
  assert.equal(c.state, 'connected');
  assert.equal(c.transport, 'websocket');
  assert.deepEqual(fetched, [], 'SockJS never tried');
  c.close();
});

// A scripted SockJS server answering xhr-polling: a new session's first
// poll gets "o"; later polls wait for frames the test queues. xhr-streaming
// requests hang (a proxy buffering them) until the client aborts them.
function pollingServer() {
  const srv = { fetched: [], sends: [], sessions: new Map(), waiting: null };
  srv.fetch = (url, init) => {
    url = String(url);
    srv.fetched.push(url);
    const m = /\/sockjs\/\d{3}\/([a-z0-9]{16})\/(xhr_streaming|xhr_send|xhr)$/.exec(url);
    assert.ok(m, url);
    const [, session, kind] = m;
    const aborted = () =>
      new Promise((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    if (kind === 'xhr_streaming') return aborted();
    if (kind === 'xhr_send') {
      for (const text of JSON.parse(init.body)) srv.sends.push(JSON.parse(text));
      return Promise.resolve(new Response(null, { status: 204 }));
    }
    if (!srv.sessions.has(session)) {
      srv.sessions.set(session, []);
      srv.session = session;
      return Promise.resolve(new Response('o\n', { status: 200 }));
    }
    const queue = srv.sessions.get(session);
    const answer = () => new Response(`${queue.splice(0).join('\n')}\n`, { status: 200 });
    if (queue.length) return Promise.resolve(answer());
    return Promise.race([
      aborted(),
      new Promise((resolve) => {
        srv.waiting = () => resolve(answer());
      }),
    ]);
  };
  srv.push = (line) => {
    srv.sessions.get(srv.session).push(line);
    const w = srv.waiting;
    srv.waiting = null;
    w?.();
  };
  srv.nextSend = async (op, timeout = 3000) => {
    const end = Date.now() + timeout;
    for (;;) {
      const i = srv.sends.findIndex((s) => s.op === op);
      if (i >= 0) return srv.sends.splice(i, 1)[0];
      if (Date.now() > end) throw new Error(`no ${op} from the client`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  return srv;
}

test('xhr-polling takes over from an xhr-streaming that hangs; reconnects skip streaming', async (t) => {
  const srv = pollingServer();
  globalThis.fetch = srv.fetch;
  const states = [];
  const c = connect('http://hub.test:7700/', { ...fast, transports: ['sockjs'], connectTimeout: 200 });
  t.after(() => c.close());
  c.on('state', (s) => states.push(`${s.state}:${s.transport}`));
  const hello = await srv.nextSend('connect');
  assert.match(srv.fetched[0], /\/xhr_streaming$/);
  assert.match(srv.fetched[1], /\/xhr$/);
  // The reply comes late in the polling session's own connectTimeout: the
  // client's wait started when polling opened, not when streaming did.
  await new Promise((r) => setTimeout(r, 120));
  srv.push(`a${JSON.stringify([JSON.stringify({ op: 'connected', id: hello.id, client: 'p1', ping_ms: 25000 })])}`);
  const end = Date.now() + 2000;
  while (c.state !== 'connected' && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.equal(c.state, 'connected', states.join(' '));
  assert.equal(c.transport, 'xhr-polling');
  assert.ok(!states.some((s) => s.startsWith('disconnected')), states.join(' '));
  // The server closes the session; the reconnect goes straight to polling.
  const before = srv.fetched.length;
  srv.push('c[3000,"go away"]');
  const hello2 = await srv.nextSend('connect');
  assert.ok(!srv.fetched.slice(before).some((u) => u.endsWith('/xhr_streaming')), srv.fetched.slice(before).join(' '));
  srv.push(`a${JSON.stringify([JSON.stringify({ op: 'connected', id: hello2.id, client: 'p2', ping_ms: 25000 })])}`);
  const end2 = Date.now() + 2000;
  while (c.clientId !== 'p2' && Date.now() < end2) await new Promise((r) => setTimeout(r, 5));
  assert.equal(c.state, 'connected');
  assert.equal(c.clientId, 'p2');
  c.close();
});

test('a SockJS session: prelude, open, message and close frames, xhr_send batches', async () => {
  const sends = [];
  let stream;
  globalThis.fetch = async (url, init) => {
    if (String(url).endsWith('/xhr_send')) {
      sends.push(JSON.parse(init.body));
      return new Response(null, { status: 204 });
    }
    const body = new ReadableStream({
      start(ctl) {
        stream = ctl;
      },
    });
    return new Response(body, { status: 200 });
  };
  const c = connect('http://hub.test:7700/', { ...fast, transports: ['sockjs'] });
  const got = [];
  const closes = [];
  c.on('state', (s) => s.state === 'disconnected' && closes.push(s));
  c.subscribe('room', { onMessage: (d) => got.push(d) });
  const end = Date.now() + 2000;
  while (!stream && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  const enc = new TextEncoder();
  const frame = (text) => stream.enqueue(enc.encode(text));
  frame(`${'h'.repeat(2048)}\n`);
  frame('o\nh\n');
  const wait = async (n) => {
    const until = Date.now() + 2000;
    while (sends.flat().length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 5));
  };
  await wait(1);
  const connectMsg = JSON.parse(sends.flat()[0]);
  assert.equal(connectMsg.op, 'connect');
  // Frames may arrive split anywhere; a message array holds JSON texts.
  const reply = JSON.stringify({ op: 'connected', id: connectMsg.id, client: 's1', ping_ms: 25000 });
  const whole = `a${JSON.stringify([reply])}\n`;
  frame(whole.slice(0, 7));
  frame(whole.slice(7));
  await wait(2);
  const sub = JSON.parse(sends.flat()[1]);
  assert.equal(sub.op, 'subscribe');
  assert.equal(c.transport, 'xhr-streaming');
  const subscribed = JSON.stringify({ op: 'subscribed', id: sub.id, channel: 'room', epoch: 'e', offset: 0, publications: [] });
  const m1 = JSON.stringify({ op: 'message', channel: 'room', offset: 1, data: 'a\nb' });
  const m2 = JSON.stringify({ op: 'message', channel: 'room', offset: 2, data: 'c' });
  frame(`a${JSON.stringify([subscribed, m1, m2])}\n`);
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got, ['a\nb', 'c']);
  // The same frame split at every byte position, inside multi-byte UTF-8
  // characters too: each split frame carries one message (offsets 100..,
  // all three digits, so every frame has the same length).
  const bytesOf = (n) =>
    enc.encode(`a${JSON.stringify([JSON.stringify({ op: 'message', channel: 'room', offset: n, data: `é€${n}` })])}\n`);
  const len = bytesOf(100).length;
  const want = [];
  for (let k = 1; k < len; k++) {
    const n = 100 + k;
    const bytes = bytesOf(n);
    assert.equal(bytes.length, len);
    stream.enqueue(bytes.slice(0, k));
    await new Promise((r) => setTimeout(r, 0)); // let the reader see the first part alone
    stream.enqueue(bytes.slice(k));
    want.push(`é€${n}`);
  }
  await new Promise((r) => setTimeout(r, 20));
  assert.deepEqual(got.slice(2), want);
  frame('c[4004,"server stopping"]\n');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(closes[0].code, 4004);
  assert.equal(closes[0].reason, 'server stopping');
  c.close();
});

test('4001 without a token function stops reconnecting', async () => {
  const base = sockets.length;
  const c = connect(undefined, { ...fast, token: 'bad' });
  const errors = [];
  c.on('error', (e) => errors.push(e));
  const ws = await nextSocket(base + 1);
  ws.accept();
  const m = await ws.next();
  assert.equal(m.token, 'bad');
  ws.drop(4001, 'bad token');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(c.state, 'closed');
  assert.equal(errors[0].code, 401);
  assert.equal(sockets.length, base + 1);
});

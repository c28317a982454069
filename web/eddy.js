// eddy.js — the browser client of eddy's realtime hub (an ES module served
// by eddyd at /eddy.js; no dependencies, no build step).
//
//   import { connect } from '/eddy.js';
//   const client = connect();                       // same origin
//   client.subscribe('chat:lobby', { history: 20, onMessage: (data) => show(data) });
//   await client.publish('chat:lobby', { text: 'hi' });
//
// It speaks the JSON protocol of docs/protocol/realtime.md over a WebSocket,
// or over its own small SockJS client (xhr-streaming, then xhr-polling)
// when WebSocket is blocked. It reconnects with exponential backoff and
// full jitter, resubscribes every channel asking to recover what was missed,
// and tells the application plainly when recovery was not possible.
// docs/web.md documents the API.

const DEFAULTS = Object.freeze({
  token: null, // string, or a function returning one (or a Promise of one)
  info: undefined, // sent in the connect message; others see it in presence
  transports: ['websocket', 'sockjs'], // in order of preference
  websocketPath: '/connect/websocket',
  sockjsPath: '/sockjs',
  sockjsUrl: null, // overrides the SockJS base derived from the URL
  sockjsTransports: ['xhr-streaming', 'xhr-polling'],
  sockjsAfter: 2, // WebSocket attempts failing in a row before SockJS
  requestTimeout: 10000, // ms for any request's reply
  connectTimeout: 10000, // ms from opening a transport to "connected"
  pingTimeout: 10000, // ms to wait for a pong before dropping the transport
  backoffBase: 500, // ms: the first retry comes within [0, base)
  backoffCap: 20000, // ms: no retry waits longer
  stableAfter: 10000, // ms connected before the backoff starts over
  maxQueued: 1000, // requests waiting for a connection
});

const CLOSE_UNAUTHORIZED = 4001;
const MAX_FRAME_CHARS = 16 << 20; // a SockJS frame bigger than this is an error

/** An error reply from the hub (code as in HTTP), or a local failure
 *  (code 0: "timeout", "disconnected", "closed"). */
export class EddyError extends Error {
  constructor(message, code = 0) {
    super(message);
    this.name = 'EddyError';
    this.code = code;
  }
}

/**
 * The delay before reconnect attempt number `attempt` (0 for the first),
 * "full jitter": uniform in [0, min(cap, base * 2^attempt)). The first
 * retry waits a small random time (so a server restart is not met by every
 * client at once) and no delay ever exceeds the cap.
 */
export function backoff(attempt, { base = 500, cap = 20000, random = Math.random } = {}) {
  const n = Math.max(0, Math.min(Math.floor(attempt) || 0, 30));
  const ceiling = Math.min(cap, base * 2 ** n);
  return Math.min(Math.floor(random() * ceiling), Math.max(0, ceiling - 1));
}

function randomString(length, alphabet) {
  const bytes = new Uint8Array(length);
  crypto.getRandomValues(bytes);
  let s = '';
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

// ---- Transports ------------------------------------------------------------
// A transport calls, once each at most: h.open(), then h.message(text) any
// number of times, and h.close(code, reason) exactly once when it ends
// (unless close() was called first: then nothing more).

class WebSocketTransport {
  constructor(url, h) {
    this.name = 'websocket';
    this.h = h;
    this.done = false;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      this.ws = null;
      queueMicrotask(() => this.end(1006, String(e.message || e)));
      return;
    }
    this.ws = ws;
    ws.onopen = () => !this.done && h.open();
    ws.onmessage = (e) => !this.done && typeof e.data === 'string' && h.message(e.data);
    ws.onerror = () => {}; // onclose follows with the details browsers allow
    ws.onclose = (e) => this.end(e.code, e.reason);
  }

  end(code, reason) {
    if (this.done) return;
    this.done = true;
    this.h.close(code, reason);
  }

  send(text) {
    if (!this.done && this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(text);
  }

  close() {
    this.done = true;
    if (this.ws && this.ws.readyState < WebSocket.CLOSING) this.ws.close(1000, 'client closed');
  }
}

// Our own minimal SockJS client: one session at a time, receiving through
// xhr-streaming (a fetch whose body we read as it arrives) or xhr-polling,
// sending through xhr_send. A kind that fails before the session opened
// hands over to the next one with a fresh session.
class SockJSTransport {
  constructor(base, kinds, openTimeout, h) {
    this.base = base.replace(/\/+$/, '');
    this.kinds = kinds.filter((k) => k === 'xhr-streaming' || k === 'xhr-polling');
    this.openTimeout = openTimeout;
    this.h = h;
    this.done = false;
    this.opened = false;
    this.outbox = [];
    this.sending = false;
    this.name = 'sockjs';
    this.failed = []; // kinds that did not open before this one did
    this.next(0);
  }

  next(index) {
    if (this.done) return;
    if (index >= this.kinds.length) {
      this.end(1006, 'no SockJS transport could open');
      return;
    }
    const kind = this.kinds[index];
    this.name = kind;
    const server = String(Math.floor(Math.random() * 1000)).padStart(3, '0');
    const session = randomString(16, 'abcdefghijklmnopqrstuvwxyz0123456789');
    this.session = `${this.base}/${server}/${session}`;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    // A proxy that buffers responses shows as a stream that never opens.
    const timer = setTimeout(() => this.abort.abort(), this.openTimeout);
    this.clearOpenTimer = () => clearTimeout(timer);
    const run = kind === 'xhr-streaming' ? this.stream(signal) : this.poll(signal);
    run.then(
      () => clearTimeout(timer),
      (e) => {
        clearTimeout(timer);
        if (this.done) return;
        if (!this.opened) {
          this.failed.push(kind);
          this.next(index + 1);
        }
        else this.end(1006, `connection lost (${e && e.message ? e.message : e})`);
      },
    );
  }

  async stream(signal) {
    for (;;) {
      const res = await fetch(`${this.session}/xhr_streaming`, {
        method: 'POST',
        cache: 'no-store',
        signal,
      });
      if (!res.ok || !res.body) throw new Error(`xhr_streaming answered ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (this.done) {
          reader.cancel().catch(() => {});
          return;
        }
        if (done) break;
        buf += value;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (this.frame(line)) {
            reader.cancel().catch(() => {});
            return;
          }
        }
        if (buf.length > MAX_FRAME_CHARS) throw new Error('SockJS frame too large');
      }
      // The server ends a streaming response after enough bytes; the
      // session lives on and we read it through a new request.
      if (!this.opened) throw new Error('xhr_streaming ended before the session opened');
    }
  }

  async poll(signal) {
    for (;;) {
      const res = await fetch(`${this.session}/xhr`, { method: 'POST', cache: 'no-store', signal });
      if (!res.ok) throw new Error(`xhr answered ${res.status}`);
      const text = await res.text();
      if (this.done) return;
      for (const line of text.split('\n')) {
        if (line && this.frame(line)) return;
      }
    }
  }

  // Handles one SockJS frame; true when the session is over.
  frame(line) {
    if (this.done) return true;
    const type = line[0];
    if (type === 'h' || line === '') return false; // heartbeat, or the 2 KiB prelude
    if (type === 'o') {
      if (this.opened) {
        // A second open frame means the server started a new session: ours is gone.
        this.end(1006, 'SockJS session lost');
        return true;
      }
      this.opened = true;
      this.clearOpenTimer();
      this.h.open();
      this.flush();
      return false;
    }
    if (type === 'a') {
      const messages = JSON.parse(line.slice(1));
      if (!Array.isArray(messages)) throw new Error('bad SockJS message frame');
      for (const m of messages) {
        if (this.done) return true;
        if (typeof m === 'string') this.h.message(m);
      }
      return this.done;
    }
    if (type === 'c') {
      let code = 1006;
      let reason = 'closed';
      try {
        const c = JSON.parse(line.slice(1));
        if (Array.isArray(c)) [code, reason] = [Number(c[0]) || 1006, String(c[1] ?? '')];
      } catch {
        /* keep the defaults */
      }
      this.end(code, reason);
      return true;
    }
    throw new Error(`unknown SockJS frame "${line.slice(0, 16)}"`);
  }

  send(text) {
    if (this.done) return;
    this.outbox.push(text);
    this.flush();
  }

  // One xhr_send in flight at a time keeps messages in order; whatever
  // queued meanwhile goes in the next request's array.
  async flush() {
    if (this.sending || !this.opened || this.done || this.outbox.length === 0) return;
    this.sending = true;
    const batch = this.outbox.splice(0);
    try {
      const res = await fetch(`${this.session}/xhr_send`, {
        method: 'POST',
        cache: 'no-store',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        body: JSON.stringify(batch),
        signal: this.abort.signal,
      });
      if (!res.ok) throw new Error(`xhr_send answered ${res.status}`);
    } catch (e) {
      this.sending = false;
      this.end(1006, `send failed (${e.message || e})`);
      return;
    }
    this.sending = false;
    this.flush();
  }

  end(code, reason) {
    if (this.done) return;
    this.done = true;
    this.clearOpenTimer?.();
    this.abort?.abort();
    this.h.close(code, reason);
  }

  close() {
    this.done = true;
    this.clearOpenTimer?.();
    this.abort?.abort();
  }
}

// ---- The client -------------------------------------------------------------

function resolveUrls(url, opts) {
  const loc = globalThis.location;
  const base = url ? new URL(url, loc?.href) : new URL(loc.href);
  let wsUrl;
  let httpOrigin;
  if (base.protocol === 'ws:' || base.protocol === 'wss:') {
    wsUrl = base.href;
    httpOrigin = `${base.protocol === 'wss:' ? 'https:' : 'http:'}//${base.host}`;
  } else {
    httpOrigin = base.origin;
    const u = new URL(opts.websocketPath, base);
    u.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    wsUrl = u.href;
  }
  const sockjsUrl = opts.sockjsUrl
    ? new URL(opts.sockjsUrl, loc?.href).href
    : new URL(opts.sockjsPath, httpOrigin).href;
  return { wsUrl, sockjsUrl };
}

/**
 * Connects to the hub and returns the client (already connecting).
 * url: the WebSocket endpoint (ws:// or wss://) or the server's http(s)
 * origin; default: this page's origin. See DEFAULTS for options.
 */
export function connect(url, options = {}) {
  return new Client(url, options);
}

class Subscription {
  constructor(client, channel, handlers) {
    this.client = client;
    this.channel = channel;
    this.handlers = handlers;
    this.history = Number(handlers.history) > 0 ? Math.floor(handlers.history) : 0;
    this.epoch = '';
    this.offset = 0;
    this.state = 'subscribing'; // subscribing | subscribed | gone
    this.buffered = []; // pushes that arrived before the subscribed reply
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // an unobserved failure also goes to onError
  }

  publish(data) {
    return this.client.publish(this.channel, data);
  }

  presence() {
    return this.client.presence(this.channel);
  }

  history(opts) {
    return this.client.history(this.channel, opts);
  }

  unsubscribe() {
    return this.client.unsubscribe(this.channel);
  }
}

class Client {
  constructor(url, options) {
    this.opts = { ...DEFAULTS, ...options };
    const { wsUrl, sockjsUrl } = resolveUrls(url, this.opts);
    this.wsUrl = wsUrl;
    this.sockjsUrl = sockjsUrl;
    this.state = 'connecting';
    this.transport = null; // the name of the transport in use
    this.clientId = null;
    this.user = null;
    this.pingMs = 25000;
    this.listeners = { state: new Set(), error: new Set(), message: new Set() };
    this.subs = new Map();
    this.pending = new Map(); // id -> request waiting for its reply
    this.outbox = []; // requests waiting for a connection
    this.nextId = 1;
    this.attempt = 0;
    this.wsFailures = 0;
    this.wsWorked = false; // a WebSocket reached connected on this client
    this.sockjsSkip = new Set(); // SockJS kinds that failed where a later one worked
    const t = this.opts.transports;
    this.useSockjs = t[0] === 'sockjs' || !t.includes('websocket') || typeof WebSocket === 'undefined';
    this.t = null;
    this.timers = {};
    this.lastReceived = 0;
    this.onOnline = () => {
      if (this.state === 'disconnected') this.reconnectNow();
    };
    globalThis.addEventListener?.('online', this.onOnline);
    queueMicrotask(() => this.open());
  }

  // ---- events ----
  on(type, fn) {
    const set = this.listeners[type];
    if (!set) throw new TypeError(`unknown event "${type}"`);
    set.add(fn);
    return () => set.delete(fn);
  }

  off(type, fn) {
    this.listeners[type]?.delete(fn);
  }

  emit(type, value) {
    for (const fn of [...this.listeners[type]]) {
      try {
        fn(value);
      } catch (e) {
        // One listener's bug must not stop the client; surface it anyway.
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  setState(state, extra = {}) {
    this.state = state;
    this.emit('state', { state, transport: this.transport, ...extra });
  }

  fail(error) {
    this.emit('error', error);
  }

  // ---- connection ----
  async open() {
    if (this.state === 'closed') return;
    this.clearTimer('retry');
    const kinds = this.opts.transports;
    const ws = !this.useSockjs && kinds.includes('websocket');
    if (!ws && !kinds.includes('sockjs')) {
      this.fail(new EddyError('no usable transport'));
      this.close();
      return;
    }
    this.connected = false;
    this.transport = ws ? 'websocket' : 'sockjs';
    this.setState('connecting');
    let token = this.opts.token;
    if (typeof token === 'function') {
      try {
        token = await token();
      } catch (e) {
        this.fail(new EddyError(`token: ${e.message || e}`));
        this.scheduleReconnect();
        return;
      }
      if (this.state === 'closed') return;
    }
    const h = {};
    let t;
    if (ws) {
      t = new WebSocketTransport(this.wsUrl, h);
    } else {
      const all = this.opts.sockjsTransports;
      const left = all.filter((k) => !this.sockjsSkip.has(k));
      t = new SockJSTransport(this.sockjsUrl, left.length ? left : all, this.opts.connectTimeout, h);
    }
    this.t = t;
    this.wasWebSocket = ws;
    h.open = () => this.onTransportOpen(t, token);
    h.message = (text) => this.onTransportMessage(t, text);
    h.close = (code, reason) => this.onTransportClose(t, code, reason);
    // SockJS times each of its kinds itself until one opens (then
    // onTransportOpen arms this timer): one connectTimeout here would
    // cut xhr-polling off the moment a hung xhr-streaming gave up.
    if (ws) this.armConnectTimer(t);
  }

  armConnectTimer(t) {
    this.setTimer('connect', this.opts.connectTimeout, () => {
      if (this.t === t && !this.connected) this.drop(t, 4002, 'connect timeout');
    });
  }

  onTransportOpen(t, token) {
    if (t !== this.t) return;
    this.transport = t.name;
    if (!this.wasWebSocket) {
      // A kind that failed where a later one opened (a proxy buffering
      // xhr-streaming) would fail again: reconnects go straight on.
      for (const k of t.failed) this.sockjsSkip.add(k);
      this.armConnectTimer(t);
    }
    const msg = { op: 'connect' };
    if (token) msg.token = token;
    if (this.opts.info !== undefined) msg.info = this.opts.info;
    this.call(msg, {
      now: true,
      done: (e, reply) => {
        if (t !== this.t) return;
        if (!e) {
          this.onConnected(t, reply);
          return;
        }
        if (e.code) this.fail(e);
        this.drop(t, e.code === 401 ? CLOSE_UNAUTHORIZED : 4000, e.message);
      },
    });
  }

  onConnected(t, reply) {
    if (t !== this.t) return;
    this.clearTimer('connect');
    this.connected = true;
    if (this.wasWebSocket) {
      this.wsFailures = 0;
      this.wsWorked = true;
    }
    this.clientId = reply.client ?? null;
    this.user = reply.user ?? '';
    if (Number(reply.ping_ms) > 0) this.pingMs = Number(reply.ping_ms);
    this.transport = t.name;
    this.setTimer('stable', this.opts.stableAfter, () => {
      this.attempt = 0;
    });
    this.lastReceived = Date.now();
    this.scheduleIdleCheck(this.pingMs);
    this.setState('connected', { client: this.clientId });
    for (const sub of this.subs.values()) this.sendSubscribe(sub);
    const queued = this.outbox.splice(0);
    for (const req of queued) this.sendRequest(req);
  }

  onTransportMessage(t, text) {
    if (t !== this.t) return;
    this.lastReceived = Date.now();
    let msg;
    try {
      msg = JSON.parse(text);
    } catch {
      this.drop(t, 4000, 'the server sent invalid JSON');
      return;
    }
    if (!msg || typeof msg !== 'object') return;
    this.emit('message', msg);
    if (msg.id !== undefined && msg.id !== null && this.pending.has(msg.id)) {
      const req = this.pending.get(msg.id);
      this.pending.delete(msg.id);
      clearTimeout(req.timer);
      // Replies are handled at once, in the order they came: a push right
      // behind a reply (one SockJS frame may carry both) sees its effect.
      if (msg.op === 'error') req.done(new EddyError(msg.message || 'error', msg.code || 0));
      else req.done(null, msg);
      return;
    }
    switch (msg.op) {
      case 'message': {
        const sub = this.subs.get(msg.channel);
        if (!sub) return;
        if (sub.state === 'subscribing') sub.buffered.push(msg);
        else this.deliver(sub, msg, false);
        return;
      }
      case 'join':
      case 'leave': {
        const sub = this.subs.get(msg.channel);
        const fn = sub && (msg.op === 'join' ? sub.handlers.onJoin : sub.handlers.onLeave);
        if (fn) this.callApp(fn, { client: msg.client, user: msg.user, info: msg.info }, sub);
        return;
      }
      case 'disconnect':
        this.serverReason = { code: msg.code, reason: msg.reason };
        return;
      case 'error':
        this.fail(new EddyError(msg.message || 'error', msg.code || 0));
        return;
      default:
        return;
    }
  }

  onTransportClose(t, code, reason) {
    if (t !== this.t) return;
    this.t = null;
    const wasConnected = this.connected;
    this.connected = false;
    const told = this.serverReason;
    this.serverReason = null;
    if (told && (code === 1005 || code === 1006 || !code)) ({ code, reason } = told);
    this.clearTimer('connect');
    this.clearTimer('stable');
    this.clearTimer('idle');
    for (const [id, req] of this.pending) {
      this.pending.delete(id);
      clearTimeout(req.timer);
      req.done(new EddyError('disconnected before the reply'));
    }
    for (const sub of this.subs.values()) {
      if (sub.state !== 'gone') {
        sub.state = 'subscribing';
        sub.buffered = [];
      }
    }
    if (this.state === 'closed') return;
    // Once WebSocket worked here, failures are the server or the network
    // being away (a restart), not WebSocket being blocked.
    if (!wasConnected && this.wasWebSocket && !this.wsWorked) {
      this.wsFailures += 1;
      if (this.wsFailures >= this.opts.sockjsAfter && this.opts.transports.includes('sockjs')) {
        this.useSockjs = true;
        this.attempt = 0; // the fall-back deserves a quick first try
      }
    }
    if (code === CLOSE_UNAUTHORIZED && typeof this.opts.token !== 'function') {
      this.fail(new EddyError(`unauthorized: ${reason || 'bad token'}`, 401));
      this.close();
      return;
    }
    this.scheduleReconnect({ code, reason });
  }

  scheduleReconnect(extra = {}) {
    if (this.state === 'closed') return;
    const delay = backoff(this.attempt, {
      base: this.opts.backoffBase,
      cap: this.opts.backoffCap,
    });
    this.attempt += 1;
    this.setState('disconnected', { ...extra, delay });
    this.setTimer('retry', delay, () => this.open());
  }

  reconnectNow() {
    if (this.state !== 'disconnected') return;
    this.clearTimer('retry');
    this.open();
  }

  // Gives up on a transport as if it had closed (the server stopped
  // answering, or broke the protocol).
  drop(t, code, reason) {
    if (t !== this.t) return;
    t.close();
    this.onTransportClose(t, code, reason);
  }

  close() {
    if (this.state === 'closed') return;
    const t = this.t;
    this.t = null;
    this.connected = false;
    for (const name of Object.keys(this.timers)) this.clearTimer(name);
    globalThis.removeEventListener?.('online', this.onOnline);
    if (t) t.close();
    const closed = new EddyError('client closed');
    for (const [id, req] of this.pending) {
      this.pending.delete(id);
      clearTimeout(req.timer);
      req.done(closed);
    }
    for (const req of this.outbox.splice(0)) {
      clearTimeout(req.timer);
      req.done(closed);
    }
    this.setState('closed');
  }

  setTimer(name, ms, fn) {
    this.clearTimer(name);
    this.timers[name] = setTimeout(() => {
      delete this.timers[name];
      fn();
    }, ms);
  }

  clearTimer(name) {
    if (this.timers[name] !== undefined) {
      clearTimeout(this.timers[name]);
      delete this.timers[name];
    }
  }

  // An application-level ping when nothing came for ping_ms: it keeps
  // proxies from timing the connection out and finds dead ones.
  scheduleIdleCheck(ms) {
    this.setTimer('idle', ms, () => {
      const t = this.t;
      if (!t || !this.connected) return;
      const quiet = Date.now() - this.lastReceived;
      if (quiet < this.pingMs) {
        this.scheduleIdleCheck(this.pingMs - quiet);
        return;
      }
      this.request({ op: 'ping' }, { timeout: this.opts.pingTimeout }).then(
        () => this.t === t && this.scheduleIdleCheck(this.pingMs),
        (e) => e.message === 'timeout' && this.drop(t, 4000, 'no pong'),
      );
    });
  }

  // ---- requests ----
  request(msg, opts = {}) {
    return new Promise((resolve, reject) => {
      this.call(msg, { ...opts, done: (e, reply) => (e ? reject(e) : resolve(reply)) });
    });
  }

  // Sends a request (now, or once connected unless `now`); done(error,
  // reply) is called exactly once: with the reply, an error reply, or a
  // local failure (timeout, disconnected, closed) — never synchronously.
  call(msg, { now = false, timeout = this.opts.requestTimeout, done }) {
    const fail = (text) => setTimeout(() => done(new EddyError(text)), 0);
    if (this.state === 'closed') {
      fail('client closed');
      return;
    }
    const req = { msg: { ...msg, id: this.nextId++ }, done, timer: 0 };
    req.timer = setTimeout(() => {
      this.pending.delete(req.msg.id);
      const i = this.outbox.indexOf(req);
      if (i >= 0) this.outbox.splice(i, 1);
      done(new EddyError('timeout'));
    }, timeout);
    if (now || this.connected) {
      this.sendRequest(req);
    } else if (this.outbox.length >= this.opts.maxQueued) {
      clearTimeout(req.timer);
      fail('too many requests waiting for a connection');
    } else {
      this.outbox.push(req);
    }
  }

  sendRequest(req) {
    const t = this.t;
    if (!t) {
      this.outbox.push(req);
      return;
    }
    this.pending.set(req.msg.id, req);
    t.send(JSON.stringify(req.msg));
  }

  publish(channel, data) {
    return this.request({ op: 'publish', channel, data }).then((r) => ({
      offset: r.offset,
      epoch: r.epoch,
    }));
  }

  presence(channel) {
    return this.request({ op: 'presence', channel }).then((r) => r.clients || []);
  }

  history(channel, { since = 0, limit = 100 } = {}) {
    return this.request({ op: 'history', channel, since, limit }).then((r) => ({
      epoch: r.epoch,
      offset: r.offset,
      publications: r.publications || [],
    }));
  }

  ping() {
    return this.request({ op: 'ping' }).then(() => undefined);
  }

  // ---- subscriptions ----
  /**
   * handlers: onMessage(data, meta), onJoin(who), onLeave(who),
   * onSubscribed(ctx), onRecovered(ctx), onNotRecovered(ctx), onError(err),
   * history: N (publications to get at the first subscribe).
   */
  subscribe(channel, handlers = {}) {
    if (typeof channel !== 'string' || channel === '') throw new TypeError('channel must be a name');
    if (this.subs.has(channel)) throw new Error(`already subscribed to ${channel}`);
    if (this.state === 'closed') throw new Error('client closed');
    const sub = new Subscription(this, channel, handlers);
    this.subs.set(channel, sub);
    if (this.connected) this.sendSubscribe(sub);
    return sub;
  }

  unsubscribe(channel) {
    const sub = this.subs.get(channel);
    if (!sub) return Promise.resolve();
    sub.state = 'gone';
    this.subs.delete(channel);
    if (!this.connected) return Promise.resolve();
    return this.request({ op: 'unsubscribe', channel }).then(
      () => undefined,
      () => undefined, // a lost connection unsubscribes too
    );
  }

  sendSubscribe(sub) {
    const t = this.t;
    const msg = { op: 'subscribe', channel: sub.channel };
    // After the first subscribe, ask for what was missed; a channel
    // without an epoch keeps no history and cannot be recovered.
    const again = sub.subscribedOnce;
    const recovering = again && Boolean(sub.epoch);
    if (recovering) msg.recover = { epoch: sub.epoch, offset: sub.offset };
    else if (sub.history && !again) msg.history = sub.history;
    sub.state = 'subscribing';
    sub.buffered = [];
    this.call(msg, {
      now: true,
      done: (e, reply) => {
        if (this.subs.get(sub.channel) !== sub) return;
        if (!e) {
          if (this.t === t) this.onSubscribed(sub, reply, again, recovering);
          return;
        }
        if (e.message === 'timeout' && this.t === t) {
          this.drop(t, 4000, 'no reply to subscribe'); // resubscribes on reconnect
          return;
        }
        if (!e.code) return; // disconnected: the next connection resubscribes
        this.subs.delete(sub.channel);
        sub.state = 'gone';
        sub.rejectReady(e);
        if (sub.handlers.onError) this.callApp(sub.handlers.onError, e, sub);
        this.fail(e);
      },
    });
  }

  onSubscribed(sub, reply, again, recovering) {
    const pubs = Array.isArray(reply.publications) ? reply.publications : [];
    const recovered = recovering && reply.recovered === true;
    sub.subscribedOnce = true;
    if (again && !recovered) {
      // Never a partial replay: start over from the server's present and
      // let the application reload its state.
      sub.epoch = reply.epoch || '';
      sub.offset = Number(reply.offset) || 0;
    } else {
      if (reply.epoch !== sub.epoch) sub.offset = 0;
      sub.epoch = reply.epoch || '';
      for (const p of pubs) this.deliver(sub, { ...p, channel: sub.channel }, !recovering);
      sub.offset = Math.max(sub.offset, Number(reply.offset) || 0);
    }
    sub.state = 'subscribed';
    const buffered = sub.buffered;
    sub.buffered = [];
    for (const m of buffered) this.deliver(sub, m, false);
    const ctx = {
      channel: sub.channel,
      epoch: sub.epoch,
      offset: sub.offset,
      recovered,
      publications: pubs.length,
    };
    if (again) {
      if (recovered) {
        if (sub.handlers.onRecovered) this.callApp(sub.handlers.onRecovered, ctx, sub);
      } else {
        ctx.reason = recovering ? reply.reason || 'not recovered' : 'the channel keeps no history';
        if (sub.handlers.onNotRecovered) this.callApp(sub.handlers.onNotRecovered, ctx, sub);
      }
    }
    if (sub.handlers.onSubscribed) this.callApp(sub.handlers.onSubscribed, ctx, sub);
    sub.resolveReady(ctx);
  }

  deliver(sub, msg, fromHistory) {
    const offset = Number(msg.offset) || 0;
    if (offset > 0) {
      if (offset <= sub.offset) return; // already seen (a replay overlapping a push)
      sub.offset = offset;
    }
    if (sub.handlers.onMessage) {
      this.callApp(
        sub.handlers.onMessage,
        msg.data,
        sub,
        { channel: sub.channel, offset, info: msg.info || null, history: fromHistory },
      );
    }
  }

  callApp(fn, value, sub, extra) {
    try {
      if (extra === undefined) fn.call(sub, value);
      else fn.call(sub, value, extra);
    } catch (e) {
      setTimeout(() => {
        throw e;
      });
    }
  }
}

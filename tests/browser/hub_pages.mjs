// Drives Debian's headless Chromium against eddyd's web pages and its
// realtime hub through eddy.js:
//   - two demo tabs see each other's dots move and exchange chat lines
//     (user text stays text), a newcomer gets the chat history, a closed
//     tab's dot disappears;
//   - the dashboard's graphs move while traffic flows, the histogram's
//     linear/log toggle changes its axis, SVG and PNG exports download valid
//     files, the services overview lists the services;
//   - recovery: a connection dropped by the "server" (a routed WebSocket the
//     test closes) comes back and replays, in order, what was published
//     meanwhile;
//   - with WebSocket refused, eddy.js falls back to its SockJS client
//     (xhr-streaming, and xhr-polling when asked) and still exchanges
//     messages.
//
//   node tests/browser/hub_pages.mjs --base http://127.0.0.1:PORT/ \
//        [--chromium /usr/bin/chromium] [--timeout MS] [--only NAME,...]
//
// Prints "ok: ..." per step; exits 0 when every check passed, 1 otherwise
// (2 for bad arguments). Run by tests/integration/test_browser_hub.py.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

let opts;
try {
  opts = parseArgs({
    options: {
      base: { type: 'string' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      timeout: { type: 'string', default: '30000' },
      only: { type: 'string', default: '' },
    },
  }).values;
} catch (e) {
  console.error(`hub_pages.mjs: ${e.message}`);
  process.exit(2);
}
const timeout = Number(opts.timeout);
if (!opts.base || !(timeout > 0)) {
  console.error('usage: hub_pages.mjs --base HTTP_URL [--chromium PATH] [--timeout MS] [--only NAME,...]');
  process.exit(2);
}
const base = new URL(opts.base);
const url = (path) => new URL(path, base).href;
const only = new Set(opts.only.split(',').filter(Boolean));
const run = (name) => only.size === 0 || only.has(name);
const tag = `${process.pid}-${Date.now()}`;

function step(text) {
  console.log(`ok: ${text}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function openPage(context, path, name, setup) {
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  page.on('pageerror', (e) => console.log(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`${name}: console: ${m.text()}`);
  });
  if (setup) await setup(page);
  await page.goto(url(path), { timeout });
  return page;
}

async function openDemo(context, name, setup) {
  const page = await openPage(context, 'demo', name, setup);
  await page.waitForSelector('body[data-state="connected"]', { timeout });
  await page.waitForFunction(() => window.eddyDemo && window.eddyDemo.client.clientId, null, { timeout });
  return page;
}

const clientId = (page) => page.evaluate(() => window.eddyDemo.client.clientId);

async function chat(page, name, text) {
  await page.fill('[data-testid="chat-name"]', name);
  await page.fill('[data-testid="chat-text"]', text);
  await page.press('[data-testid="chat-text"]', 'Enter');
}

async function seeChat(page, who, text) {
  await page.waitForFunction(
    ([w, t]) =>
      [...document.querySelectorAll('[data-testid="chat-line"]')].some(
        (li) => li.querySelector('.who')?.textContent === w && li.querySelector('.text')?.textContent === t,
      ),
    [who, text],
    { timeout },
  );
}

// ---- demo: dots and chat ------------------------------------------------------

async function demoChecks(context) {
  const one = await openDemo(context, 'demo 1');
  const two = await openDemo(context, 'demo 2');
  const [id1, id2] = [await clientId(one), await clientId(two)];
  check(id1 && id2 && id1 !== id2, `two distinct client ids (${id1}, ${id2})`);
  await one.waitForSelector(`[data-testid="dot"][data-client="${id2}"]`, { timeout });
  await two.waitForSelector(`[data-testid="dot"][data-client="${id1}"]`, { timeout });
  step('two demo tabs each show the other one\'s dot');

  // Drag page 1's dot to the board's top-left quarter: page 2 sees it there.
  const board = await one.locator('[data-testid="board"]').boundingBox();
  const start = await one.locator('[data-testid="my-dot"]').boundingBox();
  await one.mouse.move(start.x + start.width / 2, start.y + start.height / 2);
  await one.mouse.down();
  const target = { x: 0.2, y: 0.25 };
  for (let i = 1; i <= 20; i++) {
    const f = i / 20;
    const x = start.x + start.width / 2 + f * (board.x + target.x * board.width - start.x - start.width / 2);
    const y = start.y + start.height / 2 + f * (board.y + target.y * board.height - start.y - start.height / 2);
    await one.mouse.move(x, y);
    await sleep(10);
  }
  await one.mouse.up();
  await two.waitForFunction(
    ([id, t]) => {
      const d = document.querySelector(`[data-testid="dot"][data-client="${id}"]`);
      return d && Math.abs(Number(d.dataset.x) - t.x) < 0.02 && Math.abs(Number(d.dataset.y) - t.y) < 0.02;
    },
    [id1, target],
    { timeout },
  );
  // And the other way, with the keyboard.
  const before = Number(await one.locator(`[data-testid="dot"][data-client="${id2}"]`).getAttribute('data-x'));
  await two.focus('[data-testid="my-dot"]');
  for (let i = 0; i < 5; i++) await two.keyboard.press('ArrowRight');
  await one.waitForFunction(
    ([id, x]) => Number(document.querySelector(`[data-testid="dot"][data-client="${id}"]`)?.dataset.x) > x + 0.05,
    [id2, before],
    { timeout },
  );
  step('a dot dragged in page 1 and one moved with the keyboard in page 2 moved in the other page');

  const hostile = `<img src=x onerror="window.pwned=1"> & <b>bold</b> ${tag}`;
  await chat(one, 'alice', hostile);
  await seeChat(two, 'alice', hostile);
  await seeChat(one, 'alice', hostile);
  const injected = await two.evaluate(() => Boolean(document.querySelector('#chat-log img, #chat-log b') || window.pwned));
  check(!injected, 'chat text is shown as text, never as markup');
  const reply = `hello alice ✓ ${tag}`;
  await chat(two, 'bob', reply);
  await seeChat(one, 'bob', reply);
  step('chat lines went both ways, markup shown as text');

  const three = await openDemo(context, 'demo 3');
  await seeChat(three, 'alice', hostile);
  await seeChat(three, 'bob', reply);
  step('a newcomer tab got the recent chat lines from history');

  await two.close();
  await one.waitForSelector(`[data-testid="dot"][data-client="${id2}"]`, { state: 'detached', timeout });
  await three.waitForSelector(`[data-testid="dot"][data-client="${id2}"]`, { state: 'detached', timeout });
  step('closing a tab removed its dot from the others (leave event)');
  await three.close();
  return one;
}

// ---- dashboard ------------------------------------------------------------------

function checkSvg(text, what) {
  check(text.startsWith('<?xml') && text.includes('<svg'), `${what}: an XML document with an <svg> root`);
  check(text.includes('xmlns="http://www.w3.org/2000/svg"'), `${what}: has the SVG namespace`);
  check(text.trimEnd().endsWith('</svg>'), `${what}: ends with </svg>`);
  check(!/\sclass="/.test(text), `${what}: no class attributes left`);
  check(/style="/.test(text), `${what}: styles inlined`);
}

function checkPng(buf, what) {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  check(buf.length > 100 && sig.every((b, i) => buf[i] === b), `${what}: PNG signature`);
  check(buf.toString('latin1', 12, 16) === 'IHDR', `${what}: IHDR chunk first`);
  const w = buf.readUInt32BE(16);
  const h = buf.readUInt32BE(20);
  check(w >= 200 && h >= 100, `${what}: sensible size (${w}x${h})`);
  check(buf.includes(Buffer.from('IEND')), `${what}: complete (IEND)`);
  return [w, h];
}

async function downloadOf(page, testid) {
  const [download] = await Promise.all([
    page.waitForEvent('download', { timeout }),
    page.click(`[data-testid="${testid}"]`),
  ]);
  const path = await download.path();
  return { name: download.suggestedFilename(), data: readFileSync(path) };
}

async function graphState(page, id) {
  return page.evaluate((gid) => {
    const svg = document.querySelector(`[data-testid="graph-${gid}"] svg`);
    return {
      points: Number(svg?.getAttribute('data-points') || 0),
      last: Number(svg?.getAttribute('data-last-time') || 0),
      paths: svg ? svg.querySelectorAll('path.series').length : 0,
    };
  }, id);
}

async function dashboardChecks(context, publisher) {
  const dash = await openPage(context, '', 'dashboard');
  await dash.waitForSelector('[data-testid="connection-state"][data-state="connected"]', { timeout });
  const rows = dash.locator('[data-testid="service-row"]');
  await rows.first().waitFor({ timeout });
  const services = await rows.evaluateAll((trs) => trs.map((tr) => [tr.dataset.service, tr.dataset.state]));
  const names = services.map((s) => s[0]);
  check(names.includes('realtime') && names.includes('http'), `services listed (${JSON.stringify(services)})`);
  check(
    services.find((s) => s[0] === 'realtime')[1] === 'up',
    `the realtime service is up (${JSON.stringify(services)})`,
  );
  step(`the services overview lists ${names.join(', ')}`);

  // Two snapshots give the first rates; then traffic for ~3 s.
  await dash.waitForFunction(
    () => Number(document.querySelector('[data-testid="graph-connections"] svg')?.getAttribute('data-points')) >= 2,
    null,
    { timeout },
  );
  const first = { connections: await graphState(dash, 'connections'), messages: await graphState(dash, 'messages') };
  const lastUpdated = await dash.textContent('[data-testid="last-updated"]');
  const traffic = publisher.evaluate(async (t) => {
    const c = window.eddyDemo.client;
    const end = Date.now() + 3500;
    let n = 0;
    while (Date.now() < end) {
      await Promise.all(Array.from({ length: 10 }, () => c.publish(`demo:traffic-${t}`, { n: n++ })));
      await new Promise((r) => setTimeout(r, 50));
    }
    return n;
  }, tag);
  const sent = await traffic;
  await dash.waitForFunction(
    ([p0, l0]) => {
      const svg = document.querySelector('[data-testid="graph-messages"] svg');
      return Number(svg.getAttribute('data-last-time')) >= l0 + 3000 && Number(svg.getAttribute('data-points')) >= p0;
    },
    [first.messages.points, first.messages.last],
    { timeout },
  );
  const after = { connections: await graphState(dash, 'connections'), messages: await graphState(dash, 'messages') };
  check(after.connections.paths >= 1, 'the connections graph draws lines');
  check(after.messages.paths >= 1, 'the messages graph draws lines');
  check(
    after.messages.points > first.messages.points || first.messages.points >= 119,
    `the messages graph gained points (${first.messages.points} -> ${after.messages.points})`,
  );
  const peak = await dash.evaluate(() => {
    const snaps = window.eddyDashboard.snapshots;
    let best = 0;
    for (let i = 1; i < snaps.length; i++) {
      const a = snaps[i - 1].counters?.eddy_realtime_published_total ?? 0;
      const b = snaps[i].counters?.eddy_realtime_published_total ?? 0;
      best = Math.max(best, b - a);
    }
    return best;
  });
  check(peak > 0, `the published counter moved while ${sent} messages were published`);
  check((await dash.textContent('[data-testid="last-updated"]')) !== lastUpdated, 'the last-updated time moved');
  step(
    `the graphs moved: ${first.messages.points} -> ${after.messages.points} points, ` +
      `${sent} publications, up to ${peak} per snapshot`,
  );

  // The histogram: lin/log toggle changes the count axis.
  await dash.waitForSelector('[data-testid="histogram"] svg rect.bar', { timeout });
  const ticks = () =>
    dash.evaluate(() => [...document.querySelectorAll('[data-testid="histogram"] .y-axis text')].map((t) => t.textContent));
  const linTicks = await ticks();
  check((await dash.getAttribute('[data-testid="histogram"] svg', 'data-scale')) === 'linear', 'histogram starts linear');
  await dash.check('[data-testid="histogram-scale-log"]');
  await dash.waitForSelector('[data-testid="histogram"] svg[data-scale="log"]', { timeout });
  const logTicks = await ticks();
  check(logTicks.every((t) => /^1(0|00|k|0k|00k|M)?$/.test(t)), `log ticks are powers of ten (${logTicks})`);
  check(JSON.stringify(logTicks) !== JSON.stringify(linTicks) || linTicks.length < 3, `the axis changed (${linTicks} / ${logTicks})`);
  await dash.check('[data-testid="histogram-scale-linear"]');
  await dash.waitForSelector('[data-testid="histogram"] svg[data-scale="linear"]', { timeout });
  const metric = await dash.getAttribute('[data-testid="histogram"] svg', 'data-metric');
  step(`the histogram of ${metric} switched linear -> log (${logTicks.join(' ')}) -> linear`);

  // Exports: a standalone SVG and a PNG, for a graph and for the histogram.
  const svgFile = await downloadOf(dash, 'export-svg-messages');
  check(svgFile.name.endsWith('.svg'), `SVG file name (${svgFile.name})`);
  const svgText = svgFile.data.toString('utf8');
  checkSvg(svgText, 'graph SVG');
  check(svgText.includes('<path'), 'graph SVG has the series');
  const parsed = await dash.evaluate((text) => {
    const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
    return { error: Boolean(doc.querySelector('parsererror')), root: doc.documentElement.localName };
  }, svgText);
  check(!parsed.error && parsed.root === 'svg', 'the exported SVG parses as SVG');
  const pngFile = await downloadOf(dash, 'export-png-messages');
  check(pngFile.name.endsWith('.png'), `PNG file name (${pngFile.name})`);
  const [w, h] = checkPng(pngFile.data, 'graph PNG');
  const histSvg = await downloadOf(dash, 'export-svg-histogram');
  checkSvg(histSvg.data.toString('utf8'), 'histogram SVG');
  check(histSvg.data.toString('utf8').includes('<rect'), 'histogram SVG has bars');
  checkPng((await downloadOf(dash, 'export-png-histogram')).data, 'histogram PNG');
  step(`exported SVG (${svgFile.data.length} bytes) and PNG (${w}x${h}) of a graph and of the histogram`);
  await dash.close();
}

// ---- recovery after the server drops the connection --------------------------------

// Runs in a page: its own eddy.js client on WebSocket only, collecting a
// channel's messages and recovery events.
async function recoveryClient([channel, wsUrl]) {
  const { connect } = await import('/eddy.js');
  const got = [];
  const events = [];
  const client = connect(wsUrl, { transports: ['websocket'], backoffBase: 100, backoffCap: 400 });
  client.on('state', (s) => events.push(`state:${s.state}`));
  const sub = client.subscribe(channel, {
    onMessage: (data) => got.push(data.n),
    onRecovered: (ctx) => events.push(`recovered:${ctx.publications}`),
    onNotRecovered: (ctx) => events.push(`not-recovered:${ctx.reason}`),
  });
  await sub.ready;
  window.recovery = { client, got, events };
}

async function recoveryChecks(context, publisher) {
  const channel = `demo:recovery-${tag}`;
  let hold = false;
  let live = null;
  let refused = 0;
  // The test's client has its own URL (a query string the hub ignores), so
  // only its WebSocket goes through the route, not the demo page's own.
  const wsUrl = new URL(`connect/websocket?test=recovery-${tag}`, base);
  wsUrl.protocol = 'ws:';
  const page = await openDemo(context, 'recovery', (p) =>
    p.routeWebSocket(/\/connect\/websocket\?test=recovery/, (ws) => {
      if (hold) {
        refused += 1;
        ws.close({ code: 1011, reason: 'test: still down' });
        return;
      }
      live = { ws, server: ws.connectToServer() };
    }),
  );
  await page.evaluate(recoveryClient, [channel, wsUrl.href]);
  const publish = (from, to) =>
    publisher.evaluate(
      async ([ch, a, b]) => {
        for (let n = a; n <= b; n++) await window.eddyDemo.client.publish(ch, { n });
      },
      [channel, from, to],
    );
  await publish(1, 3);
  await page.waitForFunction(() => window.recovery.got.length === 3, null, { timeout });
  step('a WebSocket-only client subscribed and received 3 messages');

  // The "server" drops the connection; reconnects are refused for a while.
  hold = true;
  const dropped = live;
  await dropped.ws.close({ code: 4008, reason: 'test: dropped by the server' });
  await dropped.server.close().catch(() => {});
  await page.waitForFunction(() => window.recovery.client.state !== 'connected', null, { timeout });
  await publish(4, 9);
  const deadline = Date.now() + timeout;
  while (refused < 2 && Date.now() < deadline) await sleep(50);
  check(refused >= 2, `reconnects were attempted while down (${refused})`);
  hold = false;
  await page.waitForFunction(() => window.recovery.got.length >= 9, null, { timeout });
  await sleep(300); // a duplicate would arrive now
  const { got, events } = await page.evaluate(() => window.recovery);
  check(JSON.stringify(got) === JSON.stringify([1, 2, 3, 4, 5, 6, 7, 8, 9]), `every message once, in order (${got})`);
  check(events.includes('recovered:6'), `recovery reported 6 replayed (${events})`);
  check(!events.some((e) => e.startsWith('not-recovered')), `no failed recovery (${events})`);
  step(`after a server-side drop and ${refused} refused reconnects the client recovered messages 4..9 in order`);

  // Nothing lost in between either: live messages flow again.
  await publish(10, 10);
  await page.waitForFunction(() => window.recovery.got.at(-1) === 10, null, { timeout });
  await page.evaluate(() => window.recovery.client.close());
  await page.close();
}

// ---- SockJS fall-back -------------------------------------------------------------------

async function sockjsChecks(context, peer) {
  let refused = 0;
  const page = await openDemo(context, 'sockjs demo', (p) =>
    p.routeWebSocket(/\/connect\/websocket/, (ws) => {
      refused += 1;
      ws.close({ code: 1011, reason: 'test: WebSocket blocked' });
    }),
  );
  const transport = await page.getAttribute('body', 'data-transport');
  check(transport === 'xhr-streaming', `fell back to SockJS xhr-streaming (got ${transport})`);
  check(refused >= 1, `WebSocket was tried first (${refused} refused)`);
  const peerId = await clientId(peer);
  await page.waitForSelector(`[data-testid="dot"][data-client="${peerId}"]`, { timeout });
  const a = `over sockjs ${tag}`;
  await chat(page, 'carol', a);
  await seeChat(peer, 'carol', a);
  const b = `back to sockjs ${tag}`;
  await chat(peer, 'alice', b);
  await seeChat(page, 'alice', b);
  step(`after ${refused} refused WebSocket attempts the demo ran over ${transport} and chatted both ways`);

  // xhr-polling, chosen explicitly: a round trip through a channel.
  const polled = await page.evaluate(async (ch) => {
    const { connect } = await import('/eddy.js');
    const c = connect(undefined, { transports: ['sockjs'], sockjsTransports: ['xhr-polling'] });
    const got = [];
    const sub = c.subscribe(ch, { onMessage: (d) => got.push(d) });
    await sub.ready;
    for (let i = 0; i < 3; i++) await c.publish(ch, { i, text: `polled ${i}` });
    const end = Date.now() + 10000;
    while (got.length < 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const result = { transport: c.transport, got };
    c.close();
    return result;
  }, `demo:polling-${tag}`);
  check(polled.transport === 'xhr-polling', `xhr-polling in use (${polled.transport})`);
  check(JSON.stringify(polled.got.map((d) => d.i)) === '[0,1,2]', `xhr-polling delivered in order (${JSON.stringify(polled.got)})`);
  step('a client on xhr-polling published and received 3 messages in order');

  // More than a streaming response carries (SockJS servers end one after
  // 128 KiB by default): the client reads on through new requests on the
  // same session, without reconnecting and without losing a message.
  let streams = 0;
  page.on('request', (r) => {
    if (r.url().endsWith('/xhr_streaming')) streams += 1;
  });
  const streamed = await page.evaluate(async (ch) => {
    const { connect } = await import('/eddy.js');
    const c = connect(undefined, { transports: ['sockjs'], sockjsTransports: ['xhr-streaming'] });
    let connects = 0;
    c.on('state', (st) => st.state === 'connected' && connects++);
    const got = [];
    const sub = c.subscribe(ch, { onMessage: (d) => got.push(d.i) });
    await sub.ready;
    const pad = 'x'.repeat(6000);
    for (let i = 0; i < 50; i++) await c.publish(ch, { i, pad });
    const end = Date.now() + 10000;
    while (got.length < 50 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    const result = { transport: c.transport, got, connects };
    c.close();
    return result;
  }, `demo:streaming-${tag}`);
  check(streamed.transport === 'xhr-streaming', `xhr-streaming in use (${streamed.transport})`);
  check(
    JSON.stringify(streamed.got) === JSON.stringify([...Array(50).keys()]),
    `300 KB over xhr-streaming arrived whole and in order (${streamed.got.length} messages)`,
  );
  check(streamed.connects === 1, `no reconnect while streaming (${streamed.connects} connects)`);
  check(streams >= 2, `the stream was reopened (${streams} xhr_streaming requests)`);
  step(`300 KB of messages went through ${streams} xhr_streaming responses of one session, in order`);
  await page.close();
}

// ---- main ---------------------------------------------------------------------------------

const userDataDir = mkdtempSync(join(tmpdir(), 'eddy-chromium-'));
const watchdog = setTimeout(() => {
  console.error(`hub_pages.mjs: gave up after ${timeout * 8} ms`);
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}, timeout * 8);

let context;
let status = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    timeout,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  step(`launched ${opts.chromium}`);
  let publisher = null;
  if (run('demo')) publisher = await demoChecks(context);
  else publisher = await openDemo(context, 'publisher');
  if (run('dashboard')) await dashboardChecks(context, publisher);
  if (run('recovery')) await recoveryChecks(context, publisher);
  if (run('sockjs')) await sockjsChecks(context, publisher);
} catch (e) {
  console.error(`hub_pages.mjs: FAILED: ${e.stack || e}`);
  status = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(status);

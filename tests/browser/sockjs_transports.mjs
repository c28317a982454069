// Drives Debian's headless Chromium with the stock npm sockjs-client against
// eddy's SockJS server (examples/sockjs_echo.c): for each transport in turn
// the page opens a SockJS connection to /echo limited to that transport,
// echoes a short message, a unicode one (characters SockJS must escape
// included) and a large one, checks each answer, and closes.
//
//   node tests/browser/sockjs_transports.mjs --base http://127.0.0.1:PORT \
//        [--chromium /usr/bin/chromium] [--timeout MS] [--only NAME,...]
//
// sockjs-echo must run with --static node_modules/sockjs-client/dist and
// --client-url /static/sockjs.min.js: the test page and the iframe page of
// the iframe-based transports both load the client from the server's own
// origin, so nothing comes from the network. The test page is the
// server's greeting (/echo) with the client script added by playwright.
//
// Prints one "ok:" line per step; exits 0 when every check passed, 1
// otherwise (2 for bad arguments). Run by
// tests/integration/test_sockjs_browser.py.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

const TRANSPORTS = [
  'websocket',
  'xhr-streaming',
  'xhr-polling',
  'eventsource',
  'htmlfile',
  'iframe-htmlfile',
  'jsonp-polling',
  'iframe-eventsource',
  'iframe-xhr-polling',
];

let opts;
try {
  opts = parseArgs({
    options: {
      base: { type: 'string' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      timeout: { type: 'string', default: '60000' },
      only: { type: 'string' },
    },
  }).values;
} catch (e) {
  console.error(`sockjs_transports.mjs: ${e.message}`);
  process.exit(2);
}
const timeout = Number(opts.timeout);
const transports = opts.only ? opts.only.split(',') : TRANSPORTS;
if (!opts.base || !(timeout > 0) || transports.some((t) => !TRANSPORTS.includes(t))) {
  console.error(
    'usage: sockjs_transports.mjs --base HTTP_URL [--chromium PATH] [--timeout MS]' +
      ` [--only ${TRANSPORTS.join(',')}]`,
  );
  process.exit(2);
}
const base = opts.base.replace(/\/$/, '');

function step(text) {
  console.log(`ok: ${text}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// Runs in the page: one SockJS connection limited to one transport.
async function echoOver({ url, transport, timeoutMs }) {
  const unicode =
    'héllo wörld € 😀 ' +
    '\u0000\u0001\u001f\u007f\u0085\u00ad\u200c\u200f\u2028\u2029\u2060\ufeff\ufff0\uffff' +
    ' "quotes" \\ </script> <!--';
  const large = ('large message ✓ ' + 'abcdefghij'.repeat(10)).repeat(300);
  const wanted = ['hello', unicode, large];
  const sock = new SockJS(url, null, { transports: [transport], timeout: timeoutMs });
  const got = [];
  let waiter = null;
  sock.onmessage = (e) => {
    got.push(e.data);
    if (waiter) waiter();
  };
  const closed = new Promise((resolve) => {
    sock.onclose = (e) => resolve({ code: e.code, reason: e.reason });
  });
  const opened = await Promise.race([
    new Promise((resolve) => {
      sock.onopen = () => resolve(true);
    }),
    closed.then((c) => c),
  ]);
  if (opened !== true) return { error: `closed before open: ${JSON.stringify(opened)}` };
  const used = sock.transport;
  for (const m of wanted) sock.send(m);
  const deadline = Date.now() + timeoutMs;
  while (got.length < wanted.length && Date.now() < deadline) {
    await new Promise((resolve) => {
      waiter = resolve;
      setTimeout(resolve, 200);
    });
    waiter = null;
  }
  const same = got.length === wanted.length && got.every((m, i) => m === wanted[i]);
  sock.close(1000, 'done');
  const close = await closed;
  return {
    used,
    same,
    count: got.length,
    sizes: got.map((m) => m.length),
    close,
  };
}

const userDataDir = mkdtempSync(join(tmpdir(), 'eddy-chromium-'));
const watchdog = setTimeout(
  () => {
    console.error(`sockjs_transports.mjs: gave up after ${timeout * (transports.length + 1)} ms`);
    rmSync(userDataDir, { recursive: true, force: true });
    process.exit(1);
  },
  timeout * (transports.length + 1),
);

let context;
let status = 0;
try {
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: opts.chromium,
    headless: true,
    timeout,
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
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`console: ${m.text()}`);
  });
  // A page the server itself sent (so Chromium files it under the server's
  // own address space): the greeting, with the client added to it.
  await page.goto(`${base}/echo`, { timeout });
  await page.addScriptTag({ url: '/static/sockjs.min.js' });
  await page.waitForFunction(() => typeof SockJS === 'function', null, { timeout });
  const version = await page.evaluate(() => SockJS.version);
  step(`sockjs-client ${version} loaded from the server`);

  for (const transport of transports) {
    const r = await page.evaluate(echoOver, {
      url: `${base}/echo`,
      transport,
      timeoutMs: Math.min(timeout, 30000),
    });
    const what = JSON.stringify(r);
    check(!r.error, `${transport}: ${r.error}`);
    check(r.used === transport, `${transport}: the client used ${r.used}`);
    check(r.same, `${transport}: echoes intact (${what})`);
    check(r.close.code === 1000, `${transport}: clean close (${what})`);
    step(`${transport}: 3 messages echoed intact (sizes ${r.sizes.join(', ')})`);
  }
} catch (e) {
  console.error(`sockjs_transports.mjs: FAILED: ${e.stack || e}`);
  status = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(status);

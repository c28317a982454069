// Drives Debian's headless Chromium against eddy's WebSocket examples: two
// tabs of ws-chat talk to each other, then page JavaScript sends a large
// binary and a long text message to ws-echo and checks what comes back.
// Chromium offers permessage-deflate, so this is also the compression
// interop check with a browser.
//
//   node tests/browser/ws_chat.mjs --chat http://127.0.0.1:PORT/ \
//        --echo ws://127.0.0.1:PORT/ [--chromium /usr/bin/chromium] [--timeout MS]
//
// Prints one line per step and exits 0 when every check passed, 1 otherwise
// (2 for bad arguments). Run by tests/integration/test_browser.py.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { chromium } from 'playwright-core';

let opts;
try {
  opts = parseArgs({
    options: {
      chat: { type: 'string' },
      echo: { type: 'string' },
      chromium: { type: 'string', default: '/usr/bin/chromium' },
      timeout: { type: 'string', default: '60000' },
    },
  }).values;
} catch (e) {
  console.error(`ws_chat.mjs: ${e.message}`);
  process.exit(2);
}
const timeout = Number(opts.timeout);
if (!opts.chat || !opts.echo || !(timeout > 0)) {
  console.error(
    'usage: ws_chat.mjs --chat HTTP_URL --echo WS_URL [--chromium PATH] [--timeout MS]',
  );
  process.exit(2);
}

function step(text) {
  console.log(`ok: ${text}`);
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// Waits until a line of the chat log equals `text`.
async function seeLine(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === t),
    text,
    { timeout },
  );
}

async function openChat(context, name) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.log(`${name}: page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`${name}: console: ${m.text()}`);
  });
  await page.goto(opts.chat, { timeout });
  await page.waitForSelector('body[data-state="open"]', { timeout });
  const ext = await page.evaluate(() => window.chatSocket.extensions);
  check(ext.startsWith('permessage-deflate'), `${name} negotiated deflate (got "${ext}")`);
  return page;
}

// Runs in the page: a WebSocket to ws-echo, a large binary message and a
// long text message, each compared with what was sent, then a clean close.
async function echoInPage(url) {
  const ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  const incoming = [];
  let waiter = null;
  ws.onmessage = (e) => {
    incoming.push(e.data);
    if (waiter) waiter();
  };
  const closed = new Promise((resolve) => {
    ws.onclose = (e) => resolve({ code: e.code, reason: e.reason, wasClean: e.wasClean });
  });
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error('the echo WebSocket failed to open'));
  });
  const next = () =>
    incoming.length
      ? Promise.resolve(incoming.shift())
      : new Promise((resolve) => {
          waiter = () => {
            waiter = null;
            resolve(incoming.shift());
          };
        });

  // 4 MiB: the first half random (incompressible), the second patterned.
  const size = 4 << 20;
  const data = new Uint8Array(size);
  for (let off = 0; off < size / 2; off += 65536) {
    crypto.getRandomValues(data.subarray(off, Math.min(off + 65536, size / 2)));
  }
  for (let i = size / 2; i < size; i++) data[i] = (i * 31) & 0xff;
  ws.send(data);
  const back = new Uint8Array(await next());
  let binaryOk = back.length === size;
  for (let i = 0; binaryOk && i < size; i++) binaryOk = back[i] === data[i];

  const text = 'héllo wörld, € and 😀 — '.repeat(5000);
  ws.send(text);
  const textBack = await next();
  const textOk = textBack === text;

  ws.close(1000, 'done');
  const close = await closed;
  return { extensions: ws.extensions, binaryOk, binaryLength: back.length, textOk, close };
}

const userDataDir = mkdtempSync(join(tmpdir(), 'eddy-chromium-'));
const watchdog = setTimeout(() => {
  console.error(`ws_chat.mjs: gave up after ${timeout * 3} ms`);
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}, timeout * 3);

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
  step(`launched ${opts.chromium} (${context.browser()?.version() ?? 'persistent context'})`);

  const one = await openChat(context, 'page 1');
  await seeLine(one, '* welcome, you are guest-1 (1 online)');
  const two = await openChat(context, 'page 2');
  await seeLine(two, '* welcome, you are guest-2 (2 online)');
  await seeLine(one, '* guest-2 joined (2 online)');
  step('two pages joined the chat over permessage-deflate');

  const hello = `hello from page 1 ✓ ${Date.now()}`;
  await one.fill('#msg', hello);
  await one.press('#msg', 'Enter');
  await seeLine(two, `guest-1: ${hello}`);
  await seeLine(one, `guest-1: ${hello}`);
  step('a message typed in page 1 reached both pages');

  const long = 'a long, compressible line of chat. '.repeat(28);
  await two.fill('#msg', long);
  await two.click('button');
  await seeLine(one, `guest-2: ${long}`);
  step(`a ${long.length}-character message from page 2 reached page 1`);

  await two.close();
  await seeLine(one, '* guest-2 left (1 online)');
  step('closing page 2 was announced to page 1');

  const echo = await one.evaluate(echoInPage, opts.echo);
  const ext = echo.extensions;
  check(ext.startsWith('permessage-deflate'), `echo negotiated deflate (got "${ext}")`);
  check(echo.binaryOk, `4 MiB binary echo intact (got ${echo.binaryLength} bytes)`);
  check(echo.textOk, 'long text echo intact');
  const close = JSON.stringify(echo.close);
  check(echo.close.code === 1000 && echo.close.wasClean, `clean close (got ${close})`);
  step('page JavaScript echoed 4 MiB binary and long text through ws-echo, closed cleanly');
} catch (e) {
  console.error(`ws_chat.mjs: FAILED: ${e.stack || e}`);
  status = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  clearTimeout(watchdog);
}
process.exit(status);

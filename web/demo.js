// The live demo at /demo: every tab is a dot on a shared board
// (`demo:board`), dragged by its owner and seen moving by everyone, with a
// chat beside it (`demo:chat`, history for newcomers). User data only ever
// reaches the page through textContent and numeric style values.
import { connect } from './eddy.js';

const BOARD = 'demo:board';
const CHAT = 'demo:chat';
const PUBLISH_EVERY_MS = 33; // ~30 position updates per second while dragging
const NAME_MAX = 32;
const TEXT_MAX = 500;
const CHAT_KEEP = 200; // lines kept in the log
const STEP = 0.02; // arrow keys move this far (a tenth with Shift)

const board = document.getElementById('board');
const log = document.getElementById('chat-log');
const form = document.getElementById('chat-form');
const nameInput = document.getElementById('chat-name');
const textInput = document.getElementById('chat-text');
const statePill = document.querySelector('[data-testid="connection-state"]');
const transportOut = document.querySelector('[data-testid="transport"]');
const onlineOut = document.querySelector('[data-testid="online"]');

const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const str = (v, max) => (typeof v === 'string' ? v.slice(0, max) : '');
const num01 = (v) => (typeof v === 'number' && Number.isFinite(v) ? clamp(v, 0, 1) : null);

function storedName() {
  try {
    return localStorage.getItem('eddy-demo-name') || '';
  } catch {
    return '';
  }
}
nameInput.value = storedName() || `guest-${Math.floor(Math.random() * 9000 + 1000)}`;

const me = {
  x: 0.15 + Math.random() * 0.7,
  y: 0.15 + Math.random() * 0.7,
  hue: Math.floor(Math.random() * 360),
};
const myName = () => nameInput.value.trim().slice(0, NAME_MAX) || 'anonymous';

// ---- dots -------------------------------------------------------------------

const dots = new Map(); // client id -> {el, tag, x, y}

function makeDot(mine) {
  const dot = document.createElement('div');
  dot.className = mine ? 'dot mine' : 'dot';
  dot.dataset.testid = mine ? 'my-dot' : 'dot';
  const tag = document.createElement('span');
  tag.className = 'tag';
  dot.append(tag);
  board.append(dot);
  return { el: dot, tag, x: 0.5, y: 0.5 };
}

function place(dot, x, y, name, hue) {
  dot.x = x;
  dot.y = y;
  // A transform in pixels of the board: no layout work while dragging.
  const px = (x * board.clientWidth).toFixed(1);
  const py = (y * board.clientHeight).toFixed(1);
  dot.el.style.transform = `translate(${px}px, ${py}px)`;
  dot.el.dataset.x = x.toFixed(4);
  dot.el.dataset.y = y.toFixed(4);
  if (name !== undefined && dot.tag.textContent !== name) {
    dot.tag.textContent = name;
    dot.el.setAttribute('aria-label', dot.el.classList.contains('mine') ? `Your dot (${name})` : name);
  }
  if (hue !== undefined) dot.el.style.backgroundColor = `hsl(${hue} 70% 50%)`;
}

const mine = makeDot(true);
mine.el.tabIndex = 0;
mine.el.setAttribute('role', 'button');
mine.el.setAttribute('aria-describedby', 'board-hint');
place(mine, me.x, me.y, myName(), me.hue);

function updateOnline() {
  onlineOut.textContent = String(dots.size + 1);
}

function showOther(client, data) {
  if (!client || client === api.client.clientId) return;
  const x = num01(data.x);
  const y = num01(data.y);
  if (x === null || y === null) return;
  let dot = dots.get(client);
  if (!dot) {
    dot = makeDot(false);
    dot.el.dataset.client = client;
    dot.el.setAttribute('role', 'img');
    dots.set(client, dot);
    updateOnline();
  }
  const hue = typeof data.hue === 'number' ? Math.floor(data.hue) % 360 : 0;
  place(dot, x, y, str(data.name, NAME_MAX) || 'anonymous', hue);
}

function removeOther(client) {
  const dot = dots.get(client);
  if (!dot) return;
  dot.el.remove();
  dots.delete(client);
  updateOnline();
}

// ---- publishing my position, throttled -----------------------------------------

let lastSent = 0;
let trailing = 0;

function publishPosition() {
  clearTimeout(trailing);
  trailing = 0;
  lastSent = performance.now();
  if (api.client.state !== 'connected') return;
  api.client
    .publish(BOARD, { type: 'pos', x: +me.x.toFixed(4), y: +me.y.toFixed(4), name: myName(), hue: me.hue })
    .catch(() => {}); // a lost update is replaced by the next one
}

// At most one publish per PUBLISH_EVERY_MS; the last position always goes out.
function positionChanged() {
  const wait = PUBLISH_EVERY_MS - (performance.now() - lastSent);
  if (wait <= 0) publishPosition();
  else if (!trailing) trailing = setTimeout(publishPosition, wait);
}

function moveTo(x, y) {
  me.x = clamp(x, 0, 1);
  me.y = clamp(y, 0, 1);
  place(mine, me.x, me.y, myName());
  positionChanged();
}

function fromPointer(e) {
  const r = board.getBoundingClientRect();
  return [(e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height];
}

// Pressing anywhere on the board brings my dot there and starts a drag.
board.addEventListener('pointerdown', (e) => {
  if (e.button !== 0) return;
  e.preventDefault();
  board.setPointerCapture(e.pointerId);
  mine.el.classList.add('dragging');
  mine.el.focus({ preventScroll: true });
  moveTo(...fromPointer(e));
});
board.addEventListener('pointermove', (e) => {
  if (board.hasPointerCapture(e.pointerId)) moveTo(...fromPointer(e));
});
const endDrag = (e) => {
  if (board.hasPointerCapture(e.pointerId)) board.releasePointerCapture(e.pointerId);
  mine.el.classList.remove('dragging');
};
board.addEventListener('pointerup', endDrag);
board.addEventListener('pointercancel', endDrag);

mine.el.addEventListener('keydown', (e) => {
  const step = e.shiftKey ? STEP * 5 : STEP;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  const m = moves[e.key];
  if (!m) return;
  e.preventDefault();
  moveTo(me.x + m[0], me.y + m[1]);
});

// Dots are placed in pixels: place them again when the board changes size.
new ResizeObserver(() => {
  place(mine, me.x, me.y);
  for (const dot of dots.values()) place(dot, dot.x, dot.y);
}).observe(board);

updateOnline();

// ---- chat ------------------------------------------------------------------------

function addLine(name, text, note = false) {
  const li = document.createElement('li');
  li.dataset.testid = 'chat-line';
  if (note) {
    li.className = 'note';
    li.textContent = text;
  } else {
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = name;
    const body = document.createElement('span');
    body.className = 'text';
    body.textContent = text;
    li.append(who, body);
  }
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  while (log.children.length > CHAT_KEEP) log.firstElementChild.remove();
  if (atBottom) log.scrollTop = log.scrollHeight;
}

form.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = textInput.value.trim().slice(0, TEXT_MAX);
  if (!text) return;
  const name = myName();
  try {
    localStorage.setItem('eddy-demo-name', name);
  } catch {
    /* private mode: the name is just not remembered */
  }
  textInput.value = '';
  api.client.publish(CHAT, { name, text }).catch((err) => {
    addLine('', `(not sent: ${err.message})`, true);
    if (!textInput.value) textInput.value = text;
  });
});

nameInput.addEventListener('input', () => {
  place(mine, me.x, me.y, myName());
  positionChanged(); // the name travels with the position
});

// ---- connection ----------------------------------------------------------------------

const client = connect(undefined, { info: { page: 'demo' } });
const api = { client, dots, me };
window.eddyDemo = api;

client.on('state', ({ state, transport, delay }) => {
  statePill.dataset.state = state;
  const wait = delay !== undefined ? ` in ${Math.ceil(delay / 1000)} s` : '';
  statePill.textContent = state === 'disconnected' ? `reconnecting${wait}` : state;
  if (transport) transportOut.textContent = transport;
  document.body.dataset.state = state;
  document.body.dataset.transport = transport || '';
});
client.on('error', (e) => addLine('', `(error: ${e.message})`, true));

// Who is really here: history may hold positions of tabs long gone.
async function syncPresence(fromHistory) {
  let present;
  try {
    present = new Set((await client.presence(BOARD)).map((c) => c.client));
  } catch {
    return;
  }
  for (const id of [...dots.keys()]) if (!present.has(id)) removeOther(id);
  for (const [id, data] of fromHistory) if (present.has(id) && !dots.has(id)) showOther(id, data);
  publishPosition();
}

let historyPositions = new Map();
client.subscribe(BOARD, {
  history: 100,
  onMessage(data, meta) {
    if (!data || data.type !== 'pos' || !meta.info) return;
    if (meta.history) historyPositions.set(meta.info.client, data);
    else showOther(meta.info.client, data);
  },
  onSubscribed() {
    const positions = historyPositions;
    historyPositions = new Map();
    syncPresence(positions);
  },
  onJoin(who) {
    // A newcomer has not seen my dot yet.
    if (who.client !== client.clientId) publishPosition();
  },
  onLeave(who) {
    removeOther(who.client);
  },
});

client.subscribe(CHAT, {
  history: 50,
  onMessage(data) {
    if (!data || typeof data.text !== 'string') return;
    addLine(str(data.name, NAME_MAX) || 'anonymous', str(data.text, TEXT_MAX));
  },
  onNotRecovered() {
    addLine('', '(some messages were missed while disconnected)', true);
  },
});

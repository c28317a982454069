// The dashboard at /: live graphs fed by the `eddy:metrics` channel (one
// eddy_metrics_json snapshot per second, the last 120 replayed on
// subscribe), a histogram view, SVG/PNG export, and the service overview
// from GET /status. Plain DOM and SVG, no dependencies.
import { connect } from './eddy.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const WINDOW_MS = 120_000; // the graphs' time span
const KEEP = 130; // snapshots kept (the window plus a little)
const PCT_WINDOW = 5; // snapshots a windowed percentile spans
// The right edge lags the newest sample a little, so each new point slides
// in smoothly instead of appearing at the edge.
const LAG_MS = 1100;
const STATUS_EVERY_MS = 5000;
const reduceMotion = matchMedia('(prefers-reduced-motion: reduce)');

// ---- reading snapshots ------------------------------------------------------

// "name{labels}" -> "name"
const baseName = (key) => {
  const i = key.indexOf('{');
  return i < 0 ? key : key.slice(0, i);
};

// Sum of every series of a metric (all label sets); null when absent.
function sum(map, name) {
  if (!map) return null;
  let total = null;
  for (const [key, v] of Object.entries(map)) {
    if (baseName(key) === name && typeof v === 'number') total = (total ?? 0) + v;
  }
  return total;
}

// Per-second rate of a counter between two snapshots; null across a restart.
function rate(cur, prev, name) {
  if (!prev) return null;
  const a = sum(prev.counters, name);
  const b = sum(cur.counters, name);
  const dt = (cur.time - prev.time) / 1000;
  if (a === null || b === null || !(dt > 0) || b < a) return null;
  return (b - a) / dt;
}

// One histogram's buckets (all label sets merged) as
// Map(index -> {upper, count}). Keyed by the server's bucket index, not the
// bound: the top bucket's bound is capped at the largest value seen, so it
// changes between snapshots while the bucket stays the same.
function buckets(snap, name) {
  const out = new Map();
  if (!snap || !snap.histograms) return out;
  for (const [key, h] of Object.entries(snap.histograms)) {
    if (baseName(key) !== name || !h || !Array.isArray(h.buckets)) continue;
    for (const [upper, count, index] of h.buckets) {
      if (!Number.isInteger(index)) continue;
      const b = out.get(index);
      if (b) {
        b.count += count;
        b.upper = Math.max(b.upper, upper);
      } else {
        out.set(index, { upper, count });
      }
    }
  }
  return out;
}

// The q-quantile of the observations made between snapshots `old` and
// `cur` (bucket counts are cumulative over the server's life, so the
// difference is what happened in between). null when nothing happened.
function windowQuantile(cur, old, name, q) {
  if (!old) return null;
  const now = buckets(cur, name);
  const before = buckets(old, name);
  const delta = [];
  let total = 0;
  for (const [index, { upper, count }] of now) {
    const d = count - (before.get(index)?.count ?? 0);
    if (d < 0) return null; // the server restarted
    if (d > 0) {
      delta.push([index, upper, d]);
      total += d;
    }
  }
  if (total === 0) return null;
  delta.sort((x, y) => x[0] - y[0]);
  const rank = q * total;
  let seen = 0;
  for (const [, upper, d] of delta) {
    seen += d;
    if (seen >= rank) return upper;
  }
  return delta[delta.length - 1][1];
}

function hitRate(cur, prev) {
  if (!prev) return null;
  const delta = (name) => sum(cur.counters, name) - sum(prev.counters, name);
  const dh = delta('eddy_cache_get_hits_total');
  const dm = delta('eddy_cache_get_misses_total');
  if (!(dh >= 0 && dm >= 0) || dh + dm === 0) return null;
  return (100 * dh) / (dh + dm);
}

// A series reads (snapshots, index) and returns a number or null (a gap).
const gauge = (name) => (s, i) => sum(s[i].gauges, name);
const counterRate = (name) => (s, i) => rate(s[i], s[i - 1], name);
const quantile = (name, q) => (s, i) =>
  i === 0 ? null : windowQuantile(s[i], s[Math.max(0, i - PCT_WINDOW)], name, q);

const GRAPHS = [
  {
    id: 'connections',
    title: 'Connections',
    unit: 'count',
    series: [
      { label: 'realtime clients', read: gauge('eddy_realtime_clients') },
      { label: 'HTTP', read: gauge('eddy_http_connections') },
      { label: 'locks', read: gauge('eddy_locks_connections') },
      { label: 'cache', read: gauge('eddy_cache_connections') },
    ],
  },
  {
    id: 'messages',
    title: 'Messages per second',
    unit: 'rate',
    series: [
      { label: 'published', read: counterRate('eddy_realtime_published_total') },
      { label: 'delivered', read: counterRate('eddy_realtime_delivered_total') },
    ],
  },
  {
    id: 'locks',
    title: 'Lock waits and hold times',
    unit: 'seconds',
    note: `percentiles over ${PCT_WINDOW} s`,
    series: [
      { label: 'wait p50', read: quantile('eddy_locks_wait_seconds', 0.5) },
      { label: 'wait p99', read: quantile('eddy_locks_wait_seconds', 0.99) },
      { label: 'hold p50', read: quantile('eddy_locks_hold_seconds', 0.5) },
      { label: 'hold p99', read: quantile('eddy_locks_hold_seconds', 0.99) },
    ],
  },
  {
    id: 'cache',
    title: 'Cache hit rate',
    unit: 'percent',
    series: [{ label: 'hits / gets', read: (s, i) => hitRate(s[i], s[i - 1]) }],
  },
  {
    id: 'latency',
    title: 'Latency percentiles',
    unit: 'seconds',
    note: `over ${PCT_WINDOW} s`,
    series: [
      { label: 'HTTP p50', read: quantile('eddy_http_request_duration_seconds', 0.5) },
      { label: 'HTTP p90', read: quantile('eddy_http_request_duration_seconds', 0.9) },
      { label: 'HTTP p99', read: quantile('eddy_http_request_duration_seconds', 0.99) },
      { label: 'publish p50', read: quantile('eddy_realtime_publish_seconds', 0.5) },
      { label: 'publish p99', read: quantile('eddy_realtime_publish_seconds', 0.99) },
    ],
  },
];

// ---- formatting ----------------------------------------------------------------

function compact(v) {
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toPrecision(3)}G`;
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a === 0 || a >= 1) return `${+v.toPrecision(3)}`;
  return `${+v.toPrecision(2)}`;
}

function seconds(v) {
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 1e-3) return `${+(v * 1e6).toPrecision(3)} µs`;
  if (a < 1) return `${+(v * 1e3).toPrecision(3)} ms`;
  return `${+v.toPrecision(3)} s`;
}

const FORMAT = {
  count: compact,
  rate: (v) => `${compact(v)}/s`,
  seconds,
  percent: (v) => `${+v.toPrecision(3)} %`,
};
const UNIT_NAME = { count: 'count', rate: 'per second', seconds: 'time', percent: '%' };

// "Nice" ticks from 0 to at least max: 1, 2 or 5 times a power of ten.
function niceTicks(max, count = 4) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(+v.toPrecision(12));
  return ticks;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

// ---- DOM helpers ----------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v;
    else if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ---- time-series graphs -----------------------------------------------------------

const MARGIN = { left: 62, right: 10, top: 10, bottom: 24 };

class Graph {
  constructor(def, container) {
    this.def = def;
    this.fmt = FORMAT[def.unit];
    this.points = []; // [{t, values: [number|null]}]
    this.tRef = 0;
    const titleId = `g-${def.id}-title`;
    this.figure = el('figure', { class: 'card', 'data-testid': `graph-${def.id}`, 'aria-labelledby': titleId });
    const head = el('div', { class: 'card-head' });
    const h3 = el('h3', { id: titleId, text: def.title });
    const note = [UNIT_NAME[def.unit], def.note].filter(Boolean).join(', ');
    h3.append(' ', el('span', { class: 'unit', text: `(${note})` }));
    head.append(h3, exportButtons(def.id, def.title, () => this.svgEl));
    this.plot = el('div', { class: 'plot' });
    this.legend = el('ul', { class: 'legend' });
    this.values = def.series.map((s, i) => {
      const value = el('span', { class: 'value', text: '–' });
      this.legend.append(
        el(
          'li',
          { class: `c${i + 1}` },
          el('span', { class: 'swatch' }),
          el('span', { class: 'label', text: s.label }),
          value,
        ),
      );
      return value;
    });
    this.figure.append(head, this.plot, this.legend);
    container.append(this.figure);
    this.svgEl = svg('svg', { role: 'img', 'aria-labelledby': titleId, 'data-points': '0' });
    // The hover read-out lives outside the SVG, which is redrawn each second.
    this.cursor = el('div', { class: 'cursor', hidden: '' });
    this.tip = el('div', { class: 'tip', hidden: '' });
    this.plot.append(this.svgEl, this.cursor, this.tip);
    this.plot.addEventListener('pointermove', (e) => this.hover(e));
    this.plot.addEventListener('pointerleave', () => {
      this.cursor.hidden = true;
      this.tip.hidden = true;
    });
  }

  // Shows the values of the point nearest the pointer.
  hover(e) {
    const box = this.plot.getBoundingClientRect();
    const x = e.clientX - box.left;
    const right = box.width - MARGIN.right;
    if (!this.pxPerMs || x < MARGIN.left || x > right || this.points.length === 0) {
      this.cursor.hidden = true;
      this.tip.hidden = true;
      return;
    }
    const now = reduceMotion.matches ? this.tRef : displayNow();
    const t = now - (right - x) / this.pxPerMs;
    let best = this.points[0];
    for (const p of this.points) if (Math.abs(p.t - t) < Math.abs(best.t - t)) best = p;
    const px = right + (best.t - now) * this.pxPerMs;
    if (px < MARGIN.left - 1 || px > right + 1) {
      this.cursor.hidden = true;
      this.tip.hidden = true;
      return;
    }
    this.cursor.style.left = `${px}px`;
    this.cursor.style.top = `${MARGIN.top}px`;
    this.cursor.style.height = `${box.height - MARGIN.top - MARGIN.bottom}px`;
    const lines = [el('div', { class: 'tip-time', text: clock(best.t) })];
    this.def.series.forEach((sdef, k) => {
      const v = best.values[k];
      lines.push(
        el(
          'div',
          { class: `c${k + 1}` },
          el('span', { class: 'swatch' }),
          el('span', { class: 'label', text: ` ${sdef.label} ` }),
          el('span', { class: 'value', text: v === null ? '–' : this.fmt(v) }),
        ),
      );
    });
    this.tip.replaceChildren(...lines);
    this.cursor.hidden = false;
    this.tip.hidden = false;
    // Keep the read-out inside the plot, on the side away from the pointer.
    const tipWidth = this.tip.offsetWidth;
    const left = px + 12 + tipWidth > box.width ? px - 12 - tipWidth : px + 12;
    this.tip.style.left = `${Math.max(0, left)}px`;
    this.tip.style.top = `${MARGIN.top}px`;
  }

  // Recomputes the graph's points from every kept snapshot.
  update(snaps) {
    this.points = [];
    for (let i = 0; i < snaps.length; i++) {
      this.points.push({ t: snaps[i].time, values: this.def.series.map((s) => safe(() => s.read(snaps, i))) });
    }
    const last = this.points[this.points.length - 1];
    this.def.series.forEach((s, k) => {
      // The legend shows the newest known value of each series.
      let v = null;
      for (let i = this.points.length - 1; i >= 0 && v === null; i--) v = this.points[i].values[k];
      this.values[k].textContent = v === null ? '–' : this.fmt(v);
    });
    const drawn = this.points.filter((p) => p.values.some((v) => v !== null)).length;
    this.svgEl.setAttribute('data-points', String(drawn));
    if (last) this.svgEl.setAttribute('data-last-time', String(last.t));
    this.render();
  }

  render() {
    const box = this.plot.getBoundingClientRect();
    const W = Math.max(200, Math.round(box.width));
    const H = Math.max(120, Math.round(box.height));
    const s = this.svgEl;
    s.replaceChildren();
    s.setAttribute('viewBox', `0 0 ${W} ${H}`);
    s.setAttribute('width', W);
    s.setAttribute('height', H);
    const x0 = MARGIN.left;
    const x1 = W - MARGIN.right;
    const y0 = H - MARGIN.bottom;
    const y1 = MARGIN.top;
    const pxPerMs = (x1 - x0) / WINDOW_MS;
    const now = displayNow();
    this.tRef = now;
    this.pxPerMs = pxPerMs;

    s.append(svg('title', {}, `${this.def.title}, last two minutes`));
    s.append(svg('rect', { class: 'bg', x: 0, y: 0, width: W, height: H }));
    // The y scale covers what is visible now and a little more.
    let max = 0;
    for (const p of this.points) {
      if (p.t < now - WINDOW_MS - 5000) continue;
      for (const v of p.values) if (v !== null && v > max) max = v;
    }
    if (this.def.unit === 'percent') max = 100;
    const ticks = niceTicks(max || (this.def.unit === 'seconds' ? 0.001 : 1));
    const top = ticks[ticks.length - 1];
    const yOf = (v) => y0 - ((y0 - y1) * v) / top;

    const axes = svg('g', { 'aria-hidden': 'true' });
    for (const t of ticks) {
      const y = Math.round(yOf(t)) + 0.5;
      axes.append(svg('line', { class: 'grid', x1: x0, x2: x1, y1: y, y2: y }));
      axes.append(svg('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end' }, this.fmt(t)));
    }
    for (let sec = 0; sec <= WINDOW_MS / 1000; sec += 30) {
      const x = Math.round(x1 - sec * 1000 * pxPerMs) + 0.5;
      axes.append(svg('line', { class: 'axis', x1: x, x2: x, y1: y0, y2: y0 + 4 }));
      const label = sec === 0 ? 'now' : `−${sec} s`;
      const anchor = sec === 0 ? 'end' : sec === WINDOW_MS / 1000 ? 'start' : 'middle';
      axes.append(svg('text', { x, y: H - 6, 'text-anchor': anchor }, label));
    }
    axes.append(svg('line', { class: 'axis', x1: x0, x2: x1, y1: y0 + 0.5, y2: y0 + 0.5 }));
    s.append(axes);

    const clipId = `clip-${this.def.id}`;
    const defs = svg('defs');
    const clip = svg('clipPath', { id: clipId });
    clip.append(svg('rect', { x: x0, y: 0, width: x1 - x0, height: H }));
    defs.append(clip);
    s.append(defs);
    const clipped = svg('g', { 'clip-path': `url(#${clipId})` });
    // Points sit at x1 + (t - tRef) * k; the frame loop slides this group
    // left as time passes, so only one attribute changes per frame.
    this.slider = svg('g', { class: 'slider' });
    this.def.series.forEach((_, k) => {
      let d = '';
      let pen = false;
      for (const p of this.points) {
        const v = p.values[k];
        if (v === null || p.t < now - WINDOW_MS - 3000) {
          pen = false;
          continue;
        }
        const x = (x1 + (p.t - this.tRef) * pxPerMs).toFixed(1);
        const y = yOf(Math.min(v, top)).toFixed(1);
        d += `${pen ? 'L' : 'M'}${x} ${y}`;
        pen = true;
      }
      const label = this.def.series[k].label;
      if (d) this.slider.append(svg('path', { class: `series s${k + 1}`, d, 'data-series': label }));
    });
    clipped.append(this.slider);
    s.append(clipped);
    if (!this.points.some((p) => p.values.some((v) => v !== null))) {
      const at = { class: 'nodata', x: (x0 + x1) / 2, y: (y0 + y1) / 2, 'text-anchor': 'middle' };
      s.append(svg('text', at, 'waiting for data…'));
    }
    this.slide(now);
  }

  slide(now) {
    if (!this.slider) return;
    const dx = -(now - this.tRef) * this.pxPerMs;
    this.slider.setAttribute('transform', `translate(${dx.toFixed(2)} 0)`);
  }
}

function safe(fn) {
  try {
    const v = fn();
    return typeof v === 'number' && Number.isFinite(v) ? v : null;
  } catch {
    return null;
  }
}

// The divisor from recorded integer units to the rendered unit (1e6 for a
// `_seconds` histogram recorded in microseconds).
function histScale(snap, name) {
  for (const [key, h] of Object.entries(snap?.histograms || {})) {
    if (baseName(key) === name && Number(h?.scale) > 0) return Number(h.scale);
  }
  return 1;
}

// ---- the histogram view ------------------------------------------------------------

class HistogramView {
  constructor() {
    this.select = document.getElementById('histogram-select');
    this.plot = document.getElementById('histogram-plot');
    this.caption = document.getElementById('histogram-caption');
    this.scale = 'linear';
    this.snap = null;
    this.svgEl = svg('svg', { role: 'img', 'aria-labelledby': 'histogram-title', 'data-scale': 'linear' });
    this.plot.append(this.svgEl);
    this.select.addEventListener('change', () => this.render());
    for (const radio of document.querySelectorAll('input[name="hscale"]')) {
      radio.addEventListener('change', () => {
        if (radio.checked) {
          this.scale = radio.value;
          this.render();
        }
      });
    }
    const fig = this.plot.closest('figure');
    wireExport(fig.querySelector('.export'), 'histogram', 'Histogram', () => this.svgEl);
  }

  update(snap) {
    this.snap = snap;
    const names = [...new Set(Object.keys(snap.histograms || {}).map(baseName))].sort();
    const current = [...this.select.options].map((o) => o.value);
    if (names.join('\n') !== current.join('\n')) {
      const keep = this.select.value;
      this.select.replaceChildren(...names.map((n) => el('option', { value: n, text: n })));
      const preferred = ['eddy_http_request_duration_seconds', 'eddy_realtime_publish_seconds'];
      this.select.value = names.includes(keep) ? keep : preferred.find((p) => names.includes(p)) ?? names[0] ?? '';
    }
    this.render();
  }

  render() {
    const s = this.svgEl;
    const name = this.select.value;
    const box = this.plot.getBoundingClientRect();
    const W = Math.max(240, Math.round(box.width));
    const H = Math.max(160, Math.round(box.height));
    s.replaceChildren();
    s.setAttribute('viewBox', `0 0 ${W} ${H}`);
    s.setAttribute('width', W);
    s.setAttribute('height', H);
    s.setAttribute('data-scale', this.scale);
    s.setAttribute('data-metric', name);
    s.append(svg('title', {}, `Histogram of ${name || 'nothing yet'} (${this.scale} count axis)`));
    s.append(svg('rect', { class: 'bg', x: 0, y: 0, width: W, height: H }));
    const entries = [...buckets(this.snap, name)].sort((a, b) => a[0] - b[0]);
    const isSeconds = name.endsWith('_seconds');
    const fmtValue = isSeconds ? seconds : compact;
    const x0 = MARGIN.left;
    const x1 = W - MARGIN.right;
    const y0 = H - MARGIN.bottom - 14;
    const y1 = MARGIN.top;
    if (entries.length === 0) {
      s.append(svg('text', { class: 'nodata', x: W / 2, y: H / 2, 'text-anchor': 'middle' }, 'no observations yet'));
      this.caption.textContent = '';
      return;
    }
    const maxCount = Math.max(...entries.map((e) => e[1].count));
    let ticks;
    let yOf;
    if (this.scale === 'log') {
      // Powers of ten from 1; a bucket of 1 still shows as a sliver.
      const top = 10 ** Math.max(1, Math.ceil(Math.log10(maxCount)));
      ticks = [];
      for (let v = 1; v <= top; v *= 10) ticks.push(v);
      yOf = (v) => y0 - ((y0 - y1) * Math.log10(Math.max(v, 1))) / Math.log10(top) - (v > 0 ? 1 : 0);
    } else {
      ticks = niceTicks(maxCount);
      const top = ticks[ticks.length - 1];
      yOf = (v) => y0 - ((y0 - y1) * v) / top;
    }
    const axes = svg('g', { 'aria-hidden': 'true', class: 'y-axis' });
    for (const t of ticks) {
      const y = Math.round(yOf(t)) + 0.5;
      axes.append(svg('line', { class: 'grid', x1: x0, x2: x1, y1: y, y2: y }));
      axes.append(svg('text', { x: x0 - 6, y: y + 4, 'text-anchor': 'end', class: 'tick' }, compact(t)));
    }
    axes.append(svg('line', { class: 'axis', x1: x0, x2: x1, y1: y0 + 0.5, y2: y0 + 0.5 }));
    s.append(axes);
    // The value axis is logarithmic by construction: the server's buckets
    // are cut at 2^(1/8) steps (src/metrics/histogram.c), so bucket j covers
    // integer units [2^((j-1)/8), 2^(j/8)) and every bucket gets the same
    // width, its slot being its index; empty buckets stay visible as gaps.
    const unitScale = histScale(this.snap, name);
    const items = entries.map(([j, { upper, count }]) => ({ upper, count, j }));
    const jLo = Math.min(...items.map((b) => b.j)) - 1;
    const jHi = Math.max(...items.map((b) => b.j), jLo + 8);
    const xOf = (j) => x0 + ((x1 - x0) * (j - jLo)) / (jHi - jLo);
    const slot = (x1 - x0) / (jHi - jLo);
    const gap = slot > 4 ? Math.min(2, slot * 0.15) : 0;
    const bars = svg('g', { class: 'bars' });
    let total = 0;
    for (const { upper, count, j } of items) {
      total += count;
      const y = yOf(count);
      const rect = svg('rect', {
        class: 'bar',
        x: (xOf(j - 1) + gap / 2).toFixed(1),
        y: y.toFixed(1),
        width: Math.max(1, slot - gap).toFixed(1),
        height: Math.max(0, y0 - y).toFixed(1),
      });
      rect.append(svg('title', {}, `≤ ${fmtValue(upper)}: ${count.toLocaleString()}`));
      bars.append(rect);
    }
    s.append(bars);
    // Value ticks at powers of ten of the integer unit (1 µs, 10 µs, ...),
    // with 2 and 5 in between when the range is narrow.
    const xaxis = svg('g', { 'aria-hidden': 'true', class: 'x-axis' });
    const ticks10 = [];
    for (let p = 0; p <= 14; p++) {
      for (const m of [1, 2, 5]) {
        const v = m * 10 ** p;
        const j = 8 * Math.log2(v); // where bucket slots put v
        if (j >= jLo && j <= jHi) ticks10.push({ v, j, major: m === 1 });
      }
    }
    const majors = ticks10.filter((t) => t.major);
    for (const t of majors.length >= 3 ? majors : ticks10) {
      const x = Math.round(xOf(t.j)) + 0.5;
      xaxis.append(svg('line', { class: 'axis', x1: x, x2: x, y1: y0, y2: y0 + 4 }));
      xaxis.append(svg('text', { x, y: y0 + 16, 'text-anchor': 'middle' }, fmtValue(t.v / unitScale)));
    }
    s.append(xaxis);
    s.append(
      svg(
        'text',
        { x: (x0 + x1) / 2, y: H - 4, 'text-anchor': 'middle' },
        `${isSeconds ? 'time' : 'value'} (logarithmic; each bar one bucket)`,
      ),
    );
    const axis = this.scale === 'log' ? 'logarithmic' : 'linear';
    this.caption.textContent = `${total.toLocaleString()} observations in ${items.length} buckets; ${axis} count axis.`;
  }
}

// ---- export ----------------------------------------------------------------------------

const INLINE_PROPS = [
  'fill',
  'stroke',
  'stroke-width',
  'stroke-linejoin',
  'stroke-linecap',
  'opacity',
  'font-family',
  'font-size',
  'font-weight',
  'shape-rendering',
];

// A standalone copy of a live SVG: the styles that come from the page's CSS
// (colours, fonts, dark or light) are written onto each element.
function standalone(live, title) {
  const copy = live.cloneNode(true);
  const a = [live, ...live.querySelectorAll('*')];
  const b = [copy, ...copy.querySelectorAll('*')];
  a.forEach((node, i) => {
    if (node === live) return;
    const cs = getComputedStyle(node);
    const style = INLINE_PROPS.map((p) => `${p}:${cs.getPropertyValue(p)}`).join(';');
    b[i].setAttribute('style', style);
    b[i].removeAttribute('class');
  });
  copy.setAttribute('xmlns', SVG_NS);
  copy.setAttribute('version', '1.1');
  copy.removeAttribute('role');
  copy.removeAttribute('aria-labelledby');
  const t = copy.querySelector('title');
  if (t) t.textContent = `${title} — eddy, ${new Date().toISOString()}`;
  return copy;
}

function serialize(live, title) {
  const copy = standalone(live, title);
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(copy)}\n`;
}

function download(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function fileName(id, ext) {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  return `eddy-${id}-${stamp}.${ext}`;
}

async function exportSvg(live, id, title) {
  download(new Blob([serialize(live, title)], { type: 'image/svg+xml' }), fileName(id, 'svg'));
}

async function exportPng(live, id, title) {
  const text = serialize(live, title);
  const w = Number(live.getAttribute('width')) || 600;
  const h = Number(live.getAttribute('height')) || 220;
  const scale = Math.max(2, Math.ceil(devicePixelRatio || 1));
  const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml' }));
  try {
    const img = new Image(w, h);
    img.src = url;
    await img.decode();
    const canvas = el('canvas', { width: w * scale, height: h * scale });
    const ctx = canvas.getContext('2d');
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0, w, h);
    const blob = await new Promise((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('toBlob failed'))), 'image/png'),
    );
    download(blob, fileName(id, 'png'));
  } finally {
    URL.revokeObjectURL(url);
  }
}

function exportButtons(id, title, getSvg) {
  const group = el('div', { class: 'export', role: 'group', 'aria-label': `Export ${title}` });
  const button = (kind) =>
    el('button', {
      type: 'button',
      'data-export': kind,
      'data-testid': `export-${kind}-${id}`,
      'aria-label': `Export ${title} as ${kind.toUpperCase()}`,
      text: kind.toUpperCase(),
    });
  group.append(button('svg'), button('png'));
  wireExport(group, id, title, getSvg);
  return group;
}

function wireExport(group, id, title, getSvg) {
  group.addEventListener('click', (e) => {
    const button = e.target.closest('button[data-export]');
    if (!button) return;
    const run = button.dataset.export === 'png' ? exportPng : exportSvg;
    run(getSvg(), id, title).catch((err) => showProblem(`Export failed: ${err.message}`));
  });
}

// ---- services (/status) ----------------------------------------------------------------

function statValue(v) {
  if (typeof v === 'number') return (Number.isInteger(v) ? v : +v.toPrecision(4)).toLocaleString();
  if (v === null || v === undefined) return '–';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${s % 60} s`;
  return `${s} s`;
}

function renderStatus(status) {
  const rows = document.getElementById('service-rows');
  const services = Array.isArray(status.services) ? status.services : [];
  rows.replaceChildren(
    ...services.map((svc) => {
      const state = String(svc.state ?? 'unknown');
      const endpoints = el('td');
      const list = Array.isArray(svc.endpoints) ? svc.endpoints : [];
      if (list.length === 0) endpoints.append(el('span', { class: 'empty', text: 'none' }));
      for (const e of list) endpoints.append(el('span', { class: 'endpoint', text: String(e) }));
      const stats = el('dl', { class: 'stats' });
      for (const [k, v] of Object.entries(svc.stats || {})) {
        stats.append(el('div', {}, el('dt', { text: k.replace(/_/g, ' ') }), el('dd', { text: statValue(v) })));
      }
      return el(
        'tr',
        { 'data-testid': 'service-row', 'data-service': String(svc.name), 'data-state': state },
        el('td', { class: 'name', text: String(svc.name) }),
        el('td', {}, el('span', { class: 'badge', 'data-state': state, text: state })),
        endpoints,
        el('td', {}, stats),
      );
    }),
  );
  if (services.length === 0) {
    rows.append(el('tr', {}, el('td', { colspan: 4, class: 'empty', text: 'No services reported.' })));
  }
  const info = [];
  if (status.version) info.push(`eddyd ${status.version}`);
  if (status.pid) info.push(`pid ${status.pid}`);
  if (typeof status.uptime_s === 'number') info.push(`up ${duration(status.uptime_s)}`);
  document.querySelector('[data-testid="server-info"]').textContent = info.join(' · ');
}

async function pollStatus() {
  try {
    const res = await fetch('status', { cache: 'no-store', signal: AbortSignal.timeout(4000) });
    if (!res.ok) throw new Error(`GET /status answered ${res.status}`);
    renderStatus(await res.json());
    showProblem('');
  } catch (e) {
    showProblem(`Service overview unavailable: ${e.message}`);
  } finally {
    setTimeout(pollStatus, STATUS_EVERY_MS);
  }
}

function showProblem(text) {
  const meta = document.querySelector('[data-testid="server-info"]');
  if (text) meta.dataset.problem = text;
  else delete meta.dataset.problem;
  if (text) meta.textContent = text;
}

// ---- wiring ------------------------------------------------------------------------------

let clockOffset = 0; // server time minus local time, from the newest snapshot
function displayNow() {
  return Date.now() + clockOffset - LAG_MS;
}

const snaps = [];
const graphs = [];
let histogram;
let renderQueued = false;

function addSnapshot(data) {
  if (!data || typeof data.time !== 'number') return;
  const last = snaps[snaps.length - 1];
  if (last && data.time <= last.time) return;
  snaps.push(data);
  if (snaps.length > KEEP) snaps.splice(0, snaps.length - KEEP);
}

// History replays 120 snapshots at once: draw once after the burst.
function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  queueMicrotask(() => {
    renderQueued = false;
    const newest = snaps[snaps.length - 1];
    if (!newest) return;
    for (const g of graphs) g.update(snaps);
    histogram.update(newest);
    const t = document.querySelector('[data-testid="last-updated"]');
    t.dateTime = new Date(newest.time).toISOString();
    t.textContent = clock(newest.time);
  });
}

function frame() {
  if (!reduceMotion.matches) {
    const now = displayNow();
    for (const g of graphs) g.slide(now);
  }
  requestAnimationFrame(frame);
}

function showState({ state, transport, delay }) {
  const pill = document.querySelector('[data-testid="connection-state"]');
  pill.dataset.state = state;
  pill.dataset.transport = transport || '';
  const text = {
    connecting: 'connecting…',
    connected: `live (${transport})`,
    disconnected: `reconnecting${delay !== undefined ? ` in ${Math.ceil(delay / 1000)} s` : ''}`,
    closed: 'closed',
  }[state];
  pill.textContent = text ?? state;
}

function start() {
  const container = document.getElementById('graphs');
  for (const def of GRAPHS) graphs.push(new Graph(def, container));
  histogram = new HistogramView();
  const client = connect(undefined, {});
  client.on('state', showState);
  const problem = document.querySelector('[data-testid="metrics-problem"]');
  client.on('error', (e) => console.warn('eddy:', e.message));
  client.subscribe('eddy:metrics', {
    history: 120,
    onError(e) {
      problem.textContent = `The metrics channel is unavailable: ${e.message} (${e.code}).`;
      problem.hidden = false;
    },
    onMessage(data) {
      // The newest snapshot was made about now: it gives the server's clock.
      if (data && typeof data.time === 'number') clockOffset = data.time - Date.now();
      addSnapshot(data);
      queueRender();
    },
    onNotRecovered() {
      // Missed snapshots are gone: the graphs keep what they had, with a gap.
    },
  });
  window.eddyDashboard = { client, snapshots: snaps };
  let resizeQueued = 0;
  new ResizeObserver(() => {
    cancelAnimationFrame(resizeQueued);
    resizeQueued = requestAnimationFrame(() => {
      for (const g of graphs) g.render();
      if (histogram.snap) histogram.render();
    });
  }).observe(container);
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => queueRender());
  requestAnimationFrame(frame);
  pollStatus();
}

start();

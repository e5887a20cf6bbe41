// util.js: DOM construction and formatting helpers shared by the views.

/**
 * el builds an element: el('div', {class: 'x', 'data-testid': 'y', onclick: fn}, child, 'text', …).
 * Attributes with value null/undefined/false are skipped; children may be nodes, strings or arrays.
 */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k === 'html') node.innerHTML = v;
      else node.setAttribute(k, v === true ? '' : v);
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(node, c);
    else node.append(c instanceof Node ? c : String(c));
  }
}

/** svg builds an SVG element with attributes. */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) node.setAttribute(k, v);
  }
  append(node, children);
  return node;
}

export function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** clock formats a time as HH:MM:SS.mmm (local time). */
export function clock(iso) {
  const d = new Date(iso);
  if (isNaN(d)) return '';
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** stamp formats a time as YYYY/MM/DD HH:MM:SS (local time), like Segment's debugger. */
export function stamp(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '—';
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** ago formats a time relative to now: "12 s ago", "3 min ago", "2 h ago", "4 days ago". */
export function ago(iso) {
  const d = new Date(iso);
  if (!iso || isNaN(d)) return '—';
  const s = Math.max(0, (Date.now() - d.getTime()) / 1000);
  if (s < 60) return `${Math.round(s)} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  const days = Math.round(s / 86400);
  return `${days} day${days === 1 ? '' : 's'} ago`;
}

/** seconds formats a latency in seconds: "840 ms", "2.31 s", "4.2 min". */
export function seconds(s) {
  if (s === null || s === undefined || isNaN(s)) return '—';
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  if (s < 3600) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

/** nanos formats a Go time.Duration (JSON: integer nanoseconds): "500ms", "30s", "4h". */
export function nanos(ns) {
  if (!ns) return '0';
  const units = [['d', 86400e9], ['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6], ['µs', 1e3], ['ns', 1]];
  let rest = ns;
  const parts = [];
  for (const [u, size] of units) {
    if (rest >= size) {
      const q = Math.floor(rest / size);
      parts.push(q + u);
      rest -= q * size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

const numberFormat = new Intl.NumberFormat('en-US');
export const num = (n) => (n === null || n === undefined ? '—' : numberFormat.format(n));

export function bytes(n) {
  if (!n) return '0 B';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${Number.isInteger(n) ? n : n.toFixed(1)} ${units[i]}`;
}

/**
 * jsonHTML pretty-prints a JSON value as syntax-highlighted HTML (2-space indent).
 * The input is escaped before highlighting, so payload text can never become markup.
 */
export function jsonHTML(value) {
  const text = JSON.stringify(value, null, 2) ?? 'undefined';
  const escaped = text.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' }[c]));
  return escaped.replace(
    /("(?:\\u[a-fA-F0-9]{4}|\\[^u]|[^\\"])*")(\s*:)?|\b(true|false)\b|\bnull\b|-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?/g,
    (m, str, colon, bool) => {
      if (str) return colon ? `<span class="j-key">${str}</span>${colon}` : `<span class="j-str">${str}</span>`;
      if (bool) return `<span class="j-bool">${m}</span>`;
      if (m === 'null') return `<span class="j-null">null</span>`;
      return `<span class="j-num">${m}</span>`;
    },
  );
}

/** jsonBlock is a <pre> with highlighted JSON and a Copy button. */
export function jsonBlock(value, attrs = {}) {
  const pre = el('pre', { class: 'json', ...attrs });
  pre.innerHTML = jsonHTML(value);
  const copy = el('button', {
    class: 'copy', type: 'button', title: 'Copy JSON',
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(JSON.stringify(value, null, 2));
        copy.textContent = 'Copied';
      } catch {
        copy.textContent = 'Copy failed';
      }
      setTimeout(() => { copy.textContent = 'Copy'; }, 1200);
    },
  }, 'Copy');
  return el('div', { class: 'json-wrap' }, copy, pre);
}

const ident = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * jsHTML renders a value as a JavaScript literal (single-quoted strings, bare
 * identifier keys), the way Segment's Pretty tab shows a library call.
 */
export function jsHTML(value, indent = '') {
  const next = indent + '  ';
  if (value === null || value === undefined) return '<span class="j-null">null</span>';
  if (typeof value === 'string') return `<span class="j-str">${escapeHTML(jsString(value))}</span>`;
  if (typeof value === 'number') return `<span class="j-num">${value}</span>`;
  if (typeof value === 'boolean') return `<span class="j-bool">${value}</span>`;
  if (Array.isArray(value)) {
    if (!value.length) return '[]';
    return '[\n' + value.map((v) => next + jsHTML(v, next)).join(',\n') + '\n' + indent + ']';
  }
  const keys = Object.keys(value).filter((k) => value[k] !== undefined);
  if (!keys.length) return '{}';
  return '{\n' + keys.map((k) => {
    const key = ident.test(k) ? k : jsString(k);
    return `${next}<span class="j-key">${escapeHTML(key)}</span>: ${jsHTML(value[k], next)}`;
  }).join(',\n') + '\n' + indent + '}';
}

export function jsString(s) {
  return "'" + String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n') + "'";
}

/** debounce delays fn until ms have passed without another call. */
export function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}

export const KINDS = [
  ['gate_exposure', 'Gate'],
  ['config_exposure', 'Config'],
  ['experiment_exposure', 'Experiment'],
  ['layer_exposure', 'Layer'],
  ['custom', 'Custom'],
  ['config_change', 'Config change'],
  ['internal', 'Internal'],
];

export const kindLabel = (kind) => (KINDS.find(([k]) => k === kind) || [kind, kind || '?'])[1];

/** kindBadge is the coloured TYPE badge of an event row. */
export function kindBadge(kind) {
  return el('span', { class: `badge kind kind-${kind || 'unknown'}`, title: kind }, kindLabel(kind));
}

export const STATUS_LABEL = {
  pending: 'Pending',
  delivered: 'Delivered',
  filtered: 'Filtered',
  dead_lettered: 'Dead-lettered',
};

export function statusBadge(status, attrs = {}) {
  return el('span', { class: `badge status status-${status}`, ...attrs }, STATUS_LABEL[status] || status);
}

const CONN_LABEL = {
  connecting: 'Connecting…',
  live: 'Live',
  paused: 'Paused',
  reconnecting: 'Reconnecting…',
  error: 'Disconnected',
};

/** setConnection shows the state of the event stream in the top bar. */
export function setConnection(state) {
  const c = document.getElementById('conn');
  if (!c) return;
  c.dataset.state = state;
  c.lastElementChild.textContent = CONN_LABEL[state] || state;
}

/** showBanner shows a page-wide message; an empty text hides it. */
export function showBanner(text) {
  const b = document.getElementById('banner');
  if (!b) return;
  b.hidden = !text;
  b.textContent = text || '';
}

/** setChildren replaces a node's children; like el, it accepts nested arrays and skips null. */
export function setChildren(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

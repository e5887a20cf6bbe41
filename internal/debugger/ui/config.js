// config.js: the Config view — the effective configuration as /api/config
// returns it (secrets already masked by the bridge), laid out readably:
// general sections, then each destination with its filter, mapping and
// delivery settings; the JSON itself beside it.

import { api } from './api.js';
import { el, bytes, num, jsonBlock, kindLabel, showBanner, setChildren } from './util.js';

// Durations arrive as Go durations ("30s", "720h"), as in the YAML file.
const BYTES = new Set(['max_body_bytes', 'max_bytes', 'dead_letter_max_bytes', 'max_header_bytes']);
// Words written in capitals wherever they appear in a key.
const ACRONYMS = { api: 'API', url: 'URL', dsn: 'DSN', tls: 'TLS', ui: 'UI', ip: 'IP', id: 'ID', nats: 'NATS', cors: 'CORS', sdk: 'SDK', http: 'HTTP' };
const LABELS = {
  api_keys: 'API keys', nats_url: 'NATS URL', dsn: 'DSN', url: 'URL', api: 'API', cors_origins: 'CORS origins',
  user_id: 'userId from', anonymous_id: 'anonymousId from', ip_and_user_agent: 'IP and user agent',
  experiment_viewed: '"Experiment Viewed"', max_batch_events: 'Max batch events', requests_per_second: 'Requests per second',
};
const SECTION_TITLES = { intake: 'Intake (sources)', server: 'HTTP server', tls: 'TLS (HTTPS)', log: 'Durable log', specs: 'Config specs', ui: 'Debugger UI' };

/** label turns a key into words: read_header_timeout → "Read header timeout", cert_file under tls → "Cert file". */
const label = (k) => LABELS[k] || k.split('_').map((w, i) => ACRONYMS[w] || (i === 0 ? w.charAt(0).toUpperCase() + w.slice(1) : w)).join(' ');

export class ConfigView {
  constructor() {
    this.body = el('div', { class: 'config-body' }, el('p', { class: 'muted' }, 'Loading…'));
    this.raw = el('div', { class: 'config-raw' });
    this.element = el('section', { class: 'page config', id: 'config', 'data-testid': 'config-view' },
      el('div', { class: 'page-head' }, el('div', {}, el('h1', {}, 'Configuration'),
        el('p', { class: 'muted' }, 'The effective configuration of this bridge. Secrets are masked by the bridge before they reach the browser.'))),
      el('div', { class: 'config-grid' }, this.body, this.raw));
  }

  async show() {
    try {
      const cfg = await api.config();
      showBanner('');
      this.render(cfg);
    } catch (err) {
      this.body.replaceChildren(el('p', { class: 'callout bad' }, 'Cannot load the configuration: ' + err.message));
    }
  }

  hide() {}

  render(cfg) {
    const general = {};
    const sections = [];
    for (const [k, v] of Object.entries(cfg || {})) {
      if (k === 'destinations') continue;
      if (v && typeof v === 'object' && !Array.isArray(v)) sections.push([k, v]);
      else general[k] = v;
    }
    const dests = cfg.destinations || [];
    setChildren(this.body,
      el('div', { class: 'config-sections' },
        el('div', { class: 'card', 'data-testid': 'config-section', 'data-section': 'bridge' }, el('h2', {}, 'Bridge'), kv(general, [])),
        sections.map(([k, v]) => el('div', { class: 'card', 'data-testid': 'config-section', 'data-section': k },
          el('h2', {}, SECTION_TITLES[k] || label(k)), kv(v, [k])))),
      el('h2', { class: 'section-title' }, `Destinations (${dests.length})`),
      dests.length ? dests.map(destination) : el('p', { class: 'muted' }, 'No destinations configured.'));
    this.raw.replaceChildren(el('div', { class: 'raw-head' }, el('h3', {}, 'JSON'), el('span', { class: 'muted small' }, 'GET /api/config')),
      jsonBlock(cfg, { 'data-testid': 'config-json', id: 'config-json' }));
  }
}

function destination(d) {
  const m = d.mapping || {};
  const conn = d[d.type] || Object.entries(d).find(([k, v]) => !['name', 'type', 'mapping', 'delivery'].includes(k) && v && typeof v === 'object')?.[1];
  const types = m.types && m.types.length ? m.types.map((t) => el('span', { class: 'chip', title: kindLabel(t) }, t)) : el('span', { class: 'muted' }, 'all types');
  const { types: _t, include, exclude, ...rest } = m;
  return el('article', { class: 'card dest-config', 'data-testid': 'config-destination', 'data-destination': d.name },
    el('header', { class: 'card-head' }, el('h2', { 'data-key': 'name' }, d.name), el('span', { class: 'badge type', 'data-key': 'type' }, d.type)),
    el('div', { class: 'dest-cols' },
      el('div', {}, el('h3', {}, 'Connection'), conn ? kv(conn, [d.type]) : el('p', { class: 'muted' }, '—')),
      el('div', {}, el('h3', {}, 'Filter'),
        el('dl', { class: 'kv' },
          el('dt', { 'data-key': 'mapping.types' }, 'Event types'), el('dd', { 'data-testid': 'filter-types' }, types),
          el('dt', { 'data-key': 'mapping.include' }, 'Include'), el('dd', {}, value('include', include, [])),
          el('dt', { 'data-key': 'mapping.exclude' }, 'Exclude'), el('dd', {}, value('exclude', exclude, [])))),
      el('div', {}, el('h3', {}, 'Mapping'), kv(rest, ['mapping'])),
      el('div', {}, el('h3', {}, 'Delivery'), kv(d.delivery || {}, ['delivery']))));
}

/** kv renders an object as a definition list; nested objects become indented groups. */
function kv(obj, path) {
  const dl = el('dl', { class: 'kv' });
  for (const [k, v] of Object.entries(obj || {})) {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      dl.append(el('dt', { 'data-key': [...path, k].join('.') }, label(k)), el('dd', {}, Object.keys(v).length ? kv(v, [...path, k]) : el('span', { class: 'muted' }, '—')));
    } else {
      dl.append(el('dt', { 'data-key': [...path, k].join('.') }, label(k)), el('dd', { 'data-value': [...path, k].join('.') }, value(k, v, path)));
    }
  }
  return dl;
}

function value(k, v, path) {
  if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) return el('span', { class: 'muted' }, '—');
  if (Array.isArray(v)) return v.map((x) => el('span', { class: 'chip' + (masked(x) ? ' secret' : '') }, String(x)));
  if (typeof v === 'boolean') return el('span', { class: 'pill ' + (v ? 'ok' : 'off') }, v ? 'on' : 'off');
  if (typeof v === 'number') {
    if (BYTES.has(k)) return el('span', { class: 'mono', title: `${num(v)} bytes` }, v ? bytes(v) : '0 (none)');
    return el('span', { class: 'mono' }, num(v));
  }
  return el('span', { class: 'mono' + (masked(v) ? ' secret' : '') }, String(v));
}

const masked = (s) => typeof s === 'string' && s.includes('****');

// event.js: one event in detail — Pretty, Raw and Out tabs.
//
// Raw is what the SDK sent (the normalised Statsig event and the request
// facts); Out is, per destination, the outgoing message or why there is none
// (filtered, dead-lettered); Pretty re-creates the library call the way
// Segment's debugger does: analytics.track('<userId>', '<event>', {…}).

import { api, ApiError } from './api.js';
import { el, stamp, jsonBlock, jsHTML, jsString, escapeHTML, kindBadge, statusBadge, STATUS_LABEL } from './util.js';

const TABS = [
  ['pretty', 'Pretty'],
  ['raw', 'Raw'],
  ['out', 'Out'],
];

let lastTab = 'raw'; // the tab a newly opened event starts on: the one used last

export class EventDetail {
  constructor({ onClose }) {
    this.onClose = onClose;
    this.id = '';
    this.data = null;
    this.seq = 0;
    this.refreshTimer = 0;
    this.element = el('div', { class: 'event-detail', id: 'event-detail', 'data-testid': 'event-detail' });
  }

  async load(id) {
    if (id === this.id && this.data) return;
    this.id = id;
    this.data = null;
    this.element.dataset.eventId = id;
    this.element.dataset.state = 'loading';
    this.element.replaceChildren(this.header(null), el('div', { class: 'detail-body muted pad' }, 'Loading…'));
    await this.fetch();
  }

  /** refreshSoon re-reads the event after an outcome arrived (coalesced). */
  refreshSoon() {
    if (this.refreshTimer || !this.id) return;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = 0;
      this.fetch();
    }, 300);
  }

  async fetch() {
    const id = this.id;
    const seq = ++this.seq;
    try {
      const data = await api.event(id);
      if (seq !== this.seq) return;
      this.data = data;
      this.render();
    } catch (err) {
      if (seq !== this.seq) return;
      this.element.dataset.state = 'error';
      const msg = err instanceof ApiError && err.status === 404
        ? 'This event is no longer in the buffer: the debugger keeps the 500 most recent events.'
        : 'Could not load the event: ' + err.message;
      this.element.replaceChildren(this.header(null), el('div', { class: 'detail-body pad' }, el('p', { class: 'callout warn', 'data-testid': 'detail-error' }, msg)));
    }
  }

  header(d) {
    const close = el('button', { class: 'icon-btn', type: 'button', title: 'Close (Esc)', 'aria-label': 'Close', 'data-testid': 'detail-close', onclick: () => this.onClose() }, '×');
    if (!d) return el('header', { class: 'detail-head' }, el('div', { class: 'grow' }, el('h2', { class: 'mono' }, this.id)), close);
    const e = d.event || {};
    const outs = d.outputs || [];
    return el('header', { class: 'detail-head' },
      el('div', { class: 'grow' },
        el('div', { class: 'title-line' }, el('h2', { 'data-testid': 'detail-name' }, e.eventName || '(no name)'), kindBadge(e.kind)),
        el('div', { class: 'sub' },
          el('span', { title: e.receivedAt }, stamp(e.receivedAt)),
          el('span', { class: 'mono', title: 'Event ID (the Segment messageId)' }, e.id),
          (e.userId || e.stableId) ? el('span', {}, e.userId || e.stableId) : null),
        el('div', { class: 'chips' }, outs.map((o) => el('span', { class: `chip status-${o.status}`, title: o.reason || STATUS_LABEL[o.status] },
          el('i', { class: `dot status-${o.status}` }), o.destination, ' · ', STATUS_LABEL[o.status] || o.status)))),
      close);
  }

  render() {
    const d = this.data;
    const tabButtons = TABS.map(([key, label]) => el('button', {
      type: 'button', role: 'tab', class: 'tab', id: 'tab-' + key, 'data-testid': 'tab-' + key, 'data-tab': key,
      'aria-selected': String(key === lastTab),
      onclick: () => this.switchTab(key),
    }, label, key === 'out' ? this.outBadge(d) : null));
    this.panels = {
      pretty: el('div', { class: 'tab-panel', role: 'tabpanel', 'data-testid': 'panel-pretty' }, this.pretty(d)),
      raw: el('div', { class: 'tab-panel', role: 'tabpanel', 'data-testid': 'panel-raw' }, this.raw(d)),
      out: el('div', { class: 'tab-panel', role: 'tabpanel', 'data-testid': 'panel-out' }, this.out(d)),
    };
    const body = el('div', { class: 'detail-body' }, Object.values(this.panels));
    const scroll = this.element.querySelector('.detail-body')?.scrollTop || 0;
    this.element.dataset.state = 'loaded';
    this.element.replaceChildren(this.header(d), el('div', { class: 'tabs', role: 'tablist' }, tabButtons), body);
    body.scrollTop = scroll;
    this.switchTab(lastTab);
  }

  outBadge(d) {
    const bad = (d.outputs || []).filter((o) => o.status === 'dead_lettered').length;
    return bad ? el('span', { class: 'count-bubble' }, bad) : null;
  }

  switchTab(key) {
    lastTab = key;
    for (const b of this.element.querySelectorAll('.tab')) b.setAttribute('aria-selected', String(b.dataset.tab === key));
    for (const [k, p] of Object.entries(this.panels || {})) p.hidden = k !== key;
  }

  raw(d) {
    const r = d.request || {};
    const facts = [
      ['Source', r.source], ['SDK', [r.sdkType, r.sdkVersion].filter(Boolean).join(' ')],
      ['Received', r.receivedAt ? `${stamp(r.receivedAt)} (${r.receivedAt})` : ''],
      ['Client time', r.clientTime], ['Session', r.sessionId], ['stableID', r.stableId], ['Batch', r.batchId],
    ].filter(([, v]) => v);
    return [
      el('h3', {}, 'Request'),
      el('dl', { class: 'facts', 'data-testid': 'request-facts' }, facts.map(([k, v]) => [el('dt', {}, k), el('dd', { class: 'mono' }, v)])),
      el('h3', {}, 'Event as received'),
      jsonBlock(d.raw, { 'data-testid': 'raw-json', id: 'raw-json' }),
    ];
  }

  out(d) {
    const outs = d.outputs || [];
    if (!outs.length) return el('p', { class: 'muted' }, 'No destination has reported on this event yet.');
    return outs.map((o) => {
      const problem = o.status === 'filtered' || o.status === 'dead_lettered';
      return el('section', { class: `out-card status-${o.status}`, 'data-testid': 'out-destination', 'data-destination': o.destination, 'data-status': o.status },
        el('header', {},
          el('strong', {}, o.destination),
          statusBadge(o.status, { 'data-testid': 'out-status' }),
          el('span', { class: 'muted' }, o.attempts ? `${o.attempts} attempt${o.attempts === 1 ? '' : 's'}` : ''),
          el('span', { class: 'muted grow right', title: o.at || '' }, o.at ? stamp(o.at) : '')),
        problem || o.reason || o.note ? el('div', { class: `callout ${o.status === 'dead_lettered' ? 'bad' : problem ? 'info' : 'plain'}`, 'data-testid': 'out-reason' },
          el('div', { class: 'callout-title' }, o.status === 'dead_lettered' ? 'Dead-lettered: ' : o.status === 'filtered' ? 'Filtered: ' : '', o.reason || '(no reason given)'),
          o.note ? el('div', { class: 'callout-note' }, o.note) : null) : null,
        o.payload
          ? jsonBlock(o.payload, { 'data-testid': 'out-json', 'data-destination': o.destination })
          : el('p', { class: 'muted small' }, o.status === 'pending' ? 'Waiting for the destination to report…' : 'No outgoing message.'),
        o.extra ? el('div', { class: 'also' }, el('h4', {}, 'Also sent for this event', o.extra.event ? ` (${o.extra.event})` : ''),
          jsonBlock(o.extra, { 'data-testid': 'out-extra-json', 'data-destination': o.destination })) : null);
    });
  }

  pretty(d) {
    // One rendering per distinct outgoing message (destinations usually agree).
    const groups = new Map();
    for (const o of d.outputs || []) {
      if (!o.payload || typeof o.payload !== 'object') continue;
      const msgs = (Array.isArray(o.payload) ? o.payload : [o.payload]).concat(o.extra && typeof o.extra === 'object' ? [o.extra] : []);
      for (const m of msgs) {
        if (!m || m.type && m.type !== 'track') continue;
        const key = JSON.stringify([m.userId, m.anonymousId, m.event, m.properties]);
        if (!groups.has(key)) groups.set(key, { msg: m, dests: [] });
        groups.get(key).dests.push(o.destination);
      }
    }
    const blocks = [];
    for (const { msg, dests } of groups.values()) {
      blocks.push(el('div', { class: 'pretty-block' },
        el('div', { class: 'muted small' }, 'Sent to ', dests.join(', ')),
        prettyCall(msg.userId || msg.anonymousId || '', msg.event, msg.properties || {})));
    }
    if (!blocks.length) {
      // Nothing mapped (pending, filtered or dead-lettered before mapping): render the event as received.
      const raw = d.raw || {};
      const user = raw.user || {};
      const props = {};
      if (raw.value !== undefined && raw.value !== null && raw.value !== '') props.value = raw.value;
      if (raw.metadata) Object.assign(props, raw.metadata);
      const uid = user.userID || (user.customIDs && user.customIDs.stableID) || d.event?.stableId || '';
      blocks.push(el('div', { class: 'pretty-block' },
        el('div', { class: 'muted small' }, 'As received (no outgoing message yet)'),
        prettyCall(uid, raw.eventName || d.event?.eventName, props)));
    }
    return el('div', { 'data-testid': 'pretty' }, blocks);
  }
}

function prettyCall(userId, event, properties) {
  const code = el('pre', { class: 'code pretty', 'data-testid': 'pretty-code' });
  code.innerHTML = `<span class="j-fn">analytics</span>.<span class="j-fn">track</span>(` +
    `<span class="j-str">${escapeHTML(jsString(userId))}</span>, <span class="j-str">${escapeHTML(jsString(event || ''))}</span>, ` +
    `${jsHTML(properties)})`;
  return code;
}

// delivery.js: the Delivery view — per destination, Segment's Event Delivery
// page: counts for a window, latency percentiles, throughput over time, error
// reasons with a sample each, and a button that re-drives the dead letters.

import { api } from './api.js';
import { el, num, seconds, ago, stamp, jsonBlock, showBanner } from './util.js';
import { ThroughputChart } from './chart.js';

const WINDOWS = [['10m', 'Last 10 min'], ['1h', 'Last hour'], ['24h', 'Last 24 h']];
const REFRESH_MS = 3000;
const BUCKET = { '10m': '10 s', '1h': '1 min', '24h': '15 min' }; // the API's bucket sizes

export class DeliveryView {
  constructor() {
    this.window = '1h';
    this.cards = new Map();
    this.seq = 0;
    this.windowButtons = WINDOWS.map(([w, label]) => el('button', {
      type: 'button', class: 'seg', 'data-window': w, 'data-testid': 'window-' + w,
      'aria-pressed': String(w === this.window), onclick: () => this.setWindow(w),
    }, label));
    this.updated = el('span', { class: 'muted small', 'data-testid': 'delivery-updated' }, '');
    this.list = el('div', { class: 'cards' });
    this.empty = el('div', { class: 'empty', hidden: true }, el('strong', {}, 'No destinations configured'),
      el('p', {}, 'Add a destination to the configuration (see the Config view).'));
    this.element = el('section', { class: 'page delivery', id: 'delivery', 'data-testid': 'delivery-view' },
      el('div', { class: 'page-head' },
        el('div', {}, el('h1', {}, 'Event Delivery'),
          el('p', { class: 'muted' }, 'Per destination: what was delivered, retried, filtered or dead-lettered, and how fast.')),
        el('div', { class: 'page-tools' }, this.updated,
          el('div', { class: 'segmented', role: 'group', 'aria-label': 'Time window', 'data-testid': 'window-select' }, this.windowButtons))),
      this.list, this.empty);
  }

  show() {
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => { if (!document.hidden) this.load(); }, REFRESH_MS);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = 0;
  }

  setWindow(w) {
    this.window = w;
    for (const b of this.windowButtons) b.setAttribute('aria-pressed', String(b.dataset.window === w));
    this.element.dataset.window = w;
    this.load();
  }

  async load() {
    const seq = ++this.seq;
    try {
      const res = await api.delivery(this.window);
      if (seq !== this.seq) return;
      showBanner('');
      this.render(res);
    } catch (err) {
      if (seq !== this.seq) return;
      showBanner(err.status === 401 || err.status === 403
        ? 'This debugger needs an access token: open it with ?token=…'
        : 'Cannot load delivery statistics: ' + err.message);
    }
  }

  render(res) {
    const seen = new Set();
    const dests = res.destinations || [];
    dests.forEach((d, i) => {
      seen.add(d.name);
      let card = this.cards.get(d.name);
      if (!card) {
        card = new DeliveryCard(d.name);
        this.cards.set(d.name, card);
      }
      if (this.list.children[i] !== card.element) this.list.insertBefore(card.element, this.list.children[i] || null);
      card.update(d, res.window || this.window);
    });
    for (const [name, card] of this.cards) {
      if (!seen.has(name)) { card.element.remove(); this.cards.delete(name); }
    }
    this.empty.hidden = dests.length > 0;
    this.updated.textContent = 'Updated ' + new Date().toLocaleTimeString();
  }
}

class DeliveryCard {
  constructor(name) {
    this.name = name;
    this.open = new Set(); // reasons (type NUL reason) whose samples are expanded, kept across refreshes
    this.samples = new Map(); // same key → {list, index}
    this.title = el('h2', {}, name);
    this.type = el('span', { class: 'badge type' });
    this.state = el('span', { class: 'pill', 'data-testid': 'delivery-state' });
    this.lag = el('span', { class: 'lag muted', 'data-testid': 'lag' });
    this.redriveBtn = el('button', { type: 'button', class: 'btn', 'data-testid': 'redrive', onclick: () => this.askRedrive() }, 'Re-drive dead letters');
    this.redriveBox = el('div', { class: 'redrive' }, this.redriveBtn);
    this.lastError = el('div', { class: 'callout bad', 'data-testid': 'last-error', hidden: true });
    this.health = el('div', { class: 'callout', 'data-testid': 'health', hidden: true });
    this.metrics = el('div', { class: 'metrics' });
    this.chart = new ThroughputChart();
    this.bucket = el('span', { class: 'h3-sub' });
    this.reasons = el('div', { class: 'reasons', 'data-testid': 'reasons' });
    this.element = el('article', { class: 'card delivery-card', 'data-testid': 'delivery-card', 'data-destination': name },
      el('header', { class: 'card-head' }, this.title, this.type, this.state, this.lag, el('span', { class: 'grow' }), this.redriveBox),
      this.health,
      this.lastError,
      this.metrics,
      el('h3', {}, 'Throughput', this.bucket),
      this.chart.element,
      el('h3', {}, 'Delivery issues'),
      this.reasons);
  }

  update(d, window) {
    this.data = d;
    this.type.textContent = d.type || '';
    this.element.dataset.paused = String(Boolean(d.paused));
    this.element.dataset.yielding = String(Boolean(d.yielding));
    // A warehouse giving way to intake and streaming delivery is behind
    // on purpose (warehouse.max_lag), not stuck: say which.
    this.state.textContent = d.paused ? 'Paused' : d.yielding ? 'Waiting for a free CPU' : 'Delivering';
    this.state.className = 'pill ' + (d.paused ? 'paused' : d.yielding ? 'off' : 'ok');
    this.state.title = d.paused ? 'Delivery is paused (the destination refused our credentials); events wait in the log.'
      : d.yielding ? 'Intake and streaming destinations are using every CPU: this warehouse gives way and loads once a CPU is free, or once it is warehouse.max_lag behind; events wait in the log.' : '';
    this.lag.textContent = d.lag === null || d.lag === undefined ? 'Lag unknown' : d.lag ? `${num(d.lag)} batch${d.lag === 1 ? '' : 'es'} behind` : 'Caught up';
    this.lag.dataset.value = String(d.lag ?? '');
    this.lag.title = 'Log messages (request batches) not yet delivered to this destination';
    // The check of the target at start: unreachable is an alarm; a note
    // says what the check could not verify.
    const h = d.health || {};
    const checked = Boolean(h.checked) && !h.checked.startsWith('0001-');
    this.health.hidden = !checked || (h.ok && !h.detail);
    this.health.className = 'callout ' + (h.ok ? 'muted small' : 'bad');
    this.health.dataset.ok = String(Boolean(h.ok));
    this.health.replaceChildren(el('span', { class: 'callout-title' }, h.ok ? 'Reachable: ' : 'Not reachable: '), h.detail || '');
    this.lastError.hidden = !d.lastError;
    this.lastError.replaceChildren(el('span', { class: 'callout-title' }, 'Last error: '), d.lastError || '');

    const c = d.counts || {};
    const l = d.latency || {};
    const attempted = (c.delivered || 0) + (c.deadLettered || 0);
    const rate = attempted ? ((c.delivered || 0) / attempted) * 100 : null;
    const metric = (label, value, testid, cls, sub) => el('div', { class: 'metric ' + (cls || '') },
      el('div', { class: 'metric-label' }, label),
      el('div', { class: 'metric-value', 'data-testid': testid, 'data-value': String(value ?? 0) }, num(value ?? 0)),
      sub ? el('div', { class: 'metric-sub' }, sub) : null);
    this.metrics.replaceChildren(
      el('div', { class: 'metric wide ok' },
        el('div', { class: 'metric-label' }, 'Delivered'),
        el('div', { class: 'metric-value', 'data-testid': 'count-delivered', 'data-value': String(c.delivered || 0) }, num(c.delivered || 0)),
        el('div', { class: 'metric-sub' },
          el('span', { 'data-testid': 'count-delivered-first-try', 'data-value': String(c.deliveredFirstTry || 0) }, `${num(c.deliveredFirstTry || 0)} on first try`),
          ' · ',
          el('span', { 'data-testid': 'count-delivered-retry', 'data-value': String(c.deliveredRetry || 0) }, `${num(c.deliveredRetry || 0)} on retry`),
          rate === null ? null : el('span', { class: 'rate-pct' }, ` · ${rate >= 99.95 ? '100' : rate.toFixed(1)}% success`))),
      metric('Retrying', c.retrying, 'count-retrying', c.retrying ? 'warn' : '', c.failedRequests ? `${num(c.failedRequests)} failed attempt${c.failedRequests === 1 ? '' : 's'}` : 'pending retry'),
      metric('Filtered', c.filtered, 'count-filtered', '', 'by filter or mapping'),
      metric('Dead-lettered', c.deadLettered, 'count-dead-lettered', c.deadLettered ? 'bad' : '', 'not delivered'),
      el('div', { class: 'metric latency', title: 'From receipt by the bridge to acceptance by the destination' },
        el('div', { class: 'metric-label' }, 'Latency'),
        el('div', { class: 'lat-row' },
          ['p50', 'p95', 'p99'].map((p) => el('div', {},
            el('span', { class: 'lat-k' }, p.toUpperCase()),
            el('span', { class: 'lat-v', 'data-testid': 'latency-' + p, 'data-value': String(l[p] ?? '') }, l.count === 0 ? '—' : seconds(l[p]))))),
        el('div', { class: 'metric-sub' }, l.count === undefined ? 'receipt → accepted' : `receipt → accepted · ${num(l.count)} measured`)));

    this.chart.update(d.series || []);
    this.bucket.textContent = BUCKET[window] ? `events per ${BUCKET[window]}` : '';
    this.renderReasons(d.reasons || []);
    this.element.dataset.window = window;
  }

  renderReasons(reasons) {
    this.lastReasons = reasons;
    if (!reasons.length) {
      this.reasons.replaceChildren(el('p', { class: 'muted small' }, 'No delivery issues in this window.'));
      return;
    }
    const rows = [];
    for (const r of reasons) {
      const key = (r.type || '') + '\u0000' + r.reason;
      const open = this.open.has(key);
      const toggle = () => {
        if (open) this.open.delete(key);
        else {
          this.open.add(key);
          this.loadSamples(r, key);
        }
        this.renderReasons(this.lastReasons);
      };
      rows.push(el('tr', {
        class: 'reason-row' + (open ? ' open' : ''), 'data-testid': 'reason-row', 'data-reason': r.reason, 'data-type': r.type || '',
        tabindex: '0', 'aria-expanded': String(open), onclick: toggle,
        onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); } },
      },
      el('td', { class: 'reason' }, el('span', { class: 'caret' }, open ? '▾' : '▸'), r.reason),
      el('td', {}, r.type === 'retry' ? el('span', { class: 'badge warnb' }, 'Retried')
        : r.type === 'filtered' ? el('span', { class: 'badge' }, 'Filtered')
          : el('span', { class: 'badge badb' }, 'Dead-lettered')),
      el('td', { class: 'num' }, num(r.count)),
      el('td', { title: stamp(r.lastSeen) }, ago(r.lastSeen))));
      if (open) rows.push(el('tr', { class: 'sample-row' }, el('td', { colspan: '4' }, this.sampleView(r, key))));
    }
    this.reasons.replaceChildren(el('table', { class: 'table' },
      el('thead', {}, el('tr', {}, el('th', {}, 'Reason'), el('th', { class: 'typecol' }, 'Outcome'), el('th', { class: 'num' }, 'Count'), el('th', {}, 'Last seen'))),
      el('tbody', {}, rows)));
  }

  async loadSamples(r, key) {
    const st = this.samples.get(key) || { list: r.sample ? [r.sample] : [], index: 0 };
    this.samples.set(key, st);
    try {
      const res = await api.samples(this.name, r.type || 'dead_letter', r.reason);
      if (res.samples && res.samples.length) {
        st.list = res.samples;
        st.index = Math.min(st.index, st.list.length - 1);
      }
    } catch { /* keep the sample from /api/delivery */ }
    if (this.open.has(key)) this.renderReasons(this.lastReasons);
  }

  sampleView(r, key) {
    const st = this.samples.get(key) || { list: r.sample ? [r.sample] : [], index: 0 };
    const s = st.list[st.index];
    if (!s) return el('p', { class: 'muted' }, 'No sample kept.');
    const page = (d) => (e) => {
      e.stopPropagation();
      st.index = (st.index + d + st.list.length) % st.list.length;
      this.renderReasons(this.lastReasons);
    };
    const pager = st.list.length > 1 ? el('span', { class: 'pager' },
      el('button', { type: 'button', class: 'btn mini', 'aria-label': 'Newer sample', onclick: page(-1) }, '‹'),
      `Sample ${st.index + 1} of ${st.list.length}`,
      el('button', { type: 'button', class: 'btn mini', 'aria-label': 'Older sample', onclick: page(1) }, '›')) : el('span', { class: 'pager' }, 'Most recent sample');
    const facts = [
      s.at ? el('span', { title: s.at }, stamp(s.at)) : null,
      s.eventName ? el('span', {}, 'Event ', el('strong', {}, s.eventName)) : null,
      s.eventId ? el('a', { href: '#/event/' + encodeURIComponent(s.eventId), class: 'mono', title: 'Open in the Live view (while it is in the buffer)' }, s.eventId) : null,
      s.sdkType ? el('span', {}, s.sdkType) : null,
      s.attempt ? el('span', {}, `attempt ${s.attempt}`) : null,
      s.events > 1 ? el('span', {}, `${num(s.events)} events in the request`) : null,
    ];
    return el('div', { class: 'sample', 'data-testid': 'reason-sample' },
      el('div', { class: 'sample-head' }, pager, facts),
      s.detail ? el('div', { class: 'callout bad small mono' }, s.detail) : null,
      el('div', { class: 'sample-cols' },
        s.event ? el('div', {}, el('h4', {}, 'You sent'), jsonBlock(s.event)) : null,
        s.payload !== undefined ? el('div', {}, el('h4', {}, 'Request to destination'), jsonBlock(s.payload)) : null,
        !s.event && s.payload === undefined ? el('div', {}, jsonBlock(s)) : null));
  }

  askRedrive() {
    const confirmBtn = el('button', { type: 'button', class: 'btn danger', 'data-testid': 'redrive-confirm', onclick: () => this.redrive() }, 'Re-drive');
    const cancel = el('button', { type: 'button', class: 'btn ghost', 'data-testid': 'redrive-cancel', onclick: () => this.redriveBox.replaceChildren(this.redriveBtn) }, 'Cancel');
    this.redriveBox.replaceChildren(el('span', { class: 'confirm-text' }, `Deliver ${this.name}'s dead letters again?`), confirmBtn, cancel);
    confirmBtn.focus();
  }

  async redrive() {
    this.redriveBox.replaceChildren(el('span', { class: 'muted' }, 'Re-driving…'));
    let result;
    try {
      const res = await api.redrive(this.name);
      const n = res.redriven ?? 0;
      const parts = [];
      if (res.filtered) parts.push(`${num(res.filtered)} filtered`);
      if (res.deadLettered) parts.push(`${num(res.deadLettered)} dead-lettered again`);
      if (res.left) parts.push(`${num(res.left)} left`);
      const text = (n ? `Re-drove ${num(n)} dead letter${n === 1 ? '' : 's'}` : 'Nothing delivered') +
        (parts.length ? ` (${parts.join(', ')})` : '') + (res.error ? ` · ${res.error}` : '');
      result = el('span', {
        class: 'redrive-result ' + (res.error || res.deadLettered ? 'bad' : 'ok'), 'data-testid': 'redrive-result', 'data-redriven': String(n),
      }, !n && !parts.length && !res.error ? 'No dead letters to re-drive' : text);
    } catch (err) {
      const msg = err.status === 409 ? 'A re-drive is already running' : 'Re-drive failed: ' + err.message;
      result = el('span', { class: 'redrive-result bad', 'data-testid': 'redrive-result', 'data-error': 'true' }, msg);
    }
    this.redriveBox.replaceChildren(result, this.redriveBtn);
  }
}

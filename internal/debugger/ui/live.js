// live.js: the Live view — events as they arrive over SSE, newest on top.
//
// The page must never freeze at high rates, nor take the CPU of a bridge it
// shares a machine with: SSE messages only append to queues; one
// requestAnimationFrame callback turns them into DOM, at most once a second
// under load. The list is windowed: it keeps up to CAPACITY events in memory
// but only the rows in view (plus a few) are in the DOM, between two spacer
// rows that give the scrollbar its full height. A frame then lays out,
// paints and rasterises a screenful of rows instead of 500 (a Chromium trace
// of the 500-row table: ≈ 90 ms of main-thread work per update, mostly
// pre-paint, layout and paint of rows nobody sees). Queues are capped too,
// so a background tab (no animation frames) holds at most CAPACITY pending
// events.

import { api, streamURL, ApiError } from './api.js';
import { el, clock, stamp, debounce, KINDS, kindBadge, STATUS_LABEL, setConnection, showBanner } from './util.js';
import { EventDetail } from './event.js';

const CAPACITY = 500; // like Segment's debugger: the 500 most recent events
const REFETCH_MS = 1000; // with a filter active, new events re-query the server at most this often
const FLUSH_MS = 100; // at most 10 DOM updates a second while traffic is light
// Under load a flush re-lays out up to 500 rows; once a second is plenty for
// a human and keeps a watching browser from taking the bridge's CPU when both
// run on one machine.
const BUSY_FLUSH_MS = 1000;
const BUSY_RATE = 50; // events/s (the bridge's received rate, from `event: stats`)
const ROW_H = 35; // px: td height 34 + 1 border (measured from the first row rendered)
const OVERSCAN = 8; // rows rendered above and below the visible ones

export class LiveView {
  constructor() {
    this.list = []; // summaries in the list, newest first (≤ CAPACITY)
    this.byId = new Map(); // id → summary, for every event in this.list
    this.rows = new Map(); // id → tr, the rows in the DOM (a window of this.list)
    this.rowH = ROW_H;
    this.measured = false;
    this.queued = []; // summaries received while live, not yet rendered (arrival order)
    this.held = []; // summaries received while paused (arrival order, capped)
    this.heldCount = 0; // events that arrived while paused (uncapped)
    this.outcomes = new Map(); // id → summary whose dots need a repaint
    this.paused = false;
    this.filters = { q: '', value: '', type: '', status: '', name: '', user: '' };
    this.frame = 0;
    this.lastFlush = 0;
    this.fetchSeq = 0;
    this.lastFetch = 0;
    this.refetchTimer = 0;
    this.selected = '';
    this.filled = false;
    this.stats = { receivedPerSec: 0, dropped: 0 };
    this.statsDirty = false;
    this.shownCount = -1;
    this.toggleState = '';
    this.perf = { flushes: 0, flushMs: 0, maxFlushMs: 0, events: 0, outcomes: 0 }; // for tests and benchmarks
    this.build();
  }

  get filtered() {
    const f = this.filters;
    return Boolean(f.q || f.value || f.type || f.status || f.name || f.user);
  }

  build() {
    const onFilter = debounce(() => this.refetch(true), 250);
    const input = (key, attrs) => el('input', {
      type: 'search', autocomplete: 'off', spellcheck: 'false', ...attrs,
      oninput: (e) => { this.filters[key] = e.target.value.trim(); onFilter(); },
    });

    this.toggle = el('button', {
      class: 'live-toggle', type: 'button', id: 'live-toggle', 'data-testid': 'live-toggle',
      'data-state': 'live', 'aria-pressed': 'false', title: 'Pause the list (events keep arriving)',
      onclick: () => this.setPaused(!this.paused),
    });
    this.pausedCount = el('button', {
      class: 'paused-count', type: 'button', id: 'paused-count', 'data-testid': 'paused-count',
      'data-count': '0', hidden: true, title: 'Resume and show them', onclick: () => this.setPaused(false),
    });
    this.search = input('q', {
      class: 'search', id: 'search', 'data-testid': 'search',
      placeholder: 'Search the raw payload…', 'aria-label': 'Search the raw payload',
    });
    this.typeSelect = el('select', {
      id: 'filter-type', 'data-testid': 'filter-type', 'aria-label': 'Event type',
      onchange: (e) => { this.filters.type = e.target.value; this.refetch(true); },
    }, el('option', { value: '' }, 'All types'), KINDS.map(([k, label]) => el('option', { value: k }, label)));
    // Segment's debugger searches property values apart from the raw
    // payload, and filters Allowed (some destination takes the event) from
    // Blocked (every destination filtered it out); all filters combine.
    this.valueInput = input('value', { id: 'filter-value', 'data-testid': 'filter-value', placeholder: 'Property value', 'aria-label': 'Search property values only' });
    this.statusSelect = el('select', {
      id: 'filter-status', 'data-testid': 'filter-status', 'aria-label': 'Allowed or blocked',
      onchange: (e) => { this.filters.status = e.target.value; this.refetch(true); },
    }, el('option', { value: '' }, 'Allowed and blocked'), el('option', { value: 'allowed' }, 'Allowed'), el('option', { value: 'blocked' }, 'Blocked'));
    this.nameInput = input('name', { id: 'filter-name', 'data-testid': 'filter-name', placeholder: 'Event name', 'aria-label': 'Event name' });
    this.userInput = input('user', { id: 'filter-user', 'data-testid': 'filter-user', placeholder: 'User / stableID', 'aria-label': 'User ID, anonymous ID or stableID' });
    this.clearBtn = el('button', { class: 'link', type: 'button', 'data-testid': 'filter-clear', hidden: true, onclick: () => this.clearFilters() }, 'Clear');

    this.rate = el('span', { class: 'rate', id: 'rate', 'data-testid': 'rate', title: 'Events received per second (all events, not only those streamed to this page)' }, '0 ev/s');
    this.shown = el('span', { class: 'shown', 'data-testid': 'shown-count' }, '');

    this.tbody = el('tbody', { id: 'event-rows', 'data-testid': 'event-rows' });
    this.padTop = spacer();
    this.padBottom = spacer();
    this.tbody.append(this.padTop, this.padBottom);
    this.empty = el('div', { class: 'empty', 'data-testid': 'live-empty' });
    const table = el('table', { class: 'events', 'data-testid': 'event-list' },
      el('colgroup', {}, el('col', { class: 'c-time' }), el('col', { class: 'c-name' }), el('col', { class: 'c-kind' }),
        el('col', { class: 'c-user' }), el('col', { class: 'c-sdk' }), el('col', { class: 'c-dest' })),
      el('thead', {}, el('tr', {}, el('th', {}, 'Time'), el('th', {}, 'Event'), el('th', {}, 'Type'),
        el('th', {}, 'User'), el('th', {}, 'Source'), el('th', { class: 'dest-head', title: 'Per-destination status' }, el('span', { class: 'long' }, 'Destinations'), el('span', { class: 'short' }, 'Dest.')))),
      this.tbody);
    this.scroller = el('div', { class: 'list-scroll' }, table, this.empty);
    this.tbody.addEventListener('click', (e) => {
      const tr = e.target.closest('tr[data-event-id]');
      if (tr) location.hash = '#/event/' + encodeURIComponent(tr.dataset.eventId);
    });
    this.scroller.addEventListener('keydown', (e) => this.onKey(e));
    this.scroller.addEventListener('scroll', () => this.onScroll(), { passive: true });
    this.scroller.tabIndex = 0;

    this.detail = new EventDetail({ onClose: () => { location.hash = '#/live'; } });
    this.panel = el('aside', { class: 'detail-panel', 'data-testid': 'detail-panel' }, this.detail.element);

    const legend = el('div', { class: 'legend', 'aria-hidden': 'true' },
      Object.entries(STATUS_LABEL).map(([s, label]) => el('span', {}, el('i', { class: `dot status-${s}` }), label)));

    this.element = el('section', { class: 'live', id: 'live', 'data-testid': 'live-view' },
      el('div', { class: 'toolbar' },
        el('div', { class: 'toolbar-group' }, this.toggle, this.pausedCount),
        el('div', { class: 'toolbar-group grow' }, this.search, this.valueInput, this.typeSelect, this.statusSelect, this.nameInput, this.userInput, this.clearBtn),
        el('div', { class: 'toolbar-group meta' }, this.shown, this.rate)),
      el('div', { class: 'split' },
        el('div', { class: 'list-pane' }, this.scroller, el('div', { class: 'list-foot' }, legend,
          el('span', { class: 'muted' }, `Sampled live view · keeps the ${CAPACITY} most recent events`))),
        this.panel));
    this.renderToggle();
    this.renderEmpty();
  }

  /** show attaches the view; id opens the detail panel on that event. */
  show(id) {
    if (!this.started) this.start();
    this.select(id || '');
    if (id) this.detail.load(id);
    this.element.classList.toggle('with-detail', Boolean(id));
  }

  hide() {}

  start() {
    this.started = true;
    this.connect();
    this.refetch();
  }

  connect() {
    setConnection('connecting');
    const es = new EventSource(streamURL());
    this.es = es;
    es.addEventListener('open', () => {
      setConnection(this.paused ? 'paused' : 'live');
      if (this.filled) this.refetch(); // fill what a reconnect missed
    });
    es.addEventListener('error', () => {
      if (es.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. 401): probe the API for the reason, retry later.
        setConnection('error');
        api.events({}, 1).catch((err) => this.apiError(err));
        setTimeout(() => this.connect(), 5000);
      } else {
        setConnection('reconnecting');
      }
    });
    es.addEventListener('event', (m) => this.onEvent(JSON.parse(m.data)));
    es.addEventListener('outcome', (m) => this.onOutcome(JSON.parse(m.data)));
    es.addEventListener('stats', (m) => this.onStats(JSON.parse(m.data)));
  }

  apiError(err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      showBanner('This debugger needs an access token: open it with ?token=… (the ui.token from the bridge configuration).');
    } else {
      showBanner('Cannot reach the bridge API: ' + err.message);
    }
  }

  onEvent(s) {
    this.perf.events++;
    if (this.paused) {
      this.heldCount++;
      if (this.filtered) this.heldComplete = false;
      else {
        this.held.push(s);
        if (this.held.length > CAPACITY) this.held.splice(0, this.held.length - CAPACITY);
      }
      this.schedule();
      return;
    }
    if (this.filtered) {
      this.scheduleRefetch();
      return;
    }
    this.queued.push(s);
    if (this.queued.length > CAPACITY) this.queued.splice(0, this.queued.length - CAPACITY);
    this.schedule();
  }

  onOutcome(o) {
    this.perf.outcomes++;
    const listed = this.byId.get(o.id);
    const s = listed || this.queued.find((q) => q.id === o.id) || this.held.find((q) => q.id === o.id);
    if (s) {
      s.outcomes = { ...(s.outcomes || {}), [o.destination]: o.status };
      if (this.rows.has(o.id)) { // off-screen rows are drawn from the summary when scrolled to
        this.outcomes.set(o.id, s);
        this.schedule();
      }
    }
    if (o.id === this.selected) this.detail.refreshSoon();
  }

  /** onStats keeps the numbers; the next flush shows them (one frame a second under load, not two). */
  onStats(st) {
    this.stats = st;
    this.statsDirty = true;
    this.schedule();
  }

  renderStats() {
    if (!this.statsDirty) return;
    this.statsDirty = false;
    const st = this.stats;
    const r = st.receivedPerSec || 0;
    this.rate.textContent = `${r >= 100 ? Math.round(r).toLocaleString('en-US') : r.toFixed(1)} ev/s`;
    this.rate.dataset.rate = String(r);
    this.rate.title = `Events received per second (all events)` +
      (st.dropped ? `\n${st.dropped.toLocaleString('en-US')} not streamed to this page (sampled above ~20/s)` : '') +
      (st.buffered !== undefined ? `\n${st.buffered.toLocaleString('en-US')} in the bridge's buffer` : '');
  }

  /**
   * schedule asks for a flush on the next animation frame, at most one per
   * FLUSH_MS (BUSY_FLUSH_MS under load): each flush re-lays out the table,
   * so at high rates fewer, larger batches keep the page responsive.
   */
  schedule() {
    if (this.frame) return;
    const every = this.stats.receivedPerSec > BUSY_RATE ? BUSY_FLUSH_MS : FLUSH_MS;
    const wait = this.lastFlush + every - performance.now();
    if (wait <= 0) this.frame = requestAnimationFrame(() => this.flush());
    else this.frame = setTimeout(() => { this.frame = requestAnimationFrame(() => this.flush()); }, wait);
  }

  /** flush renders everything queued since the last frame in one DOM update. */
  flush() {
    this.frame = 0;
    const t0 = performance.now();
    this.lastFlush = t0;
    // Geometry first, while the last frame's layout is still valid: reading
    // it after the DOM writes below would force a layout of its own.
    let top = this.scroller.scrollTop;
    const view = this.scroller.clientHeight;
    if (this.queued.length) {
      const batch = this.queued;
      this.queued = [];
      const fresh = [];
      for (let i = batch.length - 1; i >= 0 && fresh.length < CAPACITY; i--) {
        const s = batch[i];
        if (this.byId.has(s.id)) continue;
        this.byId.set(s.id, s);
        fresh.push(s);
      }
      if (fresh.length) {
        // Scrolled down, the rows being read stay where they are (the
        // browser's own scroll anchoring is off: the spacer moves, not rows).
        this.list = fresh.concat(this.list);
        this.trim();
        if (top > 0) top += fresh.length * this.rowH;
        else top = -1; // at the top: stay there
      }
    }
    for (const [id, s] of this.outcomes) {
      const tr = this.rows.get(id);
      if (tr) tr.lastElementChild.replaceChildren(...dots(s.outcomes));
    }
    this.outcomes.clear();
    this.renderRows(top, view);
    this.renderStats();
    this.renderToggle();
    this.renderEmpty();
    const ms = performance.now() - t0;
    this.perf.flushes++;
    this.perf.flushMs += ms;
    this.perf.maxFlushMs = Math.max(this.perf.maxFlushMs, ms);
  }

  trim() {
    if (this.list.length <= CAPACITY) return;
    for (const s of this.list.splice(CAPACITY)) this.byId.delete(s.id);
  }

  onScroll() {
    if (this.scrollFrame) return;
    this.scrollFrame = requestAnimationFrame(() => {
      this.scrollFrame = 0;
      this.renderRows();
    });
  }

  /**
   * renderRows puts the rows in view (plus OVERSCAN each side) in the DOM,
   * reusing the ones already there, and sizes the two spacers for the rest.
   */
  renderRows(top = this.scroller.scrollTop, view = this.scroller.clientHeight) {
    const scrollTo = top; // < 0: no change
    top = Math.max(0, top);
    view ||= 900;
    const n = this.list.length;
    const h = this.rowH;
    const first = Math.max(0, Math.min(n, Math.floor(top / h) - OVERSCAN));
    const last = Math.min(n, first + Math.ceil(view / h) + 2 * OVERSCAN);
    const keep = new Map();
    const trs = [];
    for (let i = first; i < last; i++) {
      const s = this.list[i];
      const tr = this.rows.get(s.id) || this.row(s);
      keep.set(s.id, tr);
      trs.push(tr);
    }
    this.rows = keep;
    setHeight(this.padTop, first * h);
    setHeight(this.padBottom, (n - last) * h);
    // Only what changed moves: rows already in order stay put.
    let at = this.padTop.nextSibling;
    for (const tr of trs) {
      if (at === tr) at = at.nextSibling;
      else this.tbody.insertBefore(tr, at);
    }
    while (at && at !== this.padBottom) {
      const next = at.nextSibling;
      at.remove();
      at = next;
    }
    if (scrollTo > 0 && scrollTo !== this.scroller.scrollTop) this.scroller.scrollTop = scrollTo;
    if (!this.measured && trs.length) {
      this.measured = true;
      const rh = trs[0].getBoundingClientRect().height;
      if (rh > 0 && Math.abs(rh - h) > 0.5) {
        this.rowH = rh;
        this.renderRows();
      }
    }
  }

  /** fitDestinations sizes the Destinations column for every destination name seen so far. */
  fitDestinations(s) {
    this.destNames ??= new Set();
    let grew = false;
    for (const d of Object.keys(s.outcomes || {})) {
      if (!this.destNames.has(d)) { this.destNames.add(d); grew = true; }
    }
    if (!grew) return;
    let w = 20;
    for (const d of this.destNames) w += d.length * 6.8 + 26; // dot, gap, margin; 11.5px text
    this.element.style.setProperty('--dest-w', `${Math.min(480, Math.max(120, Math.ceil(w)))}px`);
    this.element.style.setProperty('--dot-w', `${Math.max(60, this.destNames.size * 18 + 26)}px`);
  }

  row(s) {
    this.fitDestinations(s);
    const user = s.userId || s.stableId || '';
    const tr = el('tr', {
      'data-testid': 'event-row', 'data-event-id': s.id, 'data-event-name': s.eventName, 'data-kind': s.kind,
      class: s.id === this.selected ? 'selected' : null,
    },
    el('td', { class: 'time', title: stamp(s.receivedAt) }, clock(s.receivedAt)),
    el('td', { class: 'name', title: s.eventName }, s.eventName),
    el('td', {}, kindBadge(s.kind)),
    el('td', { class: 'user', title: userTitle(s) }, user ? [s.userId ? null : el('span', { class: 'tag' }, 'stable'), user] : el('span', { class: 'muted' }, '—')),
    el('td', { class: 'sdk', title: `${s.source || ''} ${s.sdkType || ''}`.trim() }, s.source === 'webhook' ? 'webhook' : s.sdkType || s.source || '—'),
    el('td', { class: 'dests' }, dots(s.outcomes)));
    return tr;
  }

  /** replace shows a fresh list from the server (initial fill, filters, resume). */
  replace(list) {
    this.queued = [];
    this.outcomes.clear();
    this.rows.clear();
    this.byId.clear();
    this.list = [];
    for (const s of list) {
      if (this.list.length >= CAPACITY) break;
      if (this.byId.has(s.id)) continue;
      this.byId.set(s.id, s);
      this.list.push(s);
    }
    this.tbody.replaceChildren(this.padTop, this.padBottom);
    this.scroller.scrollTop = 0;
    this.renderRows();
    this.renderToggle();
    this.renderEmpty();
  }

  /** refetch loads the list from the server; byUser (a filter change) applies even in Pause. */
  async refetch(byUser = false) {
    if (byUser && this.paused) this.heldComplete = false;
    clearTimeout(this.refetchTimer);
    this.refetchTimer = 0;
    this.lastFetch = Date.now();
    this.clearBtn.hidden = !this.filtered;
    this.element.classList.toggle('filtered', this.filtered);
    const seq = ++this.fetchSeq;
    const pendingLive = this.filtered ? [] : this.queued.splice(0); // arrived while fetching: merge after
    try {
      const res = await api.events(this.filters, CAPACITY);
      if (seq !== this.fetchSeq || (this.paused && !byUser)) return;
      const arrived = this.queued;
      this.replace(res.events || []);
      this.total = res.total;
      this.filled = true;
      showBanner('');
      if (!this.filtered) {
        this.queued = pendingLive.concat(arrived);
        this.schedule();
      }
    } catch (err) {
      if (seq === this.fetchSeq) this.apiError(err);
    }
  }

  scheduleRefetch() {
    if (this.refetchTimer) return;
    const wait = Math.max(0, REFETCH_MS - (Date.now() - this.lastFetch));
    this.refetchTimer = setTimeout(() => this.refetch(), wait);
  }

  clearFilters() {
    this.filters = { q: '', value: '', type: '', status: '', name: '', user: '' };
    this.search.value = this.valueInput.value = this.nameInput.value = this.userInput.value = '';
    this.typeSelect.value = this.statusSelect.value = '';
    this.refetch(true);
  }

  setPaused(paused) {
    if (paused === this.paused) return;
    this.paused = paused;
    if (paused) {
      // Events received but not drawn yet are held too: the list stays
      // exactly as the user saw it when pausing.
      this.heldCount = this.queued.length;
      this.held = this.queued.slice(-CAPACITY);
      this.queued = [];
      this.heldComplete = true;
      clearTimeout(this.refetchTimer);
      this.refetchTimer = 0;
      this.fetchSeq++; // a fetch in flight must not change the paused list
    } else {
      const held = this.held;
      this.held = [];
      this.heldCount = 0;
      if (this.filtered || !this.heldComplete) this.refetch();
      else {
        this.queued = this.queued.concat(held);
        this.schedule();
      }
    }
    setConnection(paused ? 'paused' : 'live');
    this.renderToggle();
  }

  renderToggle() {
    const n = this.list.length;
    if (n !== this.shownCount) {
      this.shownCount = n;
      this.shown.textContent = `${n.toLocaleString('en-US')} shown`;
    }
    const state = `${this.paused}/${this.heldCount}`;
    if (state === this.toggleState) return; // unchanged: no DOM write, no style work
    this.toggleState = state;
    const t = this.toggle;
    t.dataset.state = this.paused ? 'paused' : 'live';
    t.setAttribute('aria-pressed', String(this.paused));
    t.replaceChildren(el('i', { class: 'pulse' }), this.paused ? 'Paused' : 'Live');
    t.title = this.paused ? 'Resume: show new events' : 'Pause the list (events keep arriving)';
    const c = this.pausedCount;
    c.hidden = !this.paused;
    c.dataset.count = String(this.heldCount);
    c.textContent = `${this.heldCount.toLocaleString('en-US')} new`;
  }

  renderEmpty() {
    const n = this.list.length;
    if (n > 0) {
      this.empty.hidden = true;
      this.emptyFor = '';
      return;
    }
    const kind = this.filtered ? 'filtered' : 'waiting';
    if (this.emptyFor === kind) return;
    this.emptyFor = kind;
    this.empty.hidden = false;
    if (this.filtered) {
      this.empty.replaceChildren(el('strong', {}, 'No events match'), el('p', {}, 'The search covers the events in the buffer and new ones as they arrive.'));
    } else {
      this.empty.replaceChildren(
        el('strong', {}, 'Waiting for events…'),
        el('p', {}, 'Point a Statsig SDK at this bridge (POST /v1/log_event or /v1/rgstr) and events appear here as they arrive.'));
    }
  }

  select(id) {
    if (this.selected === id) return;
    this.rows.get(this.selected)?.classList.remove('selected');
    this.selected = id;
    this.rows.get(id)?.classList.add('selected');
  }

  onKey(e) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp' && e.key !== 'j' && e.key !== 'k') return;
    const down = e.key === 'ArrowDown' || e.key === 'j';
    const at = this.list.findIndex((s) => s.id === this.selected);
    const i = at < 0 ? 0 : at + (down ? 1 : -1);
    if (i < 0 || i >= this.list.length) return;
    e.preventDefault();
    // Keep the row in view (below the sticky header), then draw that window.
    const head = this.tbody.parentElement.tHead?.offsetHeight || 0;
    const top = i * this.rowH;
    const sc = this.scroller;
    if (top < sc.scrollTop) sc.scrollTop = top;
    else if (top + this.rowH + head > sc.scrollTop + sc.clientHeight) sc.scrollTop = top + this.rowH + head - sc.clientHeight;
    this.renderRows();
    location.hash = '#/event/' + encodeURIComponent(this.list[i].id);
  }
}

/** spacer is an empty row standing in for rows that are not in the DOM. */
function spacer() {
  const td = el('td', { colspan: '6' });
  td.style.cssText = 'height:0;padding:0;border:0';
  return el('tr', { class: 'spacer', 'aria-hidden': 'true' }, td);
}

function setHeight(tr, px) {
  const v = `${px}px`;
  if (tr.firstChild.style.height !== v) tr.firstChild.style.height = v;
  tr.hidden = px === 0;
}

function userTitle(s) {
  const parts = [];
  if (s.userId) parts.push('userId: ' + s.userId);
  if (s.stableId) parts.push('stableID: ' + s.stableId);
  return parts.join('\n');
}

/** dots are the per-destination status dots of a row, in destination-name order. */
function dots(outcomes) {
  const names = Object.keys(outcomes || {}).sort();
  if (!names.length) return [el('span', { class: 'muted' }, '—')];
  return names.map((d) => {
    const s = outcomes[d];
    return el('span', { class: 'dest', title: `${d}: ${STATUS_LABEL[s] || s}`, 'data-testid': 'event-outcome', 'data-destination': d, 'data-status': s },
      el('i', { class: `dot status-${s}` }), el('span', { class: 'dest-name' }, d));
  });
}

// app.js: the debugger's entry point — hash router and top navigation.
//
// Routes: #/live (default), #/event/<id> (Live with the detail panel open on
// that event), #/delivery, #/config. Views are built once and kept, so Live
// keeps its list and stream while another view is shown.
//
// Test hooks (data-testid; stable, for the chromedp browser tests):
//   nav-live, nav-delivery, nav-config    top navigation links
//   connection                            stream state; data-state = connecting|live|paused|reconnecting|error
//   banner                                page-wide error (e.g. token required)
//   live-view                             the Live view (section#live)
//   live-toggle                           Live/Pause button; data-state = live|paused, aria-pressed
//   paused-count                          "N new" while paused; data-count = events arrived meanwhile
//   search                                raw-payload search (→ /api/events?q=, debounced 250 ms)
//   filter-type                           <select> of kinds (value = kind, "" = all)
//   filter-value                          search of property values only (value and metadata)
//   filter-status                         <select>: "" = all, allowed, blocked (every destination filtered it)
//   filter-name, filter-user              event-name and user (userId/anonymousId/stableID) filters
//   filter-clear                          clears search and filters
//   rate                                  events/s from `event: stats`; data-rate = number
//   shown-count                           rows shown
//   event-list, event-rows                the table and its tbody
//   event-row                             one row; data-event-id, data-event-name, data-kind; class "selected"
//   event-outcome                         a row's per-destination dot; data-destination, data-status
//   live-empty                            empty-list message
//   detail-panel, event-detail            the detail panel; event-detail has data-event-id, data-state = loading|loaded|error
//   detail-name, detail-close, detail-error
//   tab-pretty, tab-raw, tab-out          tabs (aria-selected); panel-pretty, panel-raw, panel-out their panels
//   pretty, pretty-code                   analytics.track('<userId>', '<event>', {…})
//   request-facts, raw-json               Raw tab: request facts and the event JSON
//   out-destination                       Out tab card per destination; data-destination, data-status
//   out-status, out-reason, out-json      its status badge, reason/note callout, outgoing message JSON (data-destination)
//   out-extra-json                        a second message sent for the event (e.g. "Experiment Viewed")
//   delivery-view, window-select          Delivery view and its window buttons window-10m, window-1h, window-24h (aria-pressed)
//   delivery-updated                      "Updated hh:mm:ss"
//   delivery-card                         one per destination; data-destination, data-paused, data-yielding, data-window
//   delivery-state, lag, last-error
//   count-delivered, count-delivered-first-try, count-delivered-retry,
//   count-retrying, count-filtered, count-dead-lettered       numbers; data-value = the exact count
//   latency-p50, latency-p95, latency-p99                     data-value = seconds
//   throughput-chart, reasons, reason-row (data-reason, data-type = dead_letter|retry), reason-sample (pager of up to 10)
//   redrive, redrive-confirm, redrive-cancel, redrive-result (data-redriven = n, or data-error)
//   config-view, config-section (data-section), config-destination (data-destination), filter-types, config-json
// window.__debugger.views.live.perf: {events, outcomes, flushes, flushMs, maxFlushMs} for benchmarks.

import { LiveView } from './live.js';
import { DeliveryView } from './delivery.js';
import { ConfigView } from './config.js';

const views = {};
let current = null;

function view(name) {
  if (!views[name]) {
    views[name] = name === 'live' ? new LiveView() : name === 'delivery' ? new DeliveryView() : new ConfigView();
  }
  return views[name];
}

// For browser tests and benchmarks: window.__debugger.views.live.perf counts
// SSE messages handled and DOM flushes (count, total and max ms).
window.__debugger = { views };

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [head, ...rest] = hash.split('/');
  let name = head || 'live';
  let arg = '';
  if (name === 'event') {
    name = 'live';
    arg = decodeURIComponent(rest.join('/'));
  }
  if (!['live', 'delivery', 'config'].includes(name)) name = 'live';

  const v = view(name);
  if (current !== v) {
    current?.hide();
    document.getElementById('view').replaceChildren(v.element);
    current = v;
  }
  document.body.dataset.route = name;
  for (const a of document.querySelectorAll('.nav a')) {
    a.classList.toggle('active', a.dataset.route === name);
    if (a.dataset.route === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  v.show(arg);
  document.title = `${name === 'live' ? (arg ? 'Event' : 'Live') : name === 'delivery' ? 'Delivery' : 'Config'} · statsig-bridge`;
}

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && location.hash.startsWith('#/event/')) location.hash = '#/live';
});

// Keep ?token=… on the nav links' page URL: hash navigation never drops it.
window.addEventListener('hashchange', route);
route();

// chart.js: the throughput chart of a Delivery card, drawn as inline SVG.
// Stacked bars per time bucket: delivered (bottom) and dead-lettered (top);
// a hover tooltip gives the bucket's exact counts, filtered included.

import { el, svg, num } from './util.js';

const H = 168;
const M = { top: 10, right: 12, bottom: 24, left: 44 };

/** niceMax rounds a maximum up to 1, 2 or 5 × 10^n so the axis ticks are round numbers. */
function niceMax(v) {
  if (v <= 4) return 4;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function tickLabel(d, spanMs) {
  const hh = String(d.getHours()).padStart(2, '0');
  const mm = String(d.getMinutes()).padStart(2, '0');
  if (spanMs <= 15 * 60e3) return `${hh}:${mm}:${String(d.getSeconds()).padStart(2, '0')}`;
  return `${hh}:${mm}`;
}

function short(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(n % 1e6 ? 1 : 0) + 'M';
  if (n >= 1e3) return (n / 1e3).toFixed(n % 1e3 ? 1 : 0) + 'k';
  return String(n);
}

/** ThroughputChart owns one chart element; update() redraws it with new series. */
export class ThroughputChart {
  constructor() {
    this.series = [];
    this.tip = el('div', { class: 'chart-tip', hidden: true });
    this.host = el('div', { class: 'chart-host' });
    this.element = el('div', { class: 'chart', 'data-testid': 'throughput-chart' },
      el('div', { class: 'chart-legend' },
        el('span', {}, el('i', { class: 'sw delivered' }), 'Delivered'),
        el('span', {}, el('i', { class: 'sw dead' }), 'Dead-lettered')),
      this.host, this.tip);
    this.host.addEventListener('mousemove', (e) => this.hover(e));
    this.host.addEventListener('mouseleave', () => { this.tip.hidden = true; this.cursor?.setAttribute('visibility', 'hidden'); });
    this.resize = new ResizeObserver(() => {
      if (this.host.clientWidth !== this.width) this.draw();
    });
    this.resize.observe(this.host);
  }

  update(series) {
    this.series = series || [];
    this.draw();
  }

  draw() {
    const W = Math.max(240, this.host.clientWidth || 640);
    this.width = this.host.clientWidth;
    const s = this.series;
    const iw = W - M.left - M.right;
    const ih = H - M.top - M.bottom;
    const root = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Throughput over time: delivered and dead-lettered events per bucket' });
    if (!s.length) {
      root.append(svg('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'axis-label' }, 'No deliveries in this window'));
      this.host.replaceChildren(root);
      return;
    }
    const max = niceMax(Math.max(...s.map((b) => (b.delivered || 0) + (b.deadLettered || 0))));
    const y = (v) => M.top + ih - (v / max) * ih;
    const bw = iw / s.length;
    const gap = bw > 6 ? Math.min(2, bw * 0.2) : 0;

    // Horizontal grid and y labels.
    for (let i = 0; i <= 4; i++) {
      const v = (max / 4) * i;
      const yy = Math.round(y(v)) + 0.5;
      root.append(svg('line', { x1: M.left, x2: W - M.right, y1: yy, y2: yy, class: i ? 'grid' : 'axis' }));
      root.append(svg('text', { x: M.left - 6, y: yy + 3.5, 'text-anchor': 'end', class: 'axis-label' }, short(v)));
    }

    // Bars.
    const bars = svg('g', {});
    s.forEach((b, i) => {
      const x = M.left + i * bw + gap / 2;
      const w = Math.max(1, bw - gap);
      const d = b.delivered || 0;
      const dl = b.deadLettered || 0;
      if (d) bars.append(svg('rect', { x, width: w, y: y(d), height: y(0) - y(d), class: 'bar delivered' }));
      // A few dead letters among thousands still show: at least 2 px.
      if (dl) {
        const hgt = Math.max(2, y(d) - y(d + dl));
        bars.append(svg('rect', { x, width: w, y: y(d) - hgt, height: hgt, class: 'bar dead' }));
      }
    });
    root.append(bars);

    // X labels: about one per 110 px, on bucket starts.
    const t0 = new Date(s[0].t).getTime();
    const t1 = new Date(s[s.length - 1].t).getTime();
    const every = Math.max(1, Math.ceil(s.length / Math.max(2, Math.floor(iw / 110))));
    for (let i = 0; i < s.length; i += every) {
      const x = M.left + i * bw + bw / 2;
      root.append(svg('line', { x1: x, x2: x, y1: M.top + ih, y2: M.top + ih + 4, class: 'axis' }));
      root.append(svg('text', { x, y: H - 6, 'text-anchor': 'middle', class: 'axis-label' }, tickLabel(new Date(s[i].t), t1 - t0)));
    }
    this.cursor = svg('rect', { x: 0, y: M.top, width: Math.max(1, bw), height: ih, class: 'cursor', visibility: 'hidden' });
    root.append(this.cursor);
    this.geom = { bw, iw };
    this.host.replaceChildren(root);
  }

  hover(e) {
    if (!this.series.length || !this.geom) return;
    const r = this.host.getBoundingClientRect();
    const x = e.clientX - r.left - M.left;
    const i = Math.floor(x / this.geom.bw);
    const b = this.series[i];
    if (!b) { this.tip.hidden = true; return; }
    this.cursor.setAttribute('x', M.left + i * this.geom.bw);
    this.cursor.setAttribute('visibility', 'visible');
    const t = new Date(b.t);
    this.tip.replaceChildren(
      el('strong', {}, t.toLocaleString()),
      el('div', {}, el('i', { class: 'sw delivered' }), `Delivered ${num(b.delivered || 0)}`),
      el('div', {}, el('i', { class: 'sw dead' }), `Dead-lettered ${num(b.deadLettered || 0)}`),
      el('div', { class: 'muted' }, `Filtered ${num(b.filtered || 0)}`),
      b.failed ? el('div', { class: 'muted' }, `Failed attempts ${num(b.failed)}`) : null);
    this.tip.hidden = false;
    const left = Math.min(r.width - 170, Math.max(0, e.clientX - r.left + 12));
    this.tip.style.left = left + 'px';
    this.tip.style.top = '28px';
  }
}

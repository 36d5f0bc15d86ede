// A small SVG chart of the benchmark, written by hand so the report needs no plotting library:
// latency percentiles per figure (ours beside its baseline, log scale), GET /tasks throughput
// against the bare server, and the mixed workload over time (p95, p99, API memory).

export interface LatencyGroup {
  label: string;
  p50: number;
  p95: number;
  p99: number;
  baseline?: boolean;
}

export interface ChartInput {
  title: string;
  latency: LatencyGroup[];
  /** Mixed-workload targets drawn as dashed lines. */
  latencyTargets: { label: string; ms: number }[];
  /** Ours first; `baseline` is the bare server the target is a share of; `peer` another stack to be ahead of. */
  throughput: { label: string; rps: number; baseline?: boolean; peer?: boolean }[];
  /** Target ratio of the first bar to the second. */
  throughputTarget?: number;
  timeline: { t: number; p95: number; p99: number; rps: number }[];
  /** When a PostgreSQL checkpoint was writing or syncing during the mixed workload, on the timeline's clock (s). */
  checkpoints?: { startT: number; endT: number }[];
  rss: { t: number; mb: number }[];
  rssLimitMb: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const COLORS = { p50: '#7fb3d5', p95: '#2471a3', p99: '#154360', ours: '#2471a3', base: '#a6acaf', peer: '#d4ac0d', target: '#c0392b', rss: '#28b463' };

function text(x: number, y: number, s: string, opts: { size?: number; anchor?: string; color?: string; weight?: string; rotate?: number } = {}) {
  const rot = opts.rotate ? ` transform="rotate(${opts.rotate} ${x} ${y})"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${opts.size ?? 11}" text-anchor="${opts.anchor ?? 'start'}" fill="${opts.color ?? '#222'}"${opts.weight ? ` font-weight="${opts.weight}"` : ''}${rot}>${esc(s)}</text>`;
}

function latencyPanel(x0: number, y0: number, w: number, h: number, groups: LatencyGroup[], targets: ChartInput['latencyTargets']): string {
  const out: string[] = [text(x0, y0 - 8, 'Latency percentiles (ms, log scale): ours beside its baseline', { size: 13, weight: 'bold' })];
  const left = x0 + 44;
  const bottom = y0 + h - 70;
  const top = y0 + 10;
  const values = groups.flatMap((g) => [g.p50, g.p95, g.p99]).filter((v) => v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(0.1, Math.min(...values)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, ...targets.map((t) => t.ms)))));
  const y = (v: number) => bottom - ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (bottom - top);
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${left}" x2="${x0 + w}" y1="${y(d)}" y2="${y(d)}" stroke="#e5e7e9"/>`, text(left - 6, y(d) + 4, fmt(d), { anchor: 'end', size: 10 }));
  }
  const gw = (x0 + w - left) / groups.length;
  const bw = Math.min(18, (gw - 12) / 3);
  groups.forEach((g, i) => {
    const gx = left + i * gw + (gw - 3 * bw) / 2;
    (['p50', 'p95', 'p99'] as const).forEach((k, j) => {
      const v = g[k];
      const by = y(v);
      const color = g.baseline ? ['#d5d8dc', '#a6acaf', '#717d7e'][j]! : COLORS[k];
      out.push(`<rect x="${gx + j * bw}" y="${by}" width="${bw - 2}" height="${Math.max(0.5, bottom - by)}" fill="${color}"><title>${esc(`${g.label} ${k}: ${fmt(v)} ms`)}</title></rect>`);
      out.push(text(gx + j * bw + bw / 2 - 1, by - 3, fmt(v), { size: 8, anchor: 'middle', color: '#555' }));
    });
    const words = g.label.split('\n');
    words.forEach((wd, k) => out.push(text(left + i * gw + gw / 2, bottom + 14 + k * 12, wd, { size: 10, anchor: 'middle', color: g.baseline ? '#707b7c' : '#222' })));
  });
  for (const t of targets) {
    out.push(`<line x1="${left}" x2="${x0 + w}" y1="${y(t.ms)}" y2="${y(t.ms)}" stroke="${COLORS.target}" stroke-dasharray="5,4"/>`, text(x0 + w - 2, y(t.ms) - 3, t.label, { size: 9, anchor: 'end', color: COLORS.target }));
  }
  const lx = left;
  const ly = y0 + h - 18;
  (['p50', 'p95', 'p99'] as const).forEach((k, j) => out.push(`<rect x="${lx + j * 70}" y="${ly - 9}" width="10" height="10" fill="${COLORS[k]}"/>`, text(lx + j * 70 + 14, ly, `ours ${k}`, { size: 10 })));
  out.push(`<rect x="${lx + 220}" y="${ly - 9}" width="10" height="10" fill="#a6acaf"/>`, text(lx + 234, ly, 'baseline (grey)', { size: 10 }));
  return out.join('\n');
}

function throughputPanel(x0: number, y0: number, w: number, h: number, bars: ChartInput['throughput'], target?: number): string {
  const out: string[] = [text(x0, y0 - 8, 'GET /tasks throughput (req/s)', { size: 13, weight: 'bold' })];
  const max = Math.max(...bars.map((b) => b.rps)) * 1.15;
  const left = x0 + 10;
  const bottom = y0 + h - 40;
  const top = y0 + 10;
  const bw = (w - 20) / bars.length;
  bars.forEach((b, i) => {
    const bh = (b.rps / max) * (bottom - top);
    out.push(`<rect x="${left + i * bw + 8}" y="${bottom - bh}" width="${bw - 16}" height="${bh}" fill="${b.baseline ? COLORS.base : b.peer ? COLORS.peer : COLORS.ours}"/>`);
    out.push(text(left + i * bw + bw / 2, bottom - bh - 5, b.rps.toFixed(0), { anchor: 'middle', size: 12, weight: 'bold' }));
    out.push(text(left + i * bw + bw / 2, bottom + 15, b.label, { anchor: 'middle', size: 10 }));
  });
  const base = bars.find((b) => b.baseline);
  if (target && base) {
    const ty = bottom - ((base.rps * target) / max) * (bottom - top);
    out.push(`<line x1="${left}" x2="${x0 + w}" y1="${ty}" y2="${ty}" stroke="${COLORS.target}" stroke-dasharray="5,4"/>`, text(x0 + w, ty - 4, `target ${Math.round(target * 100)} % of baseline`, { size: 9, anchor: 'end', color: COLORS.target }));
  }
  const ours = bars.find((b) => !b.baseline && !b.peer);
  const peer = bars.find((b) => b.peer);
  if (ours && base) out.push(text(x0 + w / 2, y0 + h - 8, `ratio ${(ours.rps / base.rps).toFixed(2)} of bare${peer ? `, ${(ours.rps / peer.rps).toFixed(2)} of peer` : ''}`, { anchor: 'middle', size: 12, weight: 'bold' }));
  out.push(`<line x1="${left}" x2="${x0 + w}" y1="${bottom}" y2="${bottom}" stroke="#888"/>`);
  return out.join('\n');
}

function timelinePanel(x0: number, y0: number, w: number, h: number, input: ChartInput): string {
  const out: string[] = [text(x0, y0 - 8, 'Mixed workload over time: p95 / p99 latency (left, ms) and API memory (right, RSS MB)', { size: 13, weight: 'bold' })];
  const left = x0 + 44;
  const right = x0 + w - 50;
  const top = y0 + 10;
  const bottom = y0 + h - 40;
  const tl = input.timeline;
  if (!tl.length) return out.concat(text(left, top + 20, 'no data')).join('\n');
  const tMax = Math.max(...tl.map((p) => p.t + 10), ...input.rss.map((r) => r.t));
  const msMax = Math.max(...tl.map((p) => p.p99), ...input.latencyTargets.map((t) => t.ms)) * 1.15;
  const mbMax = Math.max(input.rssLimitMb, ...input.rss.map((r) => r.mb)) * 1.1;
  const x = (t: number) => left + (t / tMax) * (right - left);
  const yl = (v: number) => bottom - (v / msMax) * (bottom - top);
  const yr = (v: number) => bottom - (v / mbMax) * (bottom - top);
  for (let i = 0; i <= 4; i++) {
    const v = (msMax / 4) * i;
    out.push(`<line x1="${left}" x2="${right}" y1="${yl(v)}" y2="${yl(v)}" stroke="#eee"/>`, text(left - 6, yl(v) + 4, fmt(v), { anchor: 'end', size: 10 }));
    const m = (mbMax / 4) * i;
    out.push(text(right + 6, yr(m) + 4, m.toFixed(0), { size: 10, color: COLORS.rss }));
  }
  for (const c of input.checkpoints ?? []) {
    const a = x(Math.max(0, c.startT));
    const b = x(Math.min(tMax, c.endT));
    if (b > a) out.push(`<rect x="${a.toFixed(1)}" y="${top}" width="${(b - a).toFixed(1)}" height="${bottom - top}" fill="#f2f2f2"/>`, text(b - 4, top + 12, 'PostgreSQL checkpoint', { size: 9, anchor: 'end', color: '#888' }));
  }
  for (let t = 0; t <= tMax; t += tMax > 120 ? 60 : 10) out.push(text(x(t), bottom + 14, `${t}s`, { anchor: 'middle', size: 10 }));
  const line = (pts: [number, number][], color: string, dash = '') =>
    `<polyline fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ''} points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(' ')}"/>`;
  out.push(line(tl.map((p) => [x(p.t + 5), yl(p.p95)]), COLORS.p95), line(tl.map((p) => [x(p.t + 5), yl(p.p99)]), COLORS.p99, '2,2'));
  if (input.rss.length) out.push(line(input.rss.map((r) => [x(r.t), yr(r.mb)]), COLORS.rss));
  for (const t of input.latencyTargets) out.push(`<line x1="${left}" x2="${right}" y1="${yl(t.ms)}" y2="${yl(t.ms)}" stroke="${COLORS.target}" stroke-dasharray="5,4"/>`, text(left + 4, yl(t.ms) - 3, t.label, { size: 9, color: COLORS.target }));
  out.push(`<line x1="${left}" x2="${right}" y1="${yr(input.rssLimitMb)}" y2="${yr(input.rssLimitMb)}" stroke="${COLORS.rss}" stroke-dasharray="5,4"/>`, text(right - 4, yr(input.rssLimitMb) - 3, `RSS limit ${input.rssLimitMb} MB`, { size: 9, anchor: 'end', color: COLORS.rss }));
  const ly = y0 + h - 10;
  out.push(`<rect x="${left}" y="${ly - 9}" width="10" height="10" fill="${COLORS.p95}"/>`, text(left + 14, ly, 'p95', { size: 10 }));
  out.push(`<rect x="${left + 60}" y="${ly - 9}" width="10" height="10" fill="${COLORS.p99}"/>`, text(left + 74, ly, 'p99', { size: 10 }));
  out.push(`<rect x="${left + 120}" y="${ly - 9}" width="10" height="10" fill="${COLORS.rss}"/>`, text(left + 134, ly, 'API RSS', { size: 10 }));
  const meanRps = tl.reduce((s, p) => s + p.rps, 0) / tl.length;
  out.push(text(right, ly, `${meanRps.toFixed(0)} req/s on average`, { size: 10, anchor: 'end' }));
  return out.join('\n');
}

export function renderChart(input: ChartInput): string {
  const W = 1000;
  const H = 760;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif">`,
    `<rect width="${W}" height="${H}" fill="#fff"/>`,
    text(20, 26, input.title, { size: 15, weight: 'bold' }),
    latencyPanel(20, 62, 660, 360, input.latency, input.latencyTargets),
    throughputPanel(710, 62, 270, 360, input.throughput, input.throughputTarget),
    timelinePanel(20, 470, 960, 280, input),
    '</svg>',
  ].join('\n');
}

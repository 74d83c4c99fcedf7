/** The latency–throughput chart as a self-contained SVG (no dependencies). */
import type { LevelStats } from './stats';

/** One line of the chart: a variant's levels, in increasing concurrency. */
export interface ChartSeries {
  name: string;
  color: string;
  points: { label: string; stats: LevelStats }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= v) return m * e;
  return 10 * e;
}

/**
 * Throughput (x, requests/s) against latency (y, ms) for every series: p50 solid, p99
 * dashed, each point labelled with its concurrency.
 */
export function latencyThroughputSvg(series: ChartSeries[], title: string): string {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 170, t: 40, b: 52 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = series.flatMap((s) => s.points.map((p) => p.stats)).filter((s) => Number.isFinite(s.p99_ms));
  const xMax = niceMax(Math.max(...all.map((s) => s.rps), 1) * 1.05);
  const yMax = niceMax(Math.max(...all.map((s) => s.p99_ms), 1) * 1.05);
  const x = (v: number): number => Math.round((m.l + (v / xMax) * pw) * 10) / 10;
  const y = (v: number): number => Math.round((m.t + ph - (v / yMax) * ph) * 10) / 10;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const xv = (xMax * i) / 5;
    const yv = (yMax * i) / 5;
    out.push(`<line x1="${x(xv)}" y1="${m.t}" x2="${x(xv)}" y2="${m.t + ph}" stroke="#eee"/>`);
    out.push(`<line x1="${m.l}" y1="${y(yv)}" x2="${m.l + pw}" y2="${y(yv)}" stroke="#eee"/>`);
    out.push(`<text x="${x(xv)}" y="${m.t + ph + 16}" text-anchor="middle">${Math.round(xv)}</text>`);
    out.push(`<text x="${m.l - 6}" y="${y(yv) + 4}" text-anchor="end">${+yv.toFixed(1)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">throughput (requests/s)</text>`);
  out.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">latency (ms)</text>`);
  series.forEach((s, si) => {
    for (const [key, dash] of [['p50_ms', ''], ['p99_ms', ' stroke-dasharray="6 4"']] as const) {
      const pts = s.points.filter((p) => Number.isFinite(p.stats[key]));
      if (pts.length === 0) continue;
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2"${dash} points="${pts.map((p) => `${x(p.stats.rps).toFixed(1)},${y(p.stats[key]).toFixed(1)}`).join(' ')}"/>`);
      for (const p of pts) {
        out.push(`<circle cx="${x(p.stats.rps).toFixed(1)}" cy="${y(p.stats[key]).toFixed(1)}" r="3.5" fill="${s.color}"/>`);
        if (key === 'p99_ms') out.push(`<text x="${(x(p.stats.rps) + 6).toFixed(1)}" y="${(y(p.stats[key]) - 6).toFixed(1)}" fill="${s.color}">${esc(p.label)}</text>`);
      }
    }
    const ly = m.t + 14 + si * 40;
    out.push(`<line x1="${m.l + pw + 14}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">${esc(s.name)} p50</text>`);
    out.push(`<line x1="${m.l + pw + 14}" y1="${ly + 16}" x2="${m.l + pw + 40}" y2="${ly + 16}" stroke="${s.color}" stroke-width="2" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${m.l + pw + 46}" y="${ly + 20}">${esc(s.name)} p99</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

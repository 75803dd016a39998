// A small, self-hosted line chart for flag insights (docs/console.md "Flag insights"): pure
// geometry from series of counts to SVG path data, axis ticks and labels; the page draws it
// as hand-written SVG. No chart library, no CDN.

export interface Series { label: string; counts: number[] }
export interface ChartLine { label: string; path: string; total: number; color: string }
export interface Chart {
  width: number;
  height: number;
  lines: ChartLine[];
  yTicks: { y: number; label: string }[];
  xTicks: { x: number; label: string }[];
  max: number;
}

export const CHART_COLORS = ['#2563eb', '#d97706', '#059669', '#dc2626', '#7c3aed', '#0891b2', '#be185d', '#4b5563'];
const PAD = { left: 48, right: 12, top: 12, bottom: 28 };

// A "nice" upper bound for the y axis: 1, 2 or 5 times a power of ten, at least `max`.
export function niceMax(max: number): number {
  if (!(max > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(max)));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

// "14:05" for a bucket within a day's range, else "Dec 3" (UTC: the api's buckets are UTC).
export function bucketLabel(iso: string, stepSeconds: number): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  if (stepSeconds < 86400) {
    return `${String(d.getUTCHours()).padStart(2, '0')}:${String(d.getUTCMinutes()).padStart(2, '0')}`;
  }
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${months[d.getUTCMonth()]} ${d.getUTCDate()}`;
}

export function chartOf(series: Series[], buckets: string[], stepSeconds: number, width = 640, height = 220): Chart {
  let max = 0;
  for (const s of series) for (const n of s.counts) max = Math.max(max, n);
  const top = niceMax(max);
  const w = width - PAD.left - PAD.right;
  const h = height - PAD.top - PAD.bottom;
  const n = Math.max(1, buckets.length);
  const x = (i: number) => PAD.left + (n === 1 ? w / 2 : (i * w) / (n - 1));
  const y = (v: number) => PAD.top + h - (v / top) * h;
  const round = (v: number) => Math.round(v * 10) / 10;
  const lines = series.map((s, k) => ({
    label: s.label,
    total: s.counts.reduce((a, b) => a + b, 0),
    color: CHART_COLORS[k % CHART_COLORS.length]!,
    path: s.counts.map((c, i) => `${i === 0 ? 'M' : 'L'}${round(x(i))},${round(y(c))}`).join(' '),
  }));
  const yTicks = [0, 0.5, 1].map((f) => ({ y: round(y(top * f)), label: String(Math.round(top * f)) }));
  const every = Math.max(1, Math.ceil(n / 6));
  const xTicks: { x: number; label: string }[] = [];
  for (let i = 0; i < buckets.length; i += every) xTicks.push({ x: round(x(i)), label: bucketLabel(buckets[i]!, stepSeconds) });
  return { width, height, lines, yTicks, xTicks, max };
}

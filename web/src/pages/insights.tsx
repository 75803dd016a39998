// Flag insights on the flags page: evaluations of one flag in one environment over time, per
// variant, as delivery counted them (GET .../flags/{key}/insights, docs/api.md), drawn as a
// hand-written SVG line chart (../chart.ts) with the same numbers in a table.
import { useState } from 'preact/hooks';
import { bff, enc, type WorkspaceDetail } from '../api';
import { chartOf } from '../chart';
import { envOrder } from '../model';
import { ErrorMessage, Field, useSubmit } from '../ui';

interface SeriesJson { variant?: string; reason?: string; total: number; counts: number[] }
interface Insights {
  flag: string; environment: string; from: string; to: string; step_seconds: number;
  buckets: string[]; total: number; variants: SeriesJson[]; reasons: SeriesJson[];
}

const RANGES: { id: string; label: string; hours: number; step: string }[] = [
  { id: '1h', label: 'Last hour, per minute', hours: 1, step: '1m' },
  { id: '24h', label: 'Last 24 hours, per hour', hours: 24, step: '1h' },
  { id: '7d', label: 'Last 7 days, per day', hours: 24 * 7, step: '24h' },
  { id: '30d', label: 'Last 30 days, per day', hours: 24 * 30, step: '24h' },
];

export function InsightsPanel({ base, ws, flagKeys }: { base: string; ws: WorkspaceDetail; flagKeys: string[] }) {
  const envs = envOrder(ws.environments).map((e) => e.key);
  const [flag, setFlag] = useState(flagKeys[0] ?? '');
  const [env, setEnv] = useState(envs[0] ?? '');
  const [range, setRange] = useState('24h');
  const [answer, setAnswer] = useState<(Insights & { n: number }) | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const r = RANGES.find((x) => x.id === range) ?? RANGES[1]!;
    const to = new Date();
    const from = new Date(to.getTime() - r.hours * 3600 * 1000);
    const q = `env=${enc(env)}&from=${enc(from.toISOString().replace(/\.\d+Z$/, 'Z'))}` +
      `&to=${enc(to.toISOString().replace(/\.\d+Z$/, 'Z'))}&step=${r.step}`;
    void submit(async () => {
      const got = await bff<Insights>('GET', `${base}/flags/${enc(flag)}/insights?${q}`);
      setAnswer((prev) => ({ ...got, n: (prev?.n ?? 0) + 1 }));
    });
  };
  const chart = answer && chartOf(answer.variants.map((v) => ({ label: v.variant || '(none)', counts: v.counts })),
    answer.buckets, answer.step_seconds);
  return (
    <section aria-labelledby="insights-h">
      <h2 id="insights-h">Insights</h2>
      <form onSubmit={onSubmit} class="panel" aria-labelledby="insights-h">
        <p class="muted">How often SDKs evaluated a flag, per variant, as the delivery nodes counted it.</p>
        <div class="row">
          <Field id="insights-flag" label="Flag">
            <select id="insights-flag" value={flag} onChange={(e) => setFlag(e.currentTarget.value)}>
              {flagKeys.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          </Field>
          <Field id="insights-env" label="Environment">
            <select id="insights-env" value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
              {envs.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          </Field>
          <Field id="insights-range" label="Range">
            <select id="insights-range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
              {RANGES.map((r) => <option key={r.id} value={r.id}>{r.label}</option>)}
            </select>
          </Field>
        </div>
        {error && <ErrorMessage message={error} />}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Loading…' : 'Show evaluations'}</button>
      </form>
      {answer && chart && (
        <div class="insights" data-answer={answer.n} data-total={answer.total}>
          <p>{answer.total} evaluations of {answer.flag} in {answer.environment}.</p>
          {answer.total > 0 && (
            <svg class="chart" role="img" viewBox={`0 0 ${chart.width} ${chart.height}`} width="100%"
              aria-label={`Evaluations of ${answer.flag} per variant over time`}>
              {chart.yTicks.map((t) => (
                <g key={`y${t.label}`}>
                  <line x1={48} x2={chart.width - 12} y1={t.y} y2={t.y} stroke="#e5e7eb" />
                  <text x={42} y={t.y + 4} text-anchor="end" font-size="11" fill="#6b7280">{t.label}</text>
                </g>
              ))}
              {chart.xTicks.map((t) => (
                <text key={`x${t.x}`} x={t.x} y={chart.height - 8} text-anchor="middle" font-size="11" fill="#6b7280">{t.label}</text>
              ))}
              {chart.lines.map((l) => (
                <path key={l.label} d={l.path} fill="none" stroke={l.color} stroke-width="2" data-variant={l.label} />
              ))}
            </svg>
          )}
          <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="insights-caption">
            <table class="configs insights-table">
              <caption id="insights-caption">Evaluations per variant</caption>
              <thead><tr><th scope="col">Variant</th><th scope="col">Evaluations</th></tr></thead>
              <tbody>
                {chart.lines.map((l) => (
                  <tr key={l.label} data-variant={l.label}>
                    <th scope="row"><svg aria-hidden="true" width="10" height="10" class="swatch"><rect width="10" height="10" fill={l.color} /></svg> {l.label}</th>
                    <td class="total">{l.total}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      )}
    </section>
  );
}

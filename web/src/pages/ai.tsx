// AI assistance in the console (docs/api.md "AI assistance"): "Draft with AI" turns a
// sentence into a change request's changes, shown as the api's dry run (the diff, the
// environments and approvals it needs) with their risk, and submitted, when the user says
// so, through the normal change-request path; the risk panel of a change request shows the
// exact numbers (how many of a fixed sample of contexts switch variation, protected
// environments, secrets, deletes) and, on request, the model's explanation of them. The
// model only proposes: nothing is written until the user submits, under the usual policies.
import { useState } from 'preact/hooks';
import { bff } from '../api';
import type { ChangeRequest, CrChange } from '../crmodel';
import { navigate } from '../router';
import { ErrorMessage, Field, useSubmit } from '../ui';
import { crBase, crChanged, DiffTables } from './changerequests';
import { WsHeader, wsPath } from './wssection';

interface Usage { input_tokens?: number; output_tokens?: number }

export interface Draft { title: string; description?: string; changes: unknown[] }

interface DraftReply {
  draft: Draft;
  dry_run?: { changes?: CrChange[]; environments?: string[]; required_approvals?: number; warnings?: { message?: string }[] };
  provider?: string;
  model?: string;
  usage?: Usage;
}

interface RiskExact {
  environments?: { key: string; protected?: boolean; change_request_required?: boolean; required_approvals?: number }[];
  flags?: { key: string; environment: string; sample_size: number; changed: number; share: number }[];
  configs?: { key: string; environment: string }[];
  schema_changes?: { kind: string; key: string; what: string }[];
  secrets?: { key: string; environment: string }[];
  deletes?: { kind: string; key: string }[];
}

export interface RiskReply {
  exact: RiskExact;
  explanation?: { summary?: string; concerns?: string[] };
  model?: string;
  usage?: Usage;
}

function usageLine(r: { provider?: string; model?: string; usage?: Usage }): string {
  const who = [r.provider, r.model].filter(Boolean).join(' ');
  const u = r.usage;
  const tokens = u ? `${(u.input_tokens ?? 0) + (u.output_tokens ?? 0)} tokens` : '';
  return [who, tokens].filter(Boolean).join(', ');
}

function percent(share: number): string {
  const p = share * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}

// The exact risk numbers (no model involved) and, once asked for, the model's explanation.
// `load(explain)` asks the api; the panel loads the exact numbers when it opens.
export function RiskPanel({ id, load }: { id: string; load: (explain: boolean) => Promise<RiskReply> }) {
  const [risk, setRisk] = useState<RiskReply | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const ask = (explain: boolean) => void submit(async () => {
    setRisk(await load(explain));
  });
  const x = risk?.exact;
  const switching = (x?.flags ?? []).filter((f) => f.changed > 0);
  const flagged = (x?.environments ?? []).filter((e) => e.protected || e.change_request_required || (e.required_approvals ?? 0) > 0);
  return (
    <section class="panel" aria-labelledby={`${id}-h`} data-risk>
      <h2 id={`${id}-h`}>Risk</h2>
      {!risk && (
        <p>
          <button type="button" disabled={busy} onClick={() => ask(false)}>{busy ? 'Assessing…' : 'Assess the risk'}</button>
          {' '}<span class="muted">Exact numbers from a fixed sample of contexts; no model is asked.</span>
        </p>
      )}
      {x && (
        <>
          {switching.length === 0 && (x.flags ?? []).length > 0 && <p data-risk-flags="none">No context of the sample gets another flag variation.</p>}
          {switching.length > 0 && (
            <table class="configs" data-risk-flags>
              <caption>Contexts that get another variation (of a sample of {switching[0]!.sample_size})</caption>
              <thead><tr><th scope="col">Flag</th><th scope="col">Environment</th><th scope="col">Switch</th></tr></thead>
              <tbody>
                {switching.map((f) => (
                  <tr key={`${f.key}/${f.environment}`} data-risk-flag={`${f.key}/${f.environment}`}>
                    <th scope="row"><code>{f.key}</code></th>
                    <td><code>{f.environment}</code></td>
                    <td>{percent(f.share)} ({f.changed})</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ul>
            {flagged.map((e) => (
              <li key={e.key} data-risk-env={e.key}>
                <code>{e.key}</code>: {[e.protected && 'protected', e.change_request_required && 'change requests only',
                  (e.required_approvals ?? 0) > 0 && `${e.required_approvals} approval${e.required_approvals === 1 ? '' : 's'}`].filter(Boolean).join(', ')}
              </li>
            ))}
            {(x.secrets ?? []).length > 0 && <li data-risk-secrets>Secrets change: {x.secrets!.map((s) => `${s.key} in ${s.environment}`).join(', ')}</li>}
            {(x.deletes ?? []).length > 0 && <li data-risk-deletes>Deletes: {x.deletes!.map((d) => `${d.kind} ${d.key}`).join(', ')}</li>}
            {(x.schema_changes ?? []).length > 0 && <li data-risk-schema>Schema changes: {x.schema_changes!.map((s) => `${s.kind} ${s.key} (${s.what})`).join(', ')}</li>}
            {(x.configs ?? []).length > 0 && <li>Configs change: {x.configs!.map((c) => `${c.key} in ${c.environment}`).join(', ')}</li>}
          </ul>
          {!risk.explanation && (
            <button type="button" disabled={busy} onClick={() => ask(true)}>{busy ? 'Asking the model…' : 'Explain with AI'}</button>
          )}
          {risk.explanation && (
            <div class="explanation" data-risk-explanation>
              <h3>The model's reading</h3>
              {risk.explanation.summary && <p>{risk.explanation.summary}</p>}
              {(risk.explanation.concerns ?? []).length > 0 && <ul>{risk.explanation.concerns!.map((c) => <li key={c}>{c}</li>)}</ul>}
              <p class="muted">Written by a model from the numbers above; check them, not the prose. {usageLine(risk)}</p>
            </div>
          )}
        </>
      )}
      {error && <ErrorMessage message={error} />}
    </section>
  );
}

export function AiDraftPage({ wsKey }: { wsKey: string }) {
  const base = crBase(wsKey);
  const [prompt, setPrompt] = useState('');
  const [reply, setReply] = useState<DraftReply | undefined>(undefined);
  const [title, setTitle] = useState('');
  const { busy, error, submit } = useSubmit();
  const onDraft = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      setReply(undefined);
      const r = await bff<DraftReply>('POST', `${base}/ai/draft`, { prompt: prompt.trim() });
      setReply(r);
      setTitle(r.draft.title);
      setTimeout(() => document.getElementById('draft-h')?.focus(), 0);
    });
  };
  const create = () => void submit(async () => {
    if (!reply) return;
    const cr = await bff<ChangeRequest>('POST', `${base}/change-requests`, { ...reply.draft, title: title.trim() || reply.draft.title });
    crChanged.value++;
    navigate(wsPath(wsKey, `change-requests/${cr.id}`));
  });
  const d = reply?.dry_run;
  return (
    <>
      <WsHeader wsKey={wsKey} title="Draft with AI" />
      <p class="muted">Describe a change in a sentence. A model drafts it as a change request, which you see as a dry run first; nothing is written until you create the request, and it is then reviewed like any other. The model never sees secret values.</p>
      <form onSubmit={onDraft} class="panel" aria-labelledby="ai-ask-h">
        <h2 id="ai-ask-h">What should change?</h2>
        <Field id="ai-prompt" label="Your request" hint="For example: roll out new-checkout to 10% of users in staging.">
          <textarea id="ai-prompt" required maxLength={4000} rows={3} value={prompt} aria-describedby="ai-prompt-hint"
            onInput={(e) => setPrompt(e.currentTarget.value)} />
        </Field>
        {error && !reply && <ErrorMessage message={error} />}
        <button type="submit" class="primary" disabled={busy || prompt.trim() === ''}>{busy && !reply ? 'Drafting…' : 'Draft'}</button>
      </form>
      {reply && (
        <section class="panel preview" aria-labelledby="draft-h" data-draft>
          <h2 id="draft-h" tabIndex={-1}>Draft</h2>
          <p class="muted">{usageLine(reply)}</p>
          <Field id="draft-title" label="Title">
            <input id="draft-title" required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          </Field>
          {reply.draft.description && <p class="description">{reply.draft.description}</p>}
          <p data-draft-summary>
            {d?.changes?.length ?? 0} change{d?.changes?.length === 1 ? '' : 's'}; {d?.required_approvals ?? 0} approval{d?.required_approvals === 1 ? '' : 's'} required
            {d?.environments?.length ? ` (touches ${d.environments.join(', ')})` : ''}.
          </p>
          {(d?.warnings ?? []).length > 0 && (
            <ul class="warnings" role="note">{d!.warnings!.map((w, i) => <li key={i}>{w.message ?? JSON.stringify(w)}</li>)}</ul>
          )}
          <DiffTables changes={d?.changes} />
          <RiskPanel key={JSON.stringify(reply.draft.changes)} id="draft-risk"
            load={(explain) => bff<RiskReply>('POST', `${base}/ai/risk`, { changes: reply.draft.changes, explain })} />
          {error && <ErrorMessage message={error} />}
          <button type="button" class="primary" disabled={busy} onClick={create}>{busy ? 'Working…' : 'Create change request'}</button>
        </section>
      )}
    </>
  );
}

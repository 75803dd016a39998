// A workspace's history: every revision, newest first, with who made it (by name), why,
// when, and what it changed in each environment's served values (secrets: only that a
// value changed). Revert one revision or roll everything back to one, each after a preview
// of what it will change and a confirmation; the write is conditional (If-Match on the head
// the preview was computed from), so a change made meanwhile is a clear 412, not a surprise.
// Live: every `revision` event of the workspace's event stream reloads the list, except while
// a preview is open: then the data stays as previewed, the preview says how many revisions
// arrived since, and its confirm button refreshes the preview instead of writing.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, bff, enc, type WorkspaceDetail } from '../api';
import {
  actorName, describeServed, envChanges, environmentChanges, revertPreview, rollbackPreview,
  type EnvChange, type ItemChange, type Revision,
} from '../history';
import { envOrder } from '../model';
import { ErrorMessage, Field, Loading, messageOf, useResource, useSubmit } from '../ui';
import { useLiveRevisions } from './workspace';
import { formatTime, loadPeople, WsHeader, type People } from './wssection';

interface Data { ws: WorkspaceDetail; revisions: Revision[]; head: number; people: People }

// Every revision, ascending (the api pages them 1000 at a time).
async function allRevisions(base: string): Promise<{ revisions: Revision[]; head: number }> {
  const out: Revision[] = [];
  let after = 0;
  let head = 0;
  for (let page = 0; page < 100; page++) {
    const r = await bff<{ revisions: Revision[]; head: number; next_after: number | null }>(
      'GET', `${base}/revisions?after=${after}&limit=1000`);
    out.push(...(r.revisions ?? []));
    head = r.head;
    if (r.next_after === null || r.next_after === undefined || r.next_after >= r.head) break;
    after = r.next_after;
  }
  return { revisions: out, head };
}

type Plan = { type: 'revert'; rev: Revision } | { type: 'rollback'; to: number };

export function HistoryPage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}`;
  const [res, reload] = useResource<Data>(async () => {
    const [ws, revs, people] = await Promise.all([
      bff<WorkspaceDetail>('GET', base), allRevisions(base), loadPeople(),
    ]);
    return { ws, revisions: revs.revisions, head: revs.head, people };
  }, [base]);
  const [plan, setPlan] = useState<Plan | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  // The newest head the event stream announced while a preview was open; the preview is
  // out of date by how far it is ahead of the data shown.
  const [announcedHead, setAnnouncedHead] = useState(0);
  const data = res.data;
  const live = useLiveRevisions(`${base}/events`, () => {
    if (!plan || !data) { reload(); return; }
    const shown = data.head;
    bff<{ head: number }>('GET', `${base}/revisions?after=${shown}&limit=1`).then(
      (r) => setAnnouncedHead((h) => Math.max(h, r.head)),
      () => setAnnouncedHead((h) => Math.max(h, shown + 1)));
  });
  const behind = data ? Math.max(0, announcedHead - data.head) : 0;
  const envs = data ? envOrder(data.ws.environments) : [];
  return (
    <>
      <WsHeader wsKey={wsKey} title={`History of ${data ? data.ws.name : wsKey}`} />
      <p class="muted" role="status">
        {data ? `Revision ${data.head}. ` : ''}
        {live ? 'Live: changes made elsewhere appear here.' : 'Live updates are not connected.'}
      </p>
      {res.state === 'loading' && !data && <Loading what="the history" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {done && <p role="status" class="ok">{done}</p>}
      {data && plan && (
        <Confirm base={base} data={data} plan={plan} envs={envs} behind={behind}
          onCancel={() => { setPlan(undefined); if (behind > 0) reload(); }}
          onDone={(m) => { setPlan(undefined); setDone(m); reload(); }}
          onStale={reload} />
      )}
      {data && data.revisions.length === 0 && <p class="empty">No revisions yet: every change to this workspace will appear here.</p>}
      {data && data.revisions.length > 0 && (
        <ol class="revisions" aria-label="Revisions, newest first" reversed>
          {[...data.revisions].reverse().map((r) => (
            <li key={r.seq} class="revision" data-seq={r.seq}>
              <h2 class="rev-title">
                Revision {r.seq}: {r.op} {r.kind} <code>{r.key}</code>
              </h2>
              <p class="muted">
                by <span class="actor">{actorName(r.actor, data.people.members, data.people.keys)}</span>
                {' · '}<time dateTime={r.time}>{formatTime(r.time)}</time>
              </p>
              <p>Reason: <span class="reason">{r.reason}</span></p>
              <Diff kind={r.kind} changes={envChanges(r.kind, r.before, r.after, envs)} label={`Changes of revision ${r.seq}`}
                before={r.before} after={r.after} />
              {(r.kind !== 'environment' || r.before !== null) && (
                <div class="actions">
                  <button type="button" class="small"
                    onClick={() => { setDone(undefined); setPlan({ type: 'revert', rev: r }); }}>Revert revision {r.seq}…</button>
                  {r.seq < data.head && (
                    <button type="button" class="small"
                      onClick={() => { setDone(undefined); setPlan({ type: 'rollback', to: r.seq }); }}>Roll back to revision {r.seq}…</button>
                  )}
                </div>
              )}
            </li>
          ))}
        </ol>
      )}
    </>
  );
}

function Diff({ kind, changes, label, before, after }: {
  kind: string; changes: EnvChange[]; label: string; before: unknown; after: unknown;
}) {
  if (kind === 'environment') {
    const lines = environmentChanges(before, after);
    if (lines.includes('created')) return <p class="muted">A new environment (its creation is not reverted or rolled back).</p>;
    return (
      <ul class="env-changes" aria-label={label}>
        {lines.map((l) => <li key={l}><code>{l}</code></li>)}
      </ul>
    );
  }
  if (changes.length === 0) return <p class="muted">No environment's served value changed.</p>;
  return (
    <table class="diff" aria-label={label}>
      <thead>
        <tr><th scope="col">Environment</th><th scope="col">Before</th><th scope="col">After</th></tr>
      </thead>
      <tbody>
        {changes.map((c) => (
          <tr key={c.environment} data-env={c.environment}>
            <th scope="row">{c.environment}</th>
            {kind === 'secret'
              ? <td colSpan={2} class="secret-change">Secret value changed ({describeServed(c.before, c.environment)} → {describeServed(c.after, c.environment)}); values are never shown here.</td>
              : (
                <>
                  <td class="before"><code>{describeServed(c.before, c.environment)}</code></td>
                  <td class="after"><code>{describeServed(c.after, c.environment)}</code></td>
                </>
              )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Confirm(props: {
  base: string;
  data: Data;
  plan: Plan;
  envs: ReturnType<typeof envOrder>;
  behind: number;  // revisions written since `data` was loaded
  onCancel: () => void;
  onDone: (message: string) => void;
  onStale: () => void;
}) {
  const { base, data, plan, envs, behind } = props;
  const [reason, setReason] = useState('');
  const [refreshed, setRefreshed] = useState(false);
  const { busy, error, submit, setError } = useSubmit();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => { heading.current?.focus(); setRefreshed(false); }, [plan]);
  const items: ItemChange[] = plan.type === 'revert'
    ? [revertPreview(plan.rev, data.revisions, envs)]
    : rollbackPreview(plan.to, data.revisions, envs);
  const title = plan.type === 'revert' ? `Revert revision ${plan.rev.seq}` : `Roll back to revision ${plan.to}`;
  const nothing = items.length === 0 || items.every((i) => i.changes.length === 0 && JSON.stringify(i.before) === JSON.stringify(i.after));
  const refresh = () => {
    setError(undefined);
    setRefreshed(true);
    props.onStale();
    heading.current?.focus();
  };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (behind > 0) { refresh(); return; }
    setRefreshed(false);
    void submit(async () => {
      const ifMatch = { 'if-match': `"${data.head}"` };
      try {
        if (plan.type === 'revert') {
          const r = await bff<{ revision: number }>('POST', `${base}/revisions/${plan.rev.seq}/revert`, { reason: reason.trim() }, ifMatch);
          props.onDone(`Revision ${plan.rev.seq} reverted (new revision ${r.revision}).`);
        } else {
          const r = await bff<{ revision: number; revisions_written: number }>('POST', `${base}/rollback`,
            { to_revision: plan.to, reason: reason.trim() }, ifMatch);
          props.onDone(`Rolled back to revision ${plan.to}: ${r.revisions_written} revision(s) written (head ${r.revision}).`);
        }
      } catch (err) {
        if (err instanceof ApiError && err.status === 412) {
          props.onStale();
          throw new ApiError(412, err.code, 'The workspace changed since this preview was made. The preview now shows the current state: check it, then confirm again.');
        }
        if (err instanceof ApiError && err.status === 403) {
          throw new ApiError(403, err.code, `Not allowed: ${err.message}`);
        }
        throw err;
      }
    }).catch((e2: unknown) => setError(messageOf(e2)));
  };
  return (
    <section class="panel confirm" aria-labelledby="confirm-h">
      <h2 id="confirm-h" tabIndex={-1} ref={heading}>Preview: {title}</h2>
      <div role="status">
        {behind > 0 && (
          <p class="warning stale">
            {behind === 1 ? '1 new revision' : `${behind} new revisions`}; the preview is out of date.
            Refresh it to see what confirming would change now.
          </p>
        )}
        {behind === 0 && refreshed && <p class="ok">The preview shows the current state: check it, then confirm.</p>}
      </div>
      {nothing
        ? <p>Nothing would change: the workspace already has this state.</p>
        : (
          <>
            <p>This will write new revisions that change:</p>
            <ul class="preview">
              {items.map((i) => (
                <li key={`${i.kind}/${i.key}`}>
                  <strong>{i.kind} <code>{i.key}</code></strong>
                  {i.after === null && <span> (removed)</span>}
                  {i.before === null && <span> (restored)</span>}
                  <Diff kind={i.kind} changes={i.changes} label={`Preview for ${i.kind} ${i.key}`} before={i.before} after={i.after} />
                </li>
              ))}
            </ul>
          </>
        )}
      <form onSubmit={onSubmit}>
        <Field id="confirm-reason" label="Reason">
          <input id="confirm-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <div class="actions">
          {behind > 0
            ? <button type="button" class="primary" onClick={refresh}>Refresh the preview</button>
            : (
              <button type="submit" class="primary" disabled={busy || nothing}>
                {busy ? 'Working…' : plan.type === 'revert' ? 'Confirm revert' : 'Confirm rollback'}
              </button>
            )}
          <button type="button" onClick={props.onCancel}>Cancel</button>
        </div>
      </form>
    </section>
  );
}

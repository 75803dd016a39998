// A workspace's change requests: the list (state, title, author, approvals, created), the
// navigation's badge of open requests the user could review, and the "New promotion" page
// (from/to environments, optional kinds and items, a dry-run preview of the diff, then
// create). One request's page is changerequest.tsx. Live: lists reload on every revision.
import { useState } from 'preact/hooks';
import { signal } from '@preact/signals';
import { bff, enc, session, type WorkspaceDetail } from '../api';
import { approvalsLabel, diffGroups, promotionBody, reviewableCount, stateLabel, typeLabel, type ChangeRequest, type CrChange } from '../crmodel';
import { actorName } from '../history';
import { envOrder } from '../model';
import { linkClick, navigate } from '../router';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';
import { useLiveRevisions } from './workspace';
import { formatTime, loadPeople, WsHeader, wsPath } from './wssection';

export const crBase = (wsKey: string) => `/bff/api/workspaces/${enc(wsKey)}`;

// Bumped after a change request action, so the badge counts again.
export const crChanged = signal(0);

// "Change requests" in the workspace's tabs, with the number of open requests the user could
// review. Quiet when it cannot load (the page itself shows the error).
export function ReviewBadge({ wsKey }: { wsKey: string }) {
  const tick = crChanged.value;
  const [res] = useResource(
    () => bff<{ change_requests?: ChangeRequest[] }>('GET', `${crBase(wsKey)}/change-requests?limit=1000`)
      .then((r) => reviewableCount(r.change_requests ?? [], session.value?.user.id)),
    [wsKey, tick]);
  const n = res.data ?? 0;
  if (n === 0) return null;
  return <> <span class="badge count" title={`${n} open change request${n === 1 ? '' : 's'} to review`}>{n}<span class="sr-only"> to review</span></span></>;
}

export function ChangeRequestsPage({ wsKey }: { wsKey: string }) {
  const base = crBase(wsKey);
  const [res, reload] = useResource(async () => {
    const [list, people] = await Promise.all([
      bff<{ change_requests?: ChangeRequest[] }>('GET', `${base}/change-requests?limit=200`),
      loadPeople(),
    ]);
    return { list: list.change_requests ?? [], people };
  }, [base]);
  const live = useLiveRevisions(`${base}/events`, () => { reload(); crChanged.value++; });
  const data = res.data;
  return (
    <>
      <WsHeader wsKey={wsKey} title="Change requests" />
      <p class="muted" role="status">{live ? 'Live: applied changes appear here.' : 'Live updates are not connected.'}</p>
      <p>
        <a class="button primary" href={wsPath(wsKey, 'change-requests/new')} onClick={linkClick}>New promotion</a>{' '}
        <a class="button" href={wsPath(wsKey, 'change-requests/draft')} onClick={linkClick}>Draft with AI</a>
      </p>
      {res.state === 'loading' && !data && <Loading what="the change requests" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {data && data.list.length === 0 && <p class="empty">No change requests yet. A promotion copies what one environment serves into another, reviewed first; “Propose as change request” in an item's editor proposes an edit.</p>}
      {data && data.list.length > 0 && (
        <table class="configs crs">
          <caption class="sr-only">Change requests, newest first</caption>
          <thead>
            <tr>
              <th scope="col">#</th><th scope="col">Title</th><th scope="col">Type</th><th scope="col">State</th>
              <th scope="col">Author</th><th scope="col">Approvals</th><th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {data.list.map((cr) => (
              <tr key={cr.id} data-cr={cr.id}>
                <td>{cr.id}</td>
                <th scope="row"><a href={wsPath(wsKey, `change-requests/${cr.id}`)} onClick={linkClick}>{cr.title}</a></th>
                <td data-cr-type={cr.type ?? 'promotion'}>{typeLabel(cr)}</td>
                <td><span class={`status cr-${cr.state}`}>{stateLabel(cr.state)}</span></td>
                <td>{actorName(cr.author, data.people.members, data.people.keys)}</td>
                <td>{approvalsLabel(cr)}</td>
                <td>{formatTime(cr.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

// The changes side by side: per target environment, each item's value before and after.
export function DiffTables({ changes }: { changes: CrChange[] | undefined }) {
  const groups = diffGroups(changes);
  if (groups.length === 0) return <p class="empty">No changes.</p>;
  return (
    <>
      {groups.map((g) => (
        <section key={g.environment} aria-labelledby={`diff-${g.environment || 'whole'}-h`} data-diff-env={g.environment || 'whole item'}>
          <h3 id={`diff-${g.environment || 'whole'}-h`}>
            {g.environment ? <>In <code>{g.environment}</code></> : 'Whole item (every environment)'}
          </h3>
          <table class="diff">
            <thead><tr><th scope="col">Item</th><th scope="col">Before</th><th scope="col">After</th></tr></thead>
            <tbody>
              {g.rows.map((r) => (
                <tr key={`${r.kind}/${r.key}`} data-item={`${r.kind}:${r.key}`}>
                  <th scope="row">{r.kind} <code>{r.key}</code></th>
                  <td><code>{r.before}</code></td>
                  <td><code>{r.after}</code></td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
      ))}
    </>
  );
}

const KINDS = ['config', 'flag', 'secret'] as const;

interface Preview { changes?: CrChange[]; required_approvals?: number; environments?: string[] }

export function NewPromotionPage({ wsKey }: { wsKey: string }) {
  const base = crBase(wsKey);
  const [res, reload] = useResource(() => bff<WorkspaceDetail>('GET', base), [base]);
  const envs = res.data ? envOrder(res.data.environments).map((e) => e.key) : [];
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [kinds, setKinds] = useState<string[]>([...KINDS]);
  const [items, setItems] = useState('');
  const [title, setTitle] = useState('');
  const [description, setDescription] = useState('');
  const [preview, setPreview] = useState<{ key: string; p: Preview } | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const f = { from: from || envs[0] || '', to: to || envs[1] || envs[0] || '', kinds, items, title, description };
  const key = JSON.stringify(f);
  const current = preview && preview.key === key ? preview.p : undefined;
  const onPreview = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const p = await bff<Preview>('POST', `${base}/promotions`, promotionBody({ ...f, dryRun: true }));
      setPreview({ key, p });
      setTimeout(() => document.getElementById('preview-h')?.focus(), 0);
    });
  };
  const create = () => void submit(async () => {
    const cr = await bff<ChangeRequest>('POST', `${base}/promotions`, promotionBody({ ...f, dryRun: false }));
    crChanged.value++;
    navigate(wsPath(wsKey, `change-requests/${cr.id}`));
  });
  const toggle = (k: string, on: boolean) => setKinds(on ? KINDS.filter((x) => x === k || kinds.includes(x)) : kinds.filter((x) => x !== k));
  return (
    <>
      <WsHeader wsKey={wsKey} title="New promotion" />
      <p class="muted">A promotion copies what one environment serves into another as a change request: you preview the diff, create it, and it is reviewed and applied in one step.</p>
      {res.state === 'loading' && !res.data && <Loading what="the environments" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && envs.length < 2 && <p class="empty">A promotion needs two environments; create them on the workspace's overview first.</p>}
      {res.data && envs.length >= 2 && (
        <form onSubmit={onPreview} class="panel" aria-labelledby="promo-h">
          <h2 id="promo-h">What to promote</h2>
          <div class="row">
            <Field id="promo-from" label="From">
              <select id="promo-from" value={f.from} onChange={(e) => setFrom(e.currentTarget.value)}>
                {envs.map((x) => <option key={x} value={x}>{x}</option>)}
              </select>
            </Field>
            <Field id="promo-to" label="To">
              <select id="promo-to" value={f.to} onChange={(e) => setTo(e.currentTarget.value)}>
                {envs.map((x) => <option key={x} value={x}>{x}</option>)}
              </select>
            </Field>
          </div>
          <fieldset>
            <legend>Kinds</legend>
            {KINDS.map((k) => (
              <span class="check" key={k}>
                <input id={`promo-kind-${k}`} type="checkbox" checked={kinds.includes(k)} onChange={(e) => toggle(k, e.currentTarget.checked)} />
                <label for={`promo-kind-${k}`}>{k}s</label>
              </span>
            ))}
          </fieldset>
          <Field id="promo-items" label="Only these items (optional)" hint="Keys separated by commas or spaces; kind:key (e.g. config:db.pool) names one kind. Empty: every item of the chosen kinds.">
            <input id="promo-items" value={items} aria-describedby="promo-items-hint" onInput={(e) => setItems(e.currentTarget.value)} />
          </Field>
          <Field id="promo-title" label="Title">
            <input id="promo-title" required maxLength={200} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          </Field>
          <Field id="promo-description" label="Description (optional)">
            <textarea id="promo-description" maxLength={4000} rows={3} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
          </Field>
          {error && <ErrorMessage message={error} />}
          <button type="submit" class="primary" disabled={busy || kinds.length === 0}>{busy && !current ? 'Computing…' : 'Preview the diff'}</button>
        </form>
      )}
      {current && (
        <section class="panel preview" aria-labelledby="preview-h">
          <h2 id="preview-h" tabIndex={-1}>Preview: {f.from} → {f.to}</h2>
          <p>
            {current.changes?.length ?? 0} change{current.changes?.length === 1 ? '' : 's'}; {current.required_approvals ?? 0} approval{current.required_approvals === 1 ? '' : 's'} required
            {current.environments?.length ? ` (touches ${current.environments.join(', ')})` : ''}. Secrets are copied by reference: their values are never shown.
          </p>
          <DiffTables changes={current.changes} />
          <button type="button" class="primary" disabled={busy} onClick={create}>{busy ? 'Creating…' : 'Create change request'}</button>
        </section>
      )}
    </>
  );
}

// Segments of one workspace: reusable sets of contexts for flag rules (`segment_match`). The
// list, and an editor for one segment: included and excluded context keys and rules of
// clauses (the clause builder the flag editor uses). Writes are the item PUT with If-Match.
import { useState } from 'preact/hooks';
import { bff, enc, type WorkspaceDetail } from '../api';
import { parseKeys, type Clause, type SegmentItem } from '../flagmodel';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';
import { ClauseList, SectionHeader, fromEClause, itemBody, putIfMatch, toEClause } from './flags';
import { DeleteItem } from './deleteitem';
import { ProposeChange, saveOrOffer } from './propose';
import { itemEntries, proposalTitle } from '../crmodel';
import { useLiveRevisions } from './workspace';

interface Data { ws: WorkspaceDetail; segments: SegmentItem[] }

export function SegmentsPage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}`;
  const [res, reload] = useResource<Data>(async () => {
    const [ws, segments] = await Promise.all([
      bff<WorkspaceDetail>('GET', base),
      bff<{ items: SegmentItem[] }>('GET', `${base}/segments`),
    ]);
    return { ws, segments: segments.items ?? [] };
  }, [base]);
  const live = useLiveRevisions(`${base}/events`, reload);
  const [editing, setEditing] = useState<string | null | undefined>(undefined);
  const [saved, setSaved] = useState<string | undefined>(undefined);
  const data = res.data;
  const edit = (key: string | null) => {
    setSaved(undefined);
    setEditing(key);
    setTimeout(() => document.getElementById('seg-editor-h')?.focus(), 0);
  };
  const segments = data ? [...data.segments].sort((a, b) => a.key.localeCompare(b.key)) : [];
  return (
    <>
      <SectionHeader wsKey={wsKey} title="Segments" revision={data?.ws.revision} live={live} />
      {res.state === 'loading' && !data && <Loading what="the segments" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {data && (
        <>
          <section aria-labelledby="segs-h">
            <h2 id="segs-h">Segments</h2>
            {segments.length === 0 && <p class="empty">No segments yet. A segment names a set of contexts that flag rules can target.</p>}
            {segments.length > 0 && (
              <ul class="cards">
                {segments.map((s) => (
                  <li key={s.key}>
                    <code>{s.key}</code>
                    <span class="muted"> {s.included?.length ?? 0} included, {s.excluded?.length ?? 0} excluded, {s.rules?.length ?? 0} rules</span>
                    <button type="button" class="small" aria-label={`Edit ${s.key}`} onClick={() => edit(s.key)}>Edit</button>
                  </li>
                ))}
              </ul>
            )}
            <button type="button" onClick={() => edit(null)}>New segment</button>
          </section>
          {saved && <p role="status" class="ok">{saved}</p>}
          {editing !== undefined && (
            <SegmentEditor key={`${editing ?? ''}@${editing === null ? 0 : data.segments.find((s) => s.key === editing)?.revision ?? 0}`}
              wsKey={wsKey} base={base} data={data} segKey={editing}
              onDone={(k) => { setSaved(`${k} saved.`); setEditing(k); reload(); }}
              onClose={() => { setSaved(undefined); setEditing(undefined); }} />
          )}
          <DeleteItem wsKey={wsKey} base={base} kind="segment" keys={segments.map((s) => s.key)}
            onDone={(k) => { if (editing === k) setEditing(undefined); setSaved(undefined); reload(); }} />
        </>
      )}
    </>
  );
}

interface ERule { id: string; clauses: ReturnType<typeof toEClause>[] }

function SegmentEditor({ wsKey, base, data, segKey, onDone, onClose }: {
  wsKey: string; base: string; data: Data; segKey: string | null; onDone: (key: string) => void; onClose: () => void;
}) {
  const original = segKey === null ? undefined : data.segments.find((s) => s.key === segKey);
  const [key, setKey] = useState(original?.key ?? '');
  const [description, setDescription] = useState(original?.description ?? '');
  const [included, setIncluded] = useState((original?.included ?? []).join('\n'));
  const [excluded, setExcluded] = useState((original?.excluded ?? []).join('\n'));
  const [rules, setRules] = useState<ERule[]>(() =>
    (original?.rules ?? []).map((r) => ({ id: r.id ?? '', clauses: r.clauses.map(toEClause) })));
  const [reason, setReason] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const updateRules = (fn: (r: ERule[]) => void) => setRules((prev) => {
    const copy = structuredClone(prev);
    fn(copy);
    return copy;
  });
  const [refused, setRefused] = useState<string | undefined>(undefined);
  // The segment's PUT body (without reason), or the first problem found.
  const segmentBody = (): Record<string, unknown> | string => {
    const out: { id?: string; clauses: Clause[] }[] = [];
    for (const [ri, r] of rules.entries()) {
      const clauses: Clause[] = [];
      for (const [ci, c] of r.clauses.entries()) {
        const clause = fromEClause(c, `Rule ${ri + 1}, clause ${ci + 1}`);
        if (typeof clause === 'string') return clause;
        clauses.push(clause);
      }
      out.push(r.id.trim() ? { id: r.id.trim(), clauses } : { clauses });
    }
    const body: Record<string, unknown> = original ? itemBody(original) : {};
    body.included = parseKeys(included);
    body.excluded = parseKeys(excluded);
    body.rules = out;
    if (description.trim()) body.description = description.trim();
    else delete body.description;
    return body;
  };
  const k = key.trim();
  const entries = () => {
    if (!k) return 'Give the segment a key.';
    const body = segmentBody();
    return typeof body === 'string' ? body : itemEntries('segment', k, undefined, body);
  };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const body = segmentBody();
    if (typeof body === 'string') {
      setError(body);
      return;
    }
    body.reason = reason.trim();
    void submit(async () => {
      let saved = false;
      await saveOrOffer(async () => { saved = await putIfMatch(`${base}/segments/${enc(k)}`, body, data.ws.revision, setError); }, setRefused);
      if (saved) onDone(k);
    });
  };
  return (
    <form onSubmit={onSubmit} class="panel editor" aria-labelledby="seg-editor-h" noValidate>
      <h2 id="seg-editor-h" tabIndex={-1}>{original ? `Edit ${original.key}` : 'New segment'}</h2>
      {!original && (
        <Field id="seg-key" label="Key" hint="Lower-case letters, digits, '.', '_' and '-', e.g. beta-testers.">
          <input id="seg-key" required maxLength={64} aria-describedby="seg-key-hint" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        </Field>
      )}
      <Field id="seg-desc" label="Description (optional)">
        <input id="seg-desc" maxLength={500} value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
      </Field>
      <div class="row">
        <Field id="seg-included" label="Included context keys (one per line)">
          <textarea id="seg-included" rows={3} value={included} onInput={(e) => setIncluded(e.currentTarget.value)} />
        </Field>
        <Field id="seg-excluded" label="Excluded context keys (one per line; they win over everything)">
          <textarea id="seg-excluded" rows={3} value={excluded} onInput={(e) => setExcluded(e.currentTarget.value)} />
        </Field>
      </div>
      <fieldset>
        <legend>Rules (a context matching any rule is in the segment)</legend>
        {rules.length === 0 && <p class="empty">No rules: only the included keys are in the segment.</p>}
        {rules.map((r, ri) => (
          <fieldset key={ri} class="rule">
            <legend>Rule {ri + 1}</legend>
            <Field id={`seg-r${ri}-id`} label={`Rule ${ri + 1} id (optional)`}>
              <input id={`seg-r${ri}-id`} value={r.id} onInput={(e) => { const v = e.currentTarget.value; updateRules((x) => { x[ri]!.id = v; }); }} />
            </Field>
            <ClauseList prefix={`seg-r${ri}`} clauses={r.clauses} segments={data.segments.filter((s) => s.key !== key)}
              update={(fn) => updateRules((x) => fn(x[ri]!.clauses))} />
            <button type="button" class="small" aria-label={`Remove rule ${ri + 1}`} onClick={() => updateRules((x) => { x.splice(ri, 1); })}>Remove rule</button>
          </fieldset>
        ))}
        <button type="button" onClick={() => updateRules((x) => { x.push({ id: '', clauses: [{ attribute: '', op: 'in', text: '', negate: false }] }); })}>Add rule</button>
      </fieldset>
      <Field id="seg-reason" label="Reason">
        <input id="seg-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save segment'}</button>
        <button type="button" onClick={onClose}>Close editor</button>
      </div>
      <ProposeChange key={refused ?? ''} id="seg-propose" wsKey={wsKey} entries={entries}
        title={proposalTitle([{ kind: 'segment', key: k, body: {} }], !original)} reason={reason} refused={refused} />
    </form>
  );
}

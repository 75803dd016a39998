// Flags of one workspace: the flags × environments table with a one-click on/off toggle (it
// asks for the reason), the flag editor (variations, individual targets, ordered rules with
// clauses, percentage rollouts, prerequisites, per environment) and the "evaluate as" panel
// (one context, every environment, by the api's evaluate route: the evaluator delivery uses),
// and the insights chart (./insights.tsx: evaluations per variant over time).
// Every write is the item PUT with If-Match on the revision the page shows. Live: reloads on
// each `revision` event of the workspace.
import { useState } from 'preact/hooks';
import { ApiError, bff, enc, type Environment, type WorkspaceDetail } from '../api';
import {
  OPERATORS, operatorOf, parseClauseValues, parseKeys, percentToWeight, rolloutError, valuesToText, weightToPercent,
  type Clause, type FlagEnv, type FlagItem, type Outcome, type Rule, type SegmentItem,
} from '../flagmodel';
import { envOrder, formatValue } from '../model';
import { linkClick } from '../router';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';
import { DeleteItem } from './deleteitem';
import { InsightsPanel } from './insights';
import { CrOnlyNote, crOnly, envOption, ProposeChange, saveOrOffer } from './propose';
import { itemEntries, proposalTitle, type ChangeEntry } from '../crmodel';
import { useLiveRevisions } from './workspace';

interface Data { ws: WorkspaceDetail; flags: FlagItem[]; segments: SegmentItem[] }

// The item as the api returns it carries its metadata; a PUT sends the document only.
export function itemBody<T extends object>(item: T): Record<string, unknown> {
  const body = { ...item } as Record<string, unknown>;
  for (const k of ['key', 'kind', 'revision', 'updated_at', 'workspace_revision']) delete body[k];
  return body;
}

// PUTs an item with If-Match on the revision the page shows. Answers false, with the message
// set, when the workspace moved on meanwhile (412); other failures throw.
export async function putIfMatch(path: string, body: unknown, revision: number,
  setError: (m: string) => void, method = 'PUT'): Promise<boolean> {
  try {
    await bff(method, path, body, { 'if-match': `"${revision}"` });
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 412) {
      setError('Someone else changed this workspace meanwhile; the page now shows their change. Check it and try again.');
      return false;
    }
    throw e;
  }
}

// The top of a workspace section page: breadcrumbs, the title, the revision and whether live
// updates are connected.
export function SectionHeader({ wsKey, title, revision, live }: {
  wsKey: string; title: string; revision: number | undefined; live: boolean;
}) {
  return (
    <>
      <p class="crumbs">
        <a href="/workspaces" onClick={linkClick}>Workspaces</a> / <a href={`/workspaces/${enc(wsKey)}`} onClick={linkClick}><code>{wsKey}</code></a> / {title}
      </p>
      <h1 tabIndex={-1} data-autofocus>{title}</h1>
      <p class="muted" role="status">
        {revision !== undefined ? `Revision ${revision}. ` : ''}
        {live ? 'Live: changes made elsewhere appear here.' : 'Live updates are not connected.'}
      </p>
    </>
  );
}

export function FlagsPage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}`;
  const [res, reload] = useResource<Data>(async () => {
    const [ws, flags, segments] = await Promise.all([
      bff<WorkspaceDetail>('GET', base),
      bff<{ items: FlagItem[] }>('GET', `${base}/flags`),
      bff<{ items: SegmentItem[] }>('GET', `${base}/segments`),
    ]);
    return { ws, flags: flags.items ?? [], segments: segments.items ?? [] };
  }, [base]);
  const live = useLiveRevisions(`${base}/events`, reload);
  const [editing, setEditing] = useState<string | null | undefined>(undefined);  // null: a new flag
  const [saved, setSaved] = useState<string | undefined>(undefined);
  const data = res.data;
  const editFlag = (key: string | null) => {
    setEditing(key);
    setTimeout(() => document.getElementById('flag-editor-h')?.focus(), 0);
  };
  return (
    <>
      <SectionHeader wsKey={wsKey} title="Flags" revision={data?.ws.revision} live={live} />
      {res.state === 'loading' && !data && <Loading what="the flags" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {data && (
        <>
          <FlagTable wsKey={wsKey} base={base} data={data} onDone={reload} onEdit={editFlag} />
          <p><button type="button" onClick={() => { setSaved(undefined); editFlag(null); }}>New flag</button></p>
          {saved && <p role="status" class="ok">{saved}</p>}
          {editing !== undefined && (
            // A new item revision (saved here or elsewhere) starts the editor afresh from it.
            <FlagEditor key={`${editing ?? ''}@${editing === null ? 0 : data.flags.find((f) => f.key === editing)?.revision ?? 0}`}
              wsKey={wsKey} base={base} data={data} flagKey={editing}
              onDone={(k) => { setSaved(`${k} saved.`); setEditing(k); reload(); }}
              onClose={() => { setSaved(undefined); setEditing(undefined); }} />
          )}
          {data.flags.length > 0 && <EvaluatePanel base={base} data={data} />}
          {data.flags.length > 0 && data.ws.environments.length > 0 && (
            <InsightsPanel base={base} ws={data.ws} flagKeys={data.flags.map((f) => f.key).sort()} />
          )}
          <DeleteItem wsKey={wsKey} base={base} kind="flag" keys={data.flags.map((f) => f.key).sort()}
            onDone={(k) => { if (editing === k) setEditing(undefined); setSaved(undefined); reload(); }} />
        </>
      )}
    </>
  );
}

interface Toggle { flag: FlagItem; env: string }

function FlagTable({ wsKey, base, data, onDone, onEdit }: {
  wsKey: string; base: string; data: Data; onDone: () => void; onEdit: (key: string) => void;
}) {
  const envs = envOrder(data.ws.environments);
  const flags = [...data.flags].sort((a, b) => a.key.localeCompare(b.key));
  const [toggle, setToggle] = useState<Toggle | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const choose = (t: Toggle) => {
    setToggle(t);
    setDone(undefined);
    setTimeout(() => document.getElementById('toggle-reason')?.focus(), 0);
  };
  return (
    <section aria-labelledby="flags-h">
      <h2 id="flags-h">Flags</h2>
      {flags.length === 0 && <p class="empty">No flags yet. Create one with "New flag".</p>}
      {flags.length > 0 && envs.length === 0 && <p class="empty">Create an environment to configure these flags.</p>}
      {flags.length > 0 && envs.length > 0 && (
        <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="flags-h">
          <table class="configs flags">
            <caption>Each cell: whether the flag is on in the environment. A button toggles it (you give a reason).</caption>
            <thead>
              <tr>
                <th scope="col">Flag</th>
                {envs.map((env) => <th key={env.key} scope="col">{env.key}</th>)}
              </tr>
            </thead>
            <tbody>
              {flags.map((flag) => (
                <tr key={flag.key}>
                  <th scope="row">
                    <code>{flag.key}</code>
                    <button type="button" class="small" aria-label={`Edit ${flag.key}`} onClick={() => onEdit(flag.key)}>Edit</button>
                  </th>
                  {envs.map((env) => {
                    const cfg = flag.environments?.[env.key];
                    return (
                      <td key={env.key} data-env={env.key}>
                        {cfg === undefined
                          ? <span class="muted">{inheritedFrom(flag, env, data.ws.environments) ?? 'not configured'}</span>
                          : (
                            <button type="button" class={`toggle ${cfg.on ? 'on' : 'off'}`} aria-pressed={cfg.on}
                              aria-label={`${flag.key} in ${env.key}: ${cfg.on ? 'on' : 'off'}. Turn it ${cfg.on ? 'off' : 'on'}`}
                              onClick={() => choose({ flag, env: env.key })}>{cfg.on ? 'On' : 'Off'}</button>
                          )}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {done && <p role="status" class="ok">{done}</p>}
      {toggle && (
        <ToggleForm wsKey={wsKey} base={base} revision={data.ws.revision} toggle={toggle}
          onCancel={() => setToggle(undefined)}
          onDone={(message) => { setToggle(undefined); setDone(message); onDone(); }} />
      )}
    </section>
  );
}

function inheritedFrom(flag: FlagItem, env: Environment, envs: Environment[]): string | undefined {
  const byKey = new Map(envs.map((e) => [e.key, e]));
  const seen = new Set<string>();
  let at = env.parent ?? undefined;
  while (at && !seen.has(at)) {
    seen.add(at);
    const cfg = flag.environments?.[at];
    if (cfg) return `inherits ${at} (${cfg.on ? 'on' : 'off'})`;
    at = byKey.get(at)?.parent ?? undefined;
  }
  return undefined;
}

function ToggleForm({ wsKey, base, revision, toggle, onCancel, onDone }: {
  wsKey: string; base: string; revision: number; toggle: Toggle; onCancel: () => void; onDone: (message: string) => void;
}) {
  const [reason, setReason] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const cfg = toggle.flag.environments[toggle.env]!;
  const to = !cfg.on;
  const entries: ChangeEntry[] = [{ kind: 'flag', key: toggle.flag.key, environment: toggle.env, configuration: { ...cfg, on: to } }];
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const body = itemBody(toggle.flag);
      body.environments = { ...toggle.flag.environments, [toggle.env]: { ...cfg, on: to } };
      body.reason = reason.trim();
      let saved = false;
      await saveOrOffer(async () => { saved = await putIfMatch(`${base}/flags/${enc(toggle.flag.key)}`, body, revision, setError); }, setRefused);
      if (saved) onDone(`${toggle.flag.key} is now ${to ? 'on' : 'off'} in ${toggle.env}.`);
    });
  };
  return (
    <form onSubmit={onSubmit} class="panel" aria-labelledby="toggle-h">
      <h3 id="toggle-h">Turn {toggle.flag.key} {to ? 'on' : 'off'} in {toggle.env}</h3>
      <Field id="toggle-reason" label="Reason">
        <input id="toggle-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : `Turn ${to ? 'on' : 'off'}`}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
      <ProposeChange key={refused ?? ''} id="toggle-propose" wsKey={wsKey} entries={() => entries}
        title={`Turn flag "${toggle.flag.key}" ${to ? 'on' : 'off'} in ${toggle.env}`} reason={reason} refused={refused} />
    </form>
  );
}

// ---- The editor. It holds text as typed and converts it on save, so a half-typed value is
// never lost to a re-render.

interface EClause { attribute: string; op: string; text: string; negate: boolean }
interface EOutcome { mode: 'variation' | 'rollout'; variation: number; percents: string[]; bucketBy: string }
interface ERule { id: string; clauses: EClause[]; outcome: EOutcome }
interface EEnv {
  on: boolean;
  off: string;  // '' = no off variation
  targets: string[];  // per variation: keys, one per line
  rules: ERule[];
  fallthrough: EOutcome;
  prereqs: { flag: string; variation: string }[];
}
interface EFlag { key: string; description: string; variations: { name: string; value: string }[]; envs: Record<string, EEnv | null> }

export function toEClause(c: Clause): EClause {
  return { attribute: c.attribute ?? '', op: c.op, text: valuesToText(c.values ?? []), negate: !!c.negate };
}

function toEOutcome(o: Outcome | undefined, n: number): EOutcome {
  const percents = Array.from({ length: n }, () => '0');
  if (o?.rollout) {
    for (const wv of o.rollout) if (wv.variation >= 0 && wv.variation < n) percents[wv.variation] = weightToPercent(wv.weight);
    return { mode: 'rollout', variation: 0, percents, bucketBy: o.bucket_by ?? '' };
  }
  return { mode: 'variation', variation: o?.variation ?? 0, percents, bucketBy: '' };
}

function toEEnv(c: FlagEnv, n: number): EEnv {
  const targets = Array.from({ length: n }, () => '');
  for (const t of c.targets ?? []) if (t.variation >= 0 && t.variation < n) targets[t.variation] = t.values.join('\n');
  return {
    on: c.on,
    off: c.off_variation === undefined || c.off_variation === null ? '' : String(c.off_variation),
    targets,
    rules: (c.rules ?? []).map((r) => ({ id: r.id ?? '', clauses: r.clauses.map(toEClause), outcome: toEOutcome(r, n) })),
    fallthrough: toEOutcome(c.fallthrough, n),
    prereqs: (c.prerequisites ?? []).map((p) => ({ flag: p.flag, variation: String(p.variation) })),
  };
}

function newEEnv(n: number): EEnv {
  return { on: false, off: '0', targets: Array.from({ length: n }, () => ''), rules: [], fallthrough: toEOutcome(undefined, n), prereqs: [] };
}

function toEFlag(f: FlagItem | undefined, envs: Environment[]): EFlag {
  const variations = f
    ? f.variations.map((v) => ({ name: v.name ?? '', value: JSON.stringify(v.value) }))
    : [{ name: 'Off', value: 'false' }, { name: 'On', value: 'true' }];
  const e: Record<string, EEnv | null> = {};
  for (const env of envs) {
    const cfg = f?.environments?.[env.key];
    e[env.key] = cfg ? toEEnv(cfg, variations.length) : f ? null : newEEnv(variations.length);
  }
  return { key: f?.key ?? '', description: f?.description ?? '', variations, envs: e };
}

export function fromEClause(c: EClause, where: string): Clause | string {
  const parsed = parseClauseValues(c.op, c.text);
  if ('error' in parsed) return `${where}: ${parsed.error}`;
  const out: Clause = { op: c.op, values: parsed.values };
  if (c.op !== 'segment_match') {
    if (!c.attribute.trim()) return `${where}: enter the attribute the clause tests, e.g. plan or address.country.`;
    out.attribute = c.attribute.trim();
  }
  if (c.negate) out.negate = true;
  return out;
}

function fromEOutcome(o: EOutcome, where: string): Outcome | string {
  if (o.mode === 'variation') return { variation: o.variation };
  const err = rolloutError(o.percents);
  if (err) return `${where}: ${err}`;
  const out: Outcome = { rollout: o.percents.map((p, i) => ({ variation: i, weight: percentToWeight(p)! })) };
  if (o.bucketBy.trim()) out.bucket_by = o.bucketBy.trim();
  return out;
}

// The PUT body (without reason), or the first problem found.
function fromEFlag(f: EFlag, original: FlagItem | undefined): Record<string, unknown> | string {
  const variations: { value: unknown; name?: string }[] = [];
  for (const [i, v] of f.variations.entries()) {
    let value: unknown;
    try {
      value = JSON.parse(v.value);
    } catch {
      return `Variation ${i + 1}: the value must be JSON, e.g. true, 42 or "text" (with quotes).`;
    }
    variations.push(v.name.trim() ? { value, name: v.name.trim() } : { value });
  }
  if (variations.length === 0) return 'A flag needs at least one variation.';
  const environments: Record<string, FlagEnv> = {};
  for (const [env, e] of Object.entries(f.envs)) {
    if (!e) continue;
    const cfg: FlagEnv = { on: e.on, fallthrough: { variation: 0 } };
    if (e.off !== '') cfg.off_variation = Number(e.off);
    const targets = e.targets.map((t, variation) => ({ variation, values: parseKeys(t) })).filter((t) => t.values.length > 0);
    if (targets.length) cfg.targets = targets;
    const rules: Rule[] = [];
    for (const [ri, r] of e.rules.entries()) {
      const where = `${env}, rule ${ri + 1}`;
      const clauses: Clause[] = [];
      for (const [ci, c] of r.clauses.entries()) {
        const clause = fromEClause(c, `${where}, clause ${ci + 1}`);
        if (typeof clause === 'string') return clause;
        clauses.push(clause);
      }
      const outcome = fromEOutcome(r.outcome, where);
      if (typeof outcome === 'string') return outcome;
      rules.push(r.id.trim() ? { id: r.id.trim(), clauses, ...outcome } : { clauses, ...outcome });
    }
    if (rules.length) cfg.rules = rules;
    const fall = fromEOutcome(e.fallthrough, `${env}, default rule`);
    if (typeof fall === 'string') return fall;
    cfg.fallthrough = fall;
    const prereqs = [];
    for (const p of e.prereqs) {
      if (!p.flag) return `${env}: choose the flag of every prerequisite.`;
      prereqs.push({ flag: p.flag, variation: Number(p.variation) });
    }
    if (prereqs.length) cfg.prerequisites = prereqs;
    environments[env] = cfg;
  }
  const body: Record<string, unknown> = original ? itemBody(original) : {};
  body.variations = variations;
  body.environments = environments;
  if (f.description.trim()) body.description = f.description.trim();
  else delete body.description;
  return body;
}

function FlagEditor({ wsKey, base, data, flagKey, onDone, onClose }: {
  wsKey: string; base: string; data: Data; flagKey: string | null; onDone: (key: string) => void; onClose: () => void;
}) {
  const envs = envOrder(data.ws.environments);
  const original = flagKey === null ? undefined : data.flags.find((f) => f.key === flagKey);
  const [draft, setDraft] = useState<EFlag>(() => toEFlag(original, envs));
  const [envKey, setEnvKey] = useState(envs[0]?.key ?? '');
  const [reason, setReason] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const update = (fn: (d: EFlag) => void) => {
    setError(undefined);  // the last save's problem may be fixed by this change
    setDraft((d) => {
      const copy = structuredClone(d);
      fn(copy);
      return copy;
    });
  };
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const n = draft.variations.length;
  const env = envKey ? draft.envs[envKey] : undefined;
  const only = crOnly(envs);
  // What Save would write, as change entries: one environment's configuration when only
  // that changed, else the whole flag.
  const entries = (): ChangeEntry[] | string => {
    const key = draft.key.trim();
    if (!key) return 'Give the flag a key.';
    const body = fromEFlag(draft, original);
    return typeof body === 'string' ? body : itemEntries('flag', key, original && itemBody(original), body);
  };
  const proposed = entries();
  const title = typeof proposed === 'string'
    ? `${original ? 'Update' : 'Create'} flag "${draft.key.trim()}"`
    : proposalTitle(proposed, !original);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const key = draft.key.trim();
    const body = fromEFlag(draft, original);
    if (typeof body === 'string') {
      setError(body);
      return;
    }
    body.reason = reason.trim();
    void submit(async () => {
      let saved = false;
      await saveOrOffer(async () => { saved = await putIfMatch(`${base}/flags/${enc(key)}`, body, data.ws.revision, setError); }, setRefused);
      if (saved) onDone(key);
    });
  };
  const variationOptions = draft.variations.map((v, i) => (
    <option key={i} value={String(i)}>{v.name || `Variation ${i + 1}`} ({v.value})</option>
  ));
  return (
    <form onSubmit={onSubmit} class="panel editor" aria-labelledby="flag-editor-h" noValidate>
      <h2 id="flag-editor-h" tabIndex={-1}>{original ? `Edit ${original.key}` : 'New flag'}</h2>
      {!original && (
        <Field id="flag-key" label="Key" hint="Letters, digits, '.', '_' and '-', e.g. new-checkout or newCheckout (case-sensitive).">
          <input id="flag-key" required maxLength={64} aria-describedby="flag-key-hint" value={draft.key}
            onInput={(e) => { const v = e.currentTarget.value; update((d) => { d.key = v; }); }} />
        </Field>
      )}
      <Field id="flag-desc" label="Description (optional)">
        <input id="flag-desc" maxLength={500} value={draft.description}
          onInput={(e) => { const v = e.currentTarget.value; update((d) => { d.description = v; }); }} />
      </Field>

      <fieldset>
        <legend>Variations</legend>
        {draft.variations.map((v, i) => (
          <div class="row" key={i}>
            <Field id={`var-${i}-name`} label={`Variation ${i + 1} name`}>
              <input id={`var-${i}-name`} value={v.name}
                onInput={(e) => { const x = e.currentTarget.value; update((d) => { d.variations[i]!.name = x; }); }} />
            </Field>
            <Field id={`var-${i}-value`} label={`Variation ${i + 1} value (JSON)`}>
              <input id={`var-${i}-value`} value={v.value}
                onInput={(e) => { const x = e.currentTarget.value; update((d) => { d.variations[i]!.value = x; }); }} />
            </Field>
            {n > 1 && (
              <button type="button" class="small" aria-label={`Remove variation ${i + 1}`}
                onClick={() => update((d) => removeVariation(d, i))}>Remove</button>
            )}
          </div>
        ))}
        <button type="button" onClick={() => update(addVariation)}>Add variation</button>
      </fieldset>

      {envs.length === 0 && <p class="empty">Create an environment to configure this flag.</p>}
      {envs.length > 0 && (
        <Field id="flag-env" label="Environment to configure">
          <select id="flag-env" value={envKey} onChange={(e) => setEnvKey(e.currentTarget.value)}>
            {envs.map((x) => <option key={x.key} value={x.key}>{envOption(x, only)}{draft.envs[x.key] ? '' : ' (not configured)'}</option>)}
          </select>
        </Field>
      )}
      {envKey && <CrOnlyNote env={envKey} only={only} />}
      {envKey && (
        <div class="check">
          <input id="flag-env-configured" type="checkbox" checked={!!env}
            onChange={(e) => { const on = e.currentTarget.checked; update((d) => { d.envs[envKey] = on ? newEEnv(n) : null; }); }} />
          <label for="flag-env-configured">Configured in {envKey} (otherwise it inherits its parent's configuration)</label>
        </div>
      )}
      {env && (
        <EnvEditor envKey={envKey} env={env} n={n} variationOptions={variationOptions} data={data} flagKey={draft.key}
          update={(fn) => update((d) => fn(d.envs[envKey]!))} />
      )}

      <Field id="flag-reason" label="Reason">
        <input id="flag-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save flag'}</button>
        <button type="button" onClick={onClose}>Close editor</button>
      </div>
      <ProposeChange key={refused ?? ''} id="flag-propose" wsKey={wsKey} entries={entries} title={title} reason={reason} refused={refused} />
    </form>
  );
}

function addVariation(d: EFlag) {
  d.variations.push({ name: '', value: '""' });
  for (const e of Object.values(d.envs)) {
    if (!e) continue;
    e.targets.push('');
    for (const o of [e.fallthrough, ...e.rules.map((r) => r.outcome)]) o.percents.push('0');
  }
}

function removeVariation(d: EFlag, i: number) {
  d.variations.splice(i, 1);
  const fix = (v: number) => (v === i ? 0 : v > i ? v - 1 : v);
  for (const e of Object.values(d.envs)) {
    if (!e) continue;
    e.targets.splice(i, 1);
    if (e.off !== '') e.off = String(fix(Number(e.off)));
    for (const o of [e.fallthrough, ...e.rules.map((r) => r.outcome)]) {
      o.percents.splice(i, 1);
      o.variation = fix(o.variation);
    }
  }
}

function EnvEditor({ envKey, env, n, variationOptions, data, flagKey, update }: {
  envKey: string; env: EEnv; n: number; variationOptions: preact.JSX.Element[]; data: Data; flagKey: string;
  update: (fn: (e: EEnv) => void) => void;
}) {
  const p = `env-${envKey}`;
  return (
    <div class="env-editor">
      <div class="check">
        <input id={`${p}-on`} type="checkbox" checked={env.on} onChange={(e) => { const v = e.currentTarget.checked; update((x) => { x.on = v; }); }} />
        <label for={`${p}-on`}>On in {envKey}</label>
      </div>
      <Field id={`${p}-off`} label="When off, serve">
        <select id={`${p}-off`} value={env.off} onChange={(e) => { const v = e.currentTarget.value; update((x) => { x.off = v; }); }}>
          <option value="">(nothing: the SDK's default)</option>
          {variationOptions}
        </select>
      </Field>

      <fieldset>
        <legend>Individual targets</legend>
        {env.targets.map((t, i) => (
          <Field key={i} id={`${p}-targets-${i}`} label={`Context keys served variation ${i + 1} (one per line)`}>
            <textarea id={`${p}-targets-${i}`} rows={2} value={t}
              onInput={(e) => { const v = e.currentTarget.value; update((x) => { x.targets[i] = v; }); }} />
          </Field>
        ))}
      </fieldset>

      <fieldset>
        <legend>Rules (tried in order; the first that matches decides)</legend>
        {env.rules.length === 0 && <p class="empty">No rules: every context gets the default rule.</p>}
        {env.rules.map((r, ri) => (
          <fieldset key={ri} class="rule">
            <legend>Rule {ri + 1}</legend>
            <Field id={`${p}-r${ri}-id`} label={`Rule ${ri + 1} id (optional)`}>
              <input id={`${p}-r${ri}-id`} value={r.id} onInput={(e) => { const v = e.currentTarget.value; update((x) => { x.rules[ri]!.id = v; }); }} />
            </Field>
            <ClauseList prefix={`${p}-r${ri}`} clauses={r.clauses} segments={data.segments}
              update={(fn) => update((x) => fn(x.rules[ri]!.clauses))} />
            <OutcomeEditor prefix={`${p}-r${ri}`} label={`Rule ${ri + 1} serves`} outcome={r.outcome} n={n}
              variationOptions={variationOptions} update={(fn) => update((x) => fn(x.rules[ri]!.outcome))} />
            <div class="actions">
              {ri > 0 && <button type="button" class="small" aria-label={`Move rule ${ri + 1} up`}
                onClick={() => update((x) => { const [m] = x.rules.splice(ri, 1); x.rules.splice(ri - 1, 0, m!); })}>Move up</button>}
              {ri < env.rules.length - 1 && <button type="button" class="small" aria-label={`Move rule ${ri + 1} down`}
                onClick={() => update((x) => { const [m] = x.rules.splice(ri, 1); x.rules.splice(ri + 1, 0, m!); })}>Move down</button>}
              <button type="button" class="small" aria-label={`Remove rule ${ri + 1}`}
                onClick={() => update((x) => { x.rules.splice(ri, 1); })}>Remove rule</button>
            </div>
          </fieldset>
        ))}
        <button type="button" onClick={() => update((x) => {
          x.rules.push({ id: '', clauses: [{ attribute: '', op: 'in', text: '', negate: false }], outcome: toEOutcome(undefined, n) });
        })}>Add rule</button>
      </fieldset>

      <OutcomeEditor prefix={`${p}-fall`} label="Default rule (no target or rule matched) serves" outcome={env.fallthrough} n={n}
        variationOptions={variationOptions} update={(fn) => update((x) => fn(x.fallthrough))} />

      <fieldset>
        <legend>Prerequisites (flags that must serve a given variation first)</legend>
        {env.prereqs.map((q, qi) => {
          const other = data.flags.find((f) => f.key === q.flag);
          return (
            <div class="row" key={qi}>
              <Field id={`${p}-pre${qi}-flag`} label={`Prerequisite ${qi + 1} flag`}>
                <select id={`${p}-pre${qi}-flag`} value={q.flag}
                  onChange={(e) => { const v = e.currentTarget.value; update((x) => { x.prereqs[qi] = { flag: v, variation: '0' }; }); }}>
                  <option value="">Choose…</option>
                  {data.flags.filter((f) => f.key !== flagKey).map((f) => <option key={f.key} value={f.key}>{f.key}</option>)}
                </select>
              </Field>
              <Field id={`${p}-pre${qi}-var`} label={`Prerequisite ${qi + 1} must serve`}>
                <select id={`${p}-pre${qi}-var`} value={q.variation}
                  onChange={(e) => { const v = e.currentTarget.value; update((x) => { x.prereqs[qi]!.variation = v; }); }}>
                  {(other?.variations ?? []).map((v, i) => <option key={i} value={String(i)}>{v.name || `Variation ${i + 1}`} ({formatValue(v.value)})</option>)}
                </select>
              </Field>
              <button type="button" class="small" aria-label={`Remove prerequisite ${qi + 1}`}
                onClick={() => update((x) => { x.prereqs.splice(qi, 1); })}>Remove</button>
            </div>
          );
        })}
        <button type="button" onClick={() => update((x) => { x.prereqs.push({ flag: '', variation: '0' }); })}>Add prerequisite</button>
      </fieldset>
    </div>
  );
}

function OutcomeEditor({ prefix, label, outcome, n, variationOptions, update }: {
  prefix: string; label: string; outcome: EOutcome; n: number; variationOptions: preact.JSX.Element[];
  update: (fn: (o: EOutcome) => void) => void;
}) {
  const err = outcome.mode === 'rollout' ? rolloutError(outcome.percents) : undefined;
  return (
    <fieldset class="outcome">
      <legend>{label}</legend>
      <Field id={`${prefix}-mode`} label="Serve">
        <select id={`${prefix}-mode`} value={outcome.mode}
          onChange={(e) => { const v = e.currentTarget.value as EOutcome['mode']; update((o) => { o.mode = v; }); }}>
          <option value="variation">one variation</option>
          <option value="rollout">a percentage rollout</option>
        </select>
      </Field>
      {outcome.mode === 'variation' && (
        <Field id={`${prefix}-variation`} label="Variation">
          <select id={`${prefix}-variation`} value={String(outcome.variation)}
            onChange={(e) => { const v = Number(e.currentTarget.value); update((o) => { o.variation = v; }); }}>
            {variationOptions}
          </select>
        </Field>
      )}
      {outcome.mode === 'rollout' && (
        <>
          <div class="row">
            {Array.from({ length: n }, (_, i) => (
              <Field key={i} id={`${prefix}-pct-${i}`} label={`Variation ${i + 1} %`}>
                <input id={`${prefix}-pct-${i}`} inputMode="decimal" value={outcome.percents[i] ?? '0'}
                  aria-invalid={err ? true : undefined} aria-describedby={`${prefix}-sum`}
                  onInput={(e) => { const v = e.currentTarget.value; update((o) => { o.percents[i] = v; }); }} />
              </Field>
            ))}
          </div>
          <p id={`${prefix}-sum`} class={err ? 'error' : 'ok'} aria-live="polite">{err ?? 'The percentages add up to 100%.'}</p>
          <Field id={`${prefix}-bucket`} label="Bucket by attribute (optional; default: the targeting key)">
            <input id={`${prefix}-bucket`} value={outcome.bucketBy}
              onInput={(e) => { const v = e.currentTarget.value; update((o) => { o.bucketBy = v; }); }} />
          </Field>
        </>
      )}
    </fieldset>
  );
}

// The clauses of a rule (flag or segment); all must match.
export function ClauseList({ prefix, clauses, segments, update }: {
  prefix: string; clauses: EClause[]; segments: SegmentItem[]; update: (fn: (c: EClause[]) => void) => void;
}) {
  return (
    <div class="clauses">
      {clauses.length === 0 && <p class="empty">No clauses: this rule matches every context.</p>}
      {clauses.map((c, ci) => {
        const id = `${prefix}-c${ci}`;
        const kind = operatorOf(c.op).values;
        return (
          <div class="row clause" key={ci} role="group" aria-label={`Clause ${ci + 1}`}>
            {kind !== 'segment' && (
              <Field id={`${id}-attr`} label={`Clause ${ci + 1} attribute`}>
                <input id={`${id}-attr`} value={c.attribute} placeholder="plan"
                  onInput={(e) => { const v = e.currentTarget.value; update((x) => { x[ci]!.attribute = v; }); }} />
              </Field>
            )}
            <Field id={`${id}-op`} label={`Clause ${ci + 1} operator`}>
              <select id={`${id}-op`} value={c.op} onChange={(e) => { const v = e.currentTarget.value; update((x) => { x[ci]!.op = v; }); }}>
                {OPERATORS.map((o) => <option key={o.op} value={o.op}>{o.label} ({o.op})</option>)}
              </select>
            </Field>
            <Field id={`${id}-values`} label={kind === 'segment' ? `Clause ${ci + 1} segments (one key per line)` : `Clause ${ci + 1} values (one per line)`}
              hint={segmentHint(kind, segments)}>
              <textarea id={`${id}-values`} rows={2} value={c.text} aria-describedby={`${id}-values-hint`}
                onInput={(e) => { const v = e.currentTarget.value; update((x) => { x[ci]!.text = v; }); }} />
            </Field>
            <div class="check">
              <input id={`${id}-neg`} type="checkbox" checked={c.negate}
                onChange={(e) => { const v = e.currentTarget.checked; update((x) => { x[ci]!.negate = v; }); }} />
              <label for={`${id}-neg`}>Negate clause {ci + 1}</label>
            </div>
            <button type="button" class="small" aria-label={`Remove clause ${ci + 1}`} onClick={() => update((x) => { x.splice(ci, 1); })}>Remove</button>
          </div>
        );
      })}
      <button type="button" class="small" onClick={() => update((x) => { x.push({ attribute: '', op: 'in', text: '', negate: false }); })}>Add clause</button>
    </div>
  );
}

function segmentHint(kind: string, segments: SegmentItem[]): string {
  switch (kind) {
    case 'segment': return segments.length ? `Segments: ${segments.map((s) => s.key).join(', ')}` : 'No segments yet.';
    case 'number': return 'Numbers, e.g. 3 or 2.5.';
    case 'time': return 'RFC 3339 times (2026-01-31T00:00:00Z) or epoch milliseconds.';
    case 'semver': return 'Versions, e.g. 2.1.0.';
    case 'any': return 'Text, or JSON such as 42, true or "42".';
    default: return 'Text.';
  }
}

// ---- "Evaluate as"

interface EnvAnswer {
  environment: string;
  value?: unknown;
  variant?: string;
  reason: string;
  rule_index?: number;
  rule_id?: string;
  failed_prerequisite?: string;
  error?: { code: string; message: string };
}

function EvaluatePanel({ base, data }: { base: string; data: Data }) {
  const keys = data.flags.map((f) => f.key).sort();
  const [flag, setFlag] = useState(keys[0] ?? '');
  const [targetingKey, setTargetingKey] = useState('');
  const [attrs, setAttrs] = useState('{}');
  const [answer, setAnswer] = useState<{ flag: string; environments: EnvAnswer[]; n: number } | undefined>(undefined);
  const { busy, error, submit, setError } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    let attributes: unknown;
    try {
      attributes = attrs.trim() ? JSON.parse(attrs) : {};
    } catch {
      setError('Attributes must be a JSON object, e.g. {"plan": "pro", "country": "NO"}.');
      return;
    }
    if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
      setError('Attributes must be a JSON object, e.g. {"plan": "pro", "country": "NO"}.');
      return;
    }
    const context: Record<string, unknown> = { ...(attributes as Record<string, unknown>) };
    if (targetingKey.trim()) context.targetingKey = targetingKey.trim();
    const which = keys.includes(flag) ? flag : keys[0]!;
    void submit(async () => {
      const got = await bff<{ flag: string; environments: EnvAnswer[] }>('POST', `${base}/flags/${enc(which)}/evaluate`, { context });
      setAnswer((prev) => ({ ...got, n: (prev?.n ?? 0) + 1 }));
    });
  };
  return (
    <section aria-labelledby="eval-h">
      <h2 id="eval-h">Evaluate as</h2>
      <form onSubmit={onSubmit} class="panel" aria-labelledby="eval-h">
        <p class="muted">What each environment serves this context, computed as delivery computes it.</p>
        <div class="row">
          <Field id="eval-flag" label="Flag">
            <select id="eval-flag" value={flag} onChange={(e) => setFlag(e.currentTarget.value)}>
              {keys.map((k) => <option key={k} value={k}>{k}</option>)}
            </select>
          </Field>
          <Field id="eval-key" label="Targeting key">
            <input id="eval-key" value={targetingKey} onInput={(e) => setTargetingKey(e.currentTarget.value)} />
          </Field>
        </div>
        <Field id="eval-attrs" label="Attributes (JSON object)">
          <textarea id="eval-attrs" rows={3} value={attrs} onInput={(e) => setAttrs(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Evaluating…' : 'Evaluate'}</button>
      </form>
      {answer && (
        <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="eval-result-caption">
          <table class="configs evaluation" data-answer={answer.n}>
            <caption id="eval-result-caption">What {answer.flag} serves this context, per environment</caption>
            <thead>
              <tr><th scope="col">Environment</th><th scope="col">Value</th><th scope="col">Variant</th><th scope="col">Reason</th><th scope="col">Matched rule</th></tr>
            </thead>
            <tbody>
              {answer.environments.map((a) => (
                <tr key={a.environment} data-env={a.environment}>
                  <th scope="row">{a.environment}</th>
                  <td class="value"><code>{a.value === undefined ? '' : formatValue(a.value)}</code></td>
                  <td class="variant">{a.variant ?? '—'}</td>
                  <td class="reason">{a.reason}{a.error ? `: ${a.error.code} (${a.error.message})` : ''}
                    {a.failed_prerequisite ? ` (prerequisite ${a.failed_prerequisite})` : ''}</td>
                  <td class="rule">{a.rule_index === undefined ? '—' : `Rule ${a.rule_index + 1}${a.rule_id ? ` (${a.rule_id})` : ''}`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

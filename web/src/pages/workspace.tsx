// One workspace: its environments as their inheritance tree (each with rename,
// protect/unprotect and change-policy actions, admin-only in the api), a form to create one, and the
// configs table (items × environments, each cell the effective value and where it comes
// from) with a form to set a value in one environment. Live: the page reloads its data on
// every `revision` event of the workspace's event stream.
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError, bff, bffFile, enc, type ConfigItem, type ConfigType, type Environment, type WorkspaceDetail } from '../api';
import { effectiveValue, envOrder, envTree, formatValue, jsonSyntax, parseValue, valueViolation, type EnvNode, type Violation } from '../model';
import { linkClick } from '../router';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';
import { putIfMatch } from './flags';
import { EnvPolicyForm, policySummary } from './envpolicy';
import { CrOnlyNote, crOnly, envOption, ProposeChange, saveOrOffer } from './propose';
import { itemEntries, proposalTitle, type ChangeEntry } from '../crmodel';

interface Data { ws: WorkspaceDetail; configs: ConfigItem[] }

const TYPES: ConfigType[] = ['string', 'integer', 'number', 'boolean', 'json'];

export function WorkspacePage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}`;
  const [res, reload] = useResource<Data>(async () => {
    const [ws, configs] = await Promise.all([
      bff<WorkspaceDetail>('GET', base),
      bff<{ items: ConfigItem[] }>('GET', `${base}/configs`),
    ]);
    return { ws, configs: configs.items ?? [] };
  }, [base]);
  const live = useLiveRevisions(`${base}/events`, reload);

  const data = res.data;
  return (
    <>
      <p class="crumbs"><a href="/workspaces" onClick={linkClick}>Workspaces</a> / <code>{wsKey}</code></p>
      <h1 tabIndex={-1} data-autofocus>{data ? data.ws.name : wsKey}</h1>
      <p class="muted" role="status">
        {data ? `Revision ${data.ws.revision}. ` : ''}
        {live ? 'Live: changes made elsewhere appear here.' : 'Live updates are not connected.'}
      </p>
      {res.state === 'loading' && !data && <Loading what="the workspace" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {data && (
        <>
          <section aria-labelledby="envs-h">
            <h2 id="envs-h">Environments</h2>
            {data.ws.environments.length === 0
              ? <p class="empty">No environments yet. Create one below; a child environment inherits every value it does not set.</p>
              : <EnvironmentTree base={base} data={data} onDone={reload} />}
            <CreateEnvironment base={base} envs={data.ws.environments} onDone={reload} />
          </section>
          <Configs wsKey={wsKey} base={base} data={data} onDone={reload} />
          <ExportPanel wsKey={wsKey} base={base} />
          <ImportPanel base={base} onDone={reload} />
        </>
      )}
    </>
  );
}

// EventSource on the workspace's events; answers whether it is connected. `onRevision` runs
// at most once per burst of events.
export function useLiveRevisions(url: string, onRevision: () => void): boolean {
  const [live, setLive] = useState(false);
  const callback = useRef(onRevision);
  callback.current = onRevision;
  useEffect(() => {
    if (typeof EventSource === 'undefined') return;
    const es = new EventSource(url);
    let timer: ReturnType<typeof setTimeout> | undefined;
    es.onopen = () => setLive(true);
    es.onerror = () => setLive(es.readyState === EventSource.OPEN);
    es.addEventListener('revision', () => {
      clearTimeout(timer);
      timer = setTimeout(() => callback.current(), 100);
    });
    return () => {
      clearTimeout(timer);
      es.close();
    };
  }, [url]);
  return live;
}

type EnvChange = 'rename' | 'protect' | 'unprotect' | 'policy' | 'parent' | 'delete';
interface EnvAction { env: Environment; change: EnvChange }

// Stable while the environment's protection flips, so focus can return to it.
const actionId = (key: string, change: EnvChange) =>
  `env-${change === 'protect' || change === 'unprotect' ? 'protection' : change}-${key}`;

// The tree, and below it the form of the action chosen on one of its environments.
function EnvironmentTree({ base, data, onDone }: { base: string; data: Data; onDone: () => void }) {
  const [action, setAction] = useState<EnvAction | undefined>(undefined);
  const [done, setDone] = useState<string | undefined>(undefined);
  const choose = (a: EnvAction) => {
    setAction(a);
    setDone(undefined);
    const first = a.change === 'rename' ? 'env-change-name' : a.change === 'policy' ? 'env-policy-approvals'
      : a.change === 'parent' ? 'env-change-parent' : 'env-change-reason';
    setTimeout(() => document.getElementById(first)?.focus(), 0);
  };
  // Back to the button that opened the form (it is still there after a reload).
  const close = (a: EnvAction, message?: string) => {
    setAction(undefined);
    setDone(message);
    setTimeout(() => document.getElementById(actionId(a.env.key, a.change))?.focus(), 0);
  };
  // An environment changed elsewhere while its form is open: the form follows it.
  const current = action && data.ws.environments.find((e) => e.key === action.env.key);
  return (
    <>
      <EnvTree nodes={envTree(data.ws.environments)} label="Environments and what each inherits from" onAction={choose} />
      {done && <p role="status" class="ok">{done}</p>}
      {action && current && action.change === 'policy' && (
        <EnvPolicyForm key={`${action.env.key}/policy`} base={base} revision={data.ws.revision} env={current}
          onCancel={() => close(action)}
          onDone={(message) => { close(action, message); onDone(); }} />
      )}
      {action && current && action.change !== 'policy' && (
        <EnvChangeForm key={`${action.env.key}/${action.change}`} base={base} revision={data.ws.revision}
          action={{ env: current, change: action.change }} envs={data.ws.environments}
          onCancel={() => close(action)}
          onDone={(message) => { close(action, message); onDone(); }} />
      )}
    </>
  );
}

function EnvTree({ nodes, label, onAction }: { nodes: EnvNode[]; label?: string; onAction: (a: EnvAction) => void }) {
  return (
    <ul class="tree" aria-label={label}>
      {nodes.map((n) => {
        const protect: EnvChange = n.env.protected ? 'unprotect' : 'protect';
        return (
          <li key={n.env.key} data-env={n.env.key}>
            <span class="env">
              <strong>{n.env.name}</strong> <code>{n.env.key}</code>
              {n.env.protected && <span class="badge">protected</span>}
              {n.env.parent && <span class="muted"> inherits from <code>{n.env.parent}</code></span>}
              {n.env.policy && <span class="badge policy">{policySummary(n.env.policy)}</span>}
              <button type="button" class="small" id={actionId(n.env.key, 'rename')} aria-label={`Rename ${n.env.key}`}
                onClick={() => onAction({ env: n.env, change: 'rename' })}>Rename</button>
              <button type="button" class="small" id={actionId(n.env.key, protect)} aria-label={`${n.env.protected ? 'Unprotect' : 'Protect'} ${n.env.key}`}
                onClick={() => onAction({ env: n.env, change: protect })}>{n.env.protected ? 'Unprotect' : 'Protect'}</button>
              <button type="button" class="small" id={actionId(n.env.key, 'policy')} aria-label={`Policy of ${n.env.key}`}
                onClick={() => onAction({ env: n.env, change: 'policy' })}>Policy</button>
              <button type="button" class="small" id={actionId(n.env.key, 'parent')} aria-label={`Move ${n.env.key}`}
                onClick={() => onAction({ env: n.env, change: 'parent' })}>Move</button>
              <button type="button" class="small" id={actionId(n.env.key, 'delete')} aria-label={`Delete ${n.env.key}`}
                onClick={() => onAction({ env: n.env, change: 'delete' })}>Delete</button>
            </span>
            {n.children.length > 0 && <EnvTree nodes={n.children} onAction={onAction} />}
          </li>
        );
      })}
    </ul>
  );
}

// Rename, move (another parent), protect, unprotect or delete one environment: a PATCH (or
// DELETE) with a reason, conditional on the revision the page shows (someone else's change
// in between is shown, not overwritten). Escape or Cancel closes it.
function EnvChangeForm({ base, revision, action, envs, onCancel, onDone }: {
  base: string; revision: number; action: EnvAction; envs: Environment[]; onCancel: () => void; onDone: (message: string) => void;
}) {
  const { env, change } = action;
  const [name, setName] = useState(env.name);
  const [parent, setParent] = useState(env.parent ?? '');
  const children = envs.filter((e) => e.parent === env.key);
  // A deleted environment's children inherit from its parent unless told otherwise.
  const [childrenTo, setChildrenTo] = useState(env.parent ?? '');
  const [revokeKeys, setRevokeKeys] = useState(false);
  const [reason, setReason] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const title = change === 'rename' ? `Rename ${env.key}` : change === 'parent' ? `Move ${env.key}`
    : change === 'delete' ? `Delete ${env.key}` : `${change === 'protect' ? 'Protect' : 'Unprotect'} ${env.key}`;
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const body: Record<string, unknown> = { reason: reason.trim() };
      const path = `${base}/environments/${enc(env.key)}`;
      if (change === 'delete') {
        if (children.length > 0) body.reparent_children_to = childrenTo === '' ? null : childrenTo;
        if (revokeKeys) body.revoke_sdk_keys = true;
        if (!await putIfMatch(path, body, revision, setError, 'DELETE')) return;
        onDone(`${env.key} is deleted with every value set in it.`);
        return;
      }
      if (change === 'rename') {
        body.name = name.trim();
      } else if (change === 'parent') {
        body.parent = parent === '' ? null : parent;
      } else {
        body.protected = change === 'protect';
      }
      if (!await putIfMatch(path, body, revision, setError, 'PATCH')) return;
      onDone(change === 'rename'
        ? `${env.key} is now called ${name.trim()}.`
        : change === 'parent'
          ? `${env.key} now inherits from ${parent === '' ? 'nothing' : parent}.`
          : `${env.key} is ${change === 'protect' ? 'protected: only admins may change its values' : 'no longer protected'}.`);
    });
  };
  const others = envs.filter((e) => e.key !== env.key);
  return (
    <form onSubmit={onSubmit} class="panel" aria-labelledby="env-change-h"
      onKeyDown={(e) => { if (e.key === 'Escape' && !busy) { e.preventDefault(); onCancel(); } }}>
      <h3 id="env-change-h">{title}</h3>
      {change === 'rename' && (
        <Field id="env-change-name" label="New name" hint="The key stays the same; only the name people see changes.">
          <input id="env-change-name" required maxLength={100} value={name} aria-describedby="env-change-name-hint"
            onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
      )}
      {change === 'parent' && (
        <Field id="env-change-parent" label="Inherits from" hint="It and every environment inheriting from it then serve what the new parent provides where they set nothing.">
          <select id="env-change-parent" value={parent} aria-describedby="env-change-parent-hint" onChange={(e) => setParent(e.currentTarget.value)}>
            <option value="">(nothing: a root environment)</option>
            {others.map((o) => <option key={o.key} value={o.key}>{o.name} ({o.key})</option>)}
          </select>
        </Field>
      )}
      {change === 'delete' && (
        <>
          <p>This deletes {env.key} and every value set in it; it cannot be undone. It must not be protected.</p>
          {children.length > 0 && (
            <Field id="env-delete-children" label={`${children.map((c) => c.key).join(', ')} then inherit from`}>
              <select id="env-delete-children" value={childrenTo} onChange={(e) => setChildrenTo(e.currentTarget.value)}>
                <option value="">(nothing: they become roots)</option>
                {others.filter((o) => o.parent !== env.key).map((o) => <option key={o.key} value={o.key}>{o.name} ({o.key})</option>)}
              </select>
            </Field>
          )}
          <p><label><input type="checkbox" id="env-delete-revoke" checked={revokeKeys}
            onChange={(e) => setRevokeKeys(e.currentTarget.checked)} /> Revoke the SDK keys that read it (otherwise a key still reading it stops the deletion)</label></p>
        </>
      )}
      {change === 'protect' && <p>Once {env.key} is protected, only admins may change its values or values it inherits.</p>}
      {change === 'unprotect' && <p>Once {env.key} is unprotected, developers may change its values too.</p>}
      <Field id="env-change-reason" label="Reason">
        <input id="env-change-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      <div class="actions">
        <button type="submit" class={change === 'delete' ? 'danger' : 'primary'} disabled={busy}>{busy ? 'Saving…' : title}</button>
        <button type="button" onClick={onCancel} disabled={busy}>Cancel</button>
      </div>
    </form>
  );
}

function CreateEnvironment({ base, envs, onDone }: { base: string; envs: Environment[]; onDone: () => void }) {
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const [parent, setParent] = useState('');
  const [prot, setProt] = useState(false);
  const [reason, setReason] = useState('');
  const { busy, error, submit } = useSubmit();
  const [done, setDone] = useState<string | undefined>(undefined);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const k = key.trim();
      const body: Record<string, unknown> = { key: k, name: name.trim() || k, protected: prot, reason: reason.trim() };
      if (parent) body.parent = parent;
      await bff('POST', `${base}/environments`, body);
      setDone(`Environment ${k} created.`);
      setKey('');
      setName('');
      setParent('');
      setProt(false);
      setReason('');
      onDone();
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="env-create-h" class="panel">
      <h3 id="env-create-h">Create an environment</h3>
      <div class="row">
        <Field id="env-key" label="Key">
          <input id="env-key" required maxLength={64} pattern="[a-z0-9][a-z0-9._\-]*" value={key}
            onInput={(e) => setKey(e.currentTarget.value)} />
        </Field>
        <Field id="env-name" label="Name (optional)">
          <input id="env-name" maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field id="env-parent" label="Inherits from">
          <select id="env-parent" value={parent} onChange={(e) => setParent(e.currentTarget.value)}>
            <option value="">(nothing: a root environment)</option>
            {envOrder(envs).map((env) => <option key={env.key} value={env.key}>{env.key}</option>)}
          </select>
        </Field>
      </div>
      <div class="check">
        <input id="env-protected" type="checkbox" checked={prot} onChange={(e) => setProt(e.currentTarget.checked)} />
        <label for="env-protected">Protected (only admins may change its values)</label>
      </div>
      <Field id="env-reason" label="Reason">
        <input id="env-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create environment'}</button>
    </form>
  );
}

interface Target { item: string; env: string }

function Configs({ wsKey, base, data, onDone }: { wsKey: string; base: string; data: Data; onDone: () => void }) {
  const envs = envOrder(data.ws.environments);
  const items = [...data.configs].sort((a, b) => a.key.localeCompare(b.key));
  const [target, setTarget] = useState<Target | undefined>(undefined);
  const valueInput = useRef<HTMLInputElement | HTMLSelectElement>(null);
  const choose = (t: Target) => {
    setTarget(t);
    // After the form re-renders with this target.
    setTimeout(() => valueInput.current?.focus(), 0);
  };
  return (
    <section aria-labelledby="configs-h">
      <h2 id="configs-h">Configs</h2>
      {items.length === 0 && <p class="empty">No configs yet. Add one below, then set its value per environment.</p>}
      {items.length > 0 && envs.length === 0 && <p class="empty">Create an environment to give these configs values.</p>}
      {items.length > 0 && envs.length > 0 && (
        <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="configs-h">
          <table class="configs">
            <caption>Each cell: the value the environment serves, and where it comes from.</caption>
            <thead>
              <tr>
                <th scope="col">Config</th>
                {envs.map((env) => <th key={env.key} scope="col">{env.key}</th>)}
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr key={item.key}>
                  <th scope="row"><code>{item.key}</code> <span class="muted">{item.type}</span></th>
                  {envs.map((env) => {
                    const eff = effectiveValue(item, env.key, data.ws.environments);
                    return (
                      <td key={env.key} data-env={env.key}>
                        {eff.kind === 'unset'
                          ? <span class="muted">not set</span>
                          : <code class="value">{formatValue(eff.value)}</code>}
                        <span class={`source ${eff.kind}`}>
                          {eff.kind === 'set' && 'set here'}
                          {eff.kind === 'inherited' && `inherited from ${eff.from}`}
                        </span>
                        <button type="button" class="small" aria-label={`Set ${item.key} in ${env.key}`}
                          onClick={() => choose({ item: item.key, env: env.key })}>Set</button>
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {items.length > 0 && envs.length > 0 && (
        <SetValue wsKey={wsKey} base={base} items={items} envs={envs} target={target} setTarget={setTarget}
          valueInput={valueInput} onDone={onDone} />
      )}
      {items.length > 0 && <SchemaEditor wsKey={wsKey} base={base} items={items} onDone={onDone} />}
      <CreateConfig base={base} onDone={onDone} />
    </section>
  );
}

// A config's PUT body (without reason) as stored: the parts the api takes back.
function configBody(item: ConfigItem): Record<string, unknown> {
  const body: Record<string, unknown> = { type: item.type, values: item.values ?? {} };
  if (item.description !== undefined) body.description = item.description;
  if (item.schema !== undefined) body.schema = item.schema;
  return body;
}

function SetValue(props: {
  wsKey: string;
  base: string;
  items: ConfigItem[];
  envs: Environment[];
  target: Target | undefined;
  setTarget: (t: Target) => void;
  valueInput: { current: HTMLInputElement | HTMLSelectElement | null };
  onDone: () => void;
}) {
  const { base, items, envs, onDone } = props;
  const itemKey = props.target?.item ?? items[0]!.key;
  const envKey = props.target?.env ?? envs[0]!.key;
  const item = items.find((i) => i.key === itemKey) ?? items[0]!;
  const [text, setText] = useState('');
  const [reason, setReason] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const [done, setDone] = useState<string | undefined>(undefined);
  // The value's own problem (bad JSON here, or the api's schema violation), shown at the field.
  const [violation, setViolation] = useState<Violation | undefined>(undefined);
  // The api's change_request_required refusal of the last save: the proposal is offered.
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const syntax = item.type === 'json' && text.trim() !== '' ? jsonSyntax(text) : undefined;
  const only = crOnly(envs);
  // What Set value would write, as a change request's entries (one environment's value).
  const entries = (): ChangeEntry[] | string => {
    const parsed = parseValue(item.type, text);
    if ('error' in parsed) return item.type === 'json' ? jsonSyntax(text) ?? parsed.error : parsed.error;
    return itemEntries('config', item.key, configBody(item), { ...configBody(item), values: { ...(item.values ?? {}), [envKey]: parsed.value } });
  };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    setViolation(undefined);
    setRefused(undefined);
    const parsed = parseValue(item.type, text);
    if ('error' in parsed) {
      if (item.type === 'json') {
        setViolation({ message: jsonSyntax(text) ?? parsed.error });
        props.valueInput.current?.focus();
      } else {
        setError(parsed.error);
      }
      return;
    }
    void submit(async () => {
      // A config PUT carries the whole item: keep every other environment's value.
      const body: Record<string, unknown> = {
        ...configBody(item),
        values: { ...(item.values ?? {}), [envKey]: parsed.value },
        reason: reason.trim(),
      };
      let refusedNow = false;
      try {
        await saveOrOffer(() => bff('PUT', `${base}/configs/${enc(item.key)}`, body),
          (m) => { refusedNow = m !== undefined; setRefused(m); });
      } catch (err) {
        const v = err instanceof ApiError && err.status === 400 ? valueViolation(err.message, envKey) : undefined;
        if (!v) throw err;
        setViolation(v);
        props.valueInput.current?.focus();
        return;
      }
      if (refusedNow) return;
      setDone(`${item.key} set in ${envKey}.`);
      setText('');
      setReason('');
      onDone();
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="set-h" class="panel">
      <h3 id="set-h">Set a value</h3>
      <div class="row">
        <Field id="set-item" label="Config">
          <select id="set-item" value={item.key} onChange={(e) => props.setTarget({ item: e.currentTarget.value, env: envKey })}>
            {items.map((i) => <option key={i.key} value={i.key}>{i.key}</option>)}
          </select>
        </Field>
        <Field id="set-env" label="Environment">
          <select id="set-env" value={envKey} onChange={(e) => props.setTarget({ item: item.key, env: e.currentTarget.value })}>
            {envs.map((env) => <option key={env.key} value={env.key}>{envOption(env, only)}</option>)}
          </select>
        </Field>
        <Field id="set-value" label={`Value (${item.type})`}>
          {item.type === 'boolean'
            ? (
              <select id="set-value" ref={props.valueInput as { current: HTMLSelectElement | null }} value={text}
                onChange={(e) => setText(e.currentTarget.value)} required>
                <option value="">Choose…</option>
                <option value="true">true</option>
                <option value="false">false</option>
              </select>
            )
            : item.type === 'json'
              ? (
                <textarea id="set-value" class="json" rows={6} spellcheck={false}
                  ref={props.valueInput as unknown as { current: HTMLTextAreaElement | null }} value={text}
                  aria-invalid={violation || syntax ? 'true' : undefined}
                  aria-describedby={violation ? 'set-value-error' : 'set-value-syntax'}
                  onInput={(e) => { setText(e.currentTarget.value); setViolation(undefined); }} />
              )
              : (
                <input id="set-value" ref={props.valueInput as { current: HTMLInputElement | null }} value={text}
                  aria-invalid={violation ? 'true' : undefined}
                  aria-describedby={violation ? 'set-value-error' : undefined}
                  onInput={(e) => { setText(e.currentTarget.value); setViolation(undefined); }} />
              )}
          {item.type === 'json' && !violation && (
            <p id="set-value-syntax" class={syntax ? 'hint invalid' : 'hint'}>
              {text.trim() === '' ? 'Any JSON value, e.g. {"port": 8080}.' : syntax ?? 'Valid JSON.'}
            </p>
          )}
          {violation && <FieldViolation id="set-value-error" violation={violation} />}
        </Field>
      </div>
      {item.schema !== undefined && item.schema !== null && (
        <p class="muted">Values of {item.key} must match its schema (edit it under “Schema of a config”).</p>
      )}
      <CrOnlyNote env={envKey} only={only} />
      <Field id="set-reason" label="Reason">
        <input id="set-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Set value'}</button>
      <ProposeChange key={`${item.key}/${envKey}/${refused ?? ''}`} id="set-propose" wsKey={props.wsKey} entries={entries}
        title={`Update config "${item.key}" in ${envKey}`} reason={reason} refused={refused} />
    </form>
  );
}

// A value or schema problem next to its field: the message, which part of the value (a JSON
// Pointer) when the api names one, and whose value it is when it is another environment's.
function FieldViolation({ id, violation }: { id: string; violation: Violation }) {
  return (
    <p id={id} class="field-error" role="alert">
      {violation.env !== undefined && <>The value in <code>{violation.env}</code> does not match{violation.pointer !== undefined ? ' at ' : ': '}</>}
      {violation.pointer !== undefined && <>{violation.env === undefined && 'At '}<code>{violation.pointer}</code>: </>}
      {violation.message}
    </p>
  );
}

// The JSON Schema (docs/design/items.md §4 subset) of one config. The api compiles it and
// checks every existing value against it; either refusal is shown at the schema field.
function SchemaEditor({ wsKey, base, items, onDone }: { wsKey: string; base: string; items: ConfigItem[]; onDone: () => void }) {
  const [chosen, setChosen] = useState(items[0]!.key);
  const item = items.find((i) => i.key === chosen) ?? items[0]!;
  // Outlives the form: a save reloads the item, whose new revision remounts the form.
  const [done, setDone] = useState<string | undefined>(undefined);
  // A new revision of the item (saved here or elsewhere) starts the form afresh.
  return <SchemaForm key={`${item.key}@${item.revision ?? 0}`} wsKey={wsKey} base={base} items={items} item={item}
    choose={(k) => { setDone(undefined); setChosen(k); }} done={done} setDone={setDone} onDone={onDone} />;
}

function SchemaForm({ wsKey, base, items, item, choose, done, setDone, onDone }: {
  wsKey: string; base: string; items: ConfigItem[]; item: ConfigItem; choose: (k: string) => void;
  done: string | undefined; setDone: (m: string | undefined) => void; onDone: () => void;
}) {
  const current = item.schema === undefined || item.schema === null ? '' : JSON.stringify(item.schema, null, 2);
  const [text, setText] = useState(current);
  const [reason, setReason] = useState('');
  const { busy, error, submit } = useSubmit();
  const [violation, setViolation] = useState<Violation | undefined>(undefined);
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const syntax = text.trim() === '' ? undefined : jsonSyntax(text);
  // The schema typed, or its problem.
  const parsed = (): { schema: unknown } | { error: string } => {
    if (text.trim() === '') return { schema: null };
    if (syntax) return { error: syntax };
    const schema = JSON.parse(text) as unknown;
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
      return { error: 'A schema is a JSON object, e.g. {"type": "object"}.' };
    }
    return { schema };
  };
  const entries = (): ChangeEntry[] | string => {
    const p = parsed();
    return 'error' in p ? p.error : itemEntries('config', item.key, configBody(item), { ...configBody(item), schema: p.schema });
  };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    setViolation(undefined);
    setRefused(undefined);
    const p = parsed();
    if ('error' in p) {
      setViolation({ message: p.error });
      document.getElementById('schema-text')?.focus();
      return;
    }
    const schema = p.schema;
    void submit(async () => {
      const body: Record<string, unknown> = { ...configBody(item), schema, reason: reason.trim() };
      let refusedNow = false;
      try {
        await saveOrOffer(() => bff('PUT', `${base}/configs/${enc(item.key)}`, body),
          (m) => { refusedNow = m !== undefined; setRefused(m); });
      } catch (err) {
        if (err instanceof ApiError && err.status === 400 && /^(schema|values\.)/.test(err.message)) {
          const v = /^values\.([^:]+): /.exec(err.message);
          setViolation(v
            ? { ...(valueViolation(err.message, v[1]!) ?? { message: err.message }), env: v[1] }
            : { message: err.message });
          document.getElementById('schema-text')?.focus();
          return;
        }
        throw err;
      }
      if (refusedNow) return;
      setDone(schema === null ? `${item.key} has no schema now.` : `Schema of ${item.key} saved.`);
      setReason('');
      onDone();
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="schema-h" class="panel">
      <h3 id="schema-h">Schema of a config</h3>
      <Field id="schema-item" label="Config">
        <select id="schema-item" value={item.key} onChange={(e) => choose(e.currentTarget.value)}>
          {items.map((i) => <option key={i.key} value={i.key}>{i.key}</option>)}
        </select>
      </Field>
      <Field id="schema-text" label="JSON Schema (empty: no schema)">
        <textarea id="schema-text" class="json" rows={8} spellcheck={false} value={text}
          aria-invalid={violation || syntax ? 'true' : undefined}
          aria-describedby={violation ? 'schema-text-error' : 'schema-text-hint'}
          onInput={(e) => { setText(e.currentTarget.value); setViolation(undefined); }} />
        {!violation && (
          <p id="schema-text-hint" class={syntax ? 'hint invalid' : 'hint'}>
            {syntax ?? 'Supported: type, enum, const, properties, required, additionalProperties, items, minItems, maxItems, minimum, maximum, exclusiveMinimum, exclusiveMaximum, minLength, maxLength, pattern. Every existing value must match.'}
          </p>
        )}
        {violation && (
          <FieldViolation id="schema-text-error" violation={violation} />
        )}
      </Field>
      <Field id="schema-reason" label="Reason">
        <input id="schema-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save schema'}</button>
      <ProposeChange key={`${item.key}/${refused ?? ''}`} id="schema-propose" wsKey={wsKey} entries={entries}
        title={proposalTitle([{ kind: 'config', key: item.key, body: {} }])} reason={reason} refused={refused} />
    </form>
  );
}

function CreateConfig({ base, onDone }: { base: string; onDone: () => void }) {
  const [key, setKey] = useState('');
  const [type, setType] = useState<ConfigType>('string');
  const [reason, setReason] = useState('');
  const { busy, error, submit } = useSubmit();
  const [done, setDone] = useState<string | undefined>(undefined);
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const k = key.trim();
      await bff('PUT', `${base}/configs/${enc(k)}`, { type, values: {}, reason: reason.trim() });
      setDone(`Config ${k} added.`);
      setKey('');
      setReason('');
      onDone();
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="cfg-create-h" class="panel">
      <h3 id="cfg-create-h">Add a config</h3>
      <div class="row">
        <Field id="cfg-key" label="Key">
          <input id="cfg-key" required maxLength={128} value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        </Field>
        <Field id="cfg-type" label="Type">
          <select id="cfg-type" value={type} onChange={(e) => setType(e.currentTarget.value as ConfigType)}>
            {TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
          </select>
        </Field>
      </div>
      <Field id="cfg-reason" label="Reason">
        <input id="cfg-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Adding…' : 'Add config'}</button>
    </form>
  );
}

// "Export": the whole workspace as one file (GET …/export, format edgevault.workspace/1),
// saved by the browser: environments, configs, flags and segments whole, secrets by name.
function ExportPanel({ wsKey, base }: { wsKey: string; base: string }) {
  const [format, setFormat] = useState<'yaml' | 'json'>('yaml');
  const [done, setDone] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const onExport = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      setDone(undefined);
      const file = await bffFile(`${base}/export?format=${format}`);
      const url = URL.createObjectURL(new Blob([file.text], { type: file.type }));
      const a = document.createElement('a');
      a.href = url;
      a.download = file.filename;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setDone(`Saved ${file.filename}.`);
    });
  };
  return (
    <form class="panel" aria-labelledby="export-h" onSubmit={onExport} data-export>
      <h2 id="export-h">Export</h2>
      <p class="muted">
        The whole workspace as one file: environments with their parents, protection and policies; every config, flag and
        segment; secrets by name only (never a value). Two exports of the same revision are identical. Read it back into
        a workspace with <em>Import</em> below (in any workspace) or <code>edgevault import -w {wsKey} --from workspace FILE</code>.
      </p>
      <fieldset>
        <legend>Format</legend>
        {(['yaml', 'json'] as const).map((f) => (
          <span class="check" key={f}>
            <input id={`export-${f}`} type="radio" name="export-format" checked={format === f} onChange={() => setFormat(f)} />
            <label for={`export-${f}`}>{f.toUpperCase()}</label>
          </span>
        ))}
      </fieldset>
      {error && <ErrorMessage message={error} />}
      {done && <p role="status">{done}</p>}
      <button type="submit" disabled={busy}>{busy ? 'Exporting…' : 'Download the export'}</button>
    </form>
  );
}

interface ImportReply {
  dry_run: boolean;
  items: number;
  environments_to_create?: string[];
  environments_created?: string[];
  environments_existing?: string[];
  policies_set?: string[];
  secrets_not_imported?: string[];
  batch?: { changes?: number; items?: { kind: string; key: string; environment?: string; action: string }[] } | null;
}

// "Import": reads back an export file (YAML or JSON) into this workspace through
// POST …/import: check first (a dry run), then import. The environments it lacks are
// created, every item goes in as one batch (all or none), secrets are only named.
function ImportPanel({ base, onDone }: { base: string; onDone: () => void }) {
  const [file, setFile] = useState<{ name: string; text: string } | undefined>(undefined);
  const [reason, setReason] = useState('');
  const [reply, setReply] = useState<ImportReply | undefined>(undefined);
  const { busy, error, submit, setError } = useSubmit();
  const send = (dryRun: boolean) => void submit(async () => {
    if (!file) return;
    setReply(undefined);
    const r = await bff<ImportReply>('POST', `${base}/import`, { document_text: file.text, reason: reason.trim(), dry_run: dryRun });
    setReply(r);
    if (!dryRun) onDone();
  });
  const onPick = async (e: Event) => {
    const f = (e.currentTarget as HTMLInputElement).files?.[0];
    setReply(undefined);
    setError(undefined);
    if (!f) return setFile(undefined);
    if (f.size > 900 * 1024) {
      setFile(undefined);
      return setError(`${f.name} is ${Math.round(f.size / 1024)} KiB; the console sends at most 900 KiB: import it with edgevault import --from workspace.`);
    }
    setFile({ name: f.name, text: await f.text() });
  };
  const changed = reply?.batch?.items ?? [];
  const unchanged = reply ? reply.items - (reply.batch ? changed.length : 0) : 0;
  return (
    <form class="panel" aria-labelledby="import-h" data-import onSubmit={(e) => { e.preventDefault(); send(true); }}>
      <h2 id="import-h">Import</h2>
      <p class="muted">
        Reads back an export (this workspace's or another's) into this one: the environments it lacks are created with
        their parents, protection and policies; every config, flag and segment goes in as one batch, all or none.
        Secrets are only named: set their values afterwards. Check it first; nothing is written until you import.
      </p>
      <Field id="import-file" label="Export file (YAML or JSON)">
        <input id="import-file" type="file" accept=".yaml,.yml,.json,application/json,application/yaml" onChange={(e) => void onPick(e)} />
      </Field>
      <Field id="import-reason" label="Reason">
        <input id="import-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {reply && (
        <div role="status" data-import-result={reply.dry_run ? 'dry-run' : 'imported'}>
          {reply.dry_run && (reply.environments_to_create ?? []).length > 0 && (
            <p>Would create the environment{reply.environments_to_create!.length === 1 ? '' : 's'} {reply.environments_to_create!.join(', ')}.</p>
          )}
          {(reply.environments_created ?? []).length > 0 && <p>Created the environment{reply.environments_created!.length === 1 ? '' : 's'} {reply.environments_created!.join(', ')}.</p>}
          {reply.batch && (
            <p>{reply.dry_run ? 'Would import' : 'Imported'} {changed.length} item{changed.length === 1 ? '' : 's'} ({unchanged} unchanged).</p>
          )}
          {changed.length > 0 && (
            <table class="configs">
              <thead><tr><th scope="col">Action</th><th scope="col">Kind</th><th scope="col">Key</th></tr></thead>
              <tbody>{changed.map((i) => <tr key={`${i.kind}/${i.key}/${i.environment ?? ''}`} data-import-item={`${i.kind}:${i.key}`}><td>{i.action}</td><td>{i.kind}</td><td><code>{i.key}</code></td></tr>)}</tbody>
            </table>
          )}
          {(reply.policies_set ?? []).length > 0 && <p>Set the policies of {reply.policies_set!.join(', ')}.</p>}
          {(reply.secrets_not_imported ?? []).length > 0 && (
            <p data-import-secrets>Secrets named only (set their values on the Secrets page): {reply.secrets_not_imported!.join(', ')}.</p>
          )}
        </div>
      )}
      <div class="actions">
        <button type="submit" disabled={busy || !file}>{busy ? 'Working…' : 'Check (dry run)'}</button>
        <button type="button" class="primary" disabled={busy || !file || reason.trim() === ''} onClick={() => send(false)}>Import</button>
      </div>
    </form>
  );
}

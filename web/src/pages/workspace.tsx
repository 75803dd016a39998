// One workspace: its environments as their inheritance tree, a form to create one, and the
// configs table (items × environments, each cell the effective value and where it comes
// from) with a form to set a value in one environment. Live: the page reloads its data on
// every `revision` event of the workspace's event stream.
import { useEffect, useRef, useState } from 'preact/hooks';
import { bff, enc, type ConfigItem, type ConfigType, type Environment, type WorkspaceDetail } from '../api';
import { effectiveValue, envOrder, envTree, formatValue, parseValue, type EnvNode } from '../model';
import { linkClick } from '../router';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';

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
              : <EnvTree nodes={envTree(data.ws.environments)} label="Environments and what each inherits from" />}
            <CreateEnvironment base={base} envs={data.ws.environments} onDone={reload} />
          </section>
          <Configs base={base} data={data} onDone={reload} />
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

function EnvTree({ nodes, label }: { nodes: EnvNode[]; label?: string }) {
  return (
    <ul class="tree" aria-label={label}>
      {nodes.map((n) => (
        <li key={n.env.key}>
          <span class="env">
            <strong>{n.env.name}</strong> <code>{n.env.key}</code>
            {n.env.protected && <span class="badge">protected</span>}
            {n.env.parent && <span class="muted"> inherits from <code>{n.env.parent}</code></span>}
          </span>
          {n.children.length > 0 && <EnvTree nodes={n.children} />}
        </li>
      ))}
    </ul>
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

function Configs({ base, data, onDone }: { base: string; data: Data; onDone: () => void }) {
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
        <SetValue base={base} items={items} envs={envs} target={target} setTarget={setTarget}
          valueInput={valueInput} onDone={onDone} />
      )}
      <CreateConfig base={base} onDone={onDone} />
    </section>
  );
}

function SetValue(props: {
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
  const onSubmit = (e: Event) => {
    e.preventDefault();
    const parsed = parseValue(item.type, text);
    if ('error' in parsed) {
      setError(parsed.error);
      return;
    }
    void submit(async () => {
      // A config PUT carries the whole item: keep every other environment's value.
      const body: Record<string, unknown> = {
        type: item.type,
        values: { ...(item.values ?? {}), [envKey]: parsed.value },
        reason: reason.trim(),
      };
      if (item.description !== undefined) body.description = item.description;
      if (item.schema !== undefined) body.schema = item.schema;
      await bff('PUT', `${base}/configs/${enc(item.key)}`, body);
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
            {envs.map((env) => <option key={env.key} value={env.key}>{env.key}</option>)}
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
            : (
              <input id="set-value" ref={props.valueInput as { current: HTMLInputElement | null }} value={text}
                onInput={(e) => setText(e.currentTarget.value)} />
            )}
        </Field>
      </div>
      <Field id="set-reason" label="Reason">
        <input id="set-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Set value'}</button>
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

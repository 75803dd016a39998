// A workspace's SDK keys per environment: metadata only (name, prefix, who created it, when
// last used, revoked or not). Creating one shows the key once, with a copy button and a
// warning; afterwards only its prefix exists anywhere. Revoking asks for confirmation and
// takes effect at delivery at once. A key is a server key (the whole environment) or a
// client key (safe in a web page: client-visible items only, CORS for its listed origins;
// docs/connect-your-app.md).
import { useEffect, useRef, useState } from 'preact/hooks';
import { bff, enc, type WorkspaceDetail } from '../api';
import { actorName } from '../history';
import { envOrder } from '../model';
import { ErrorMessage, Field, Loading, ShownOnce, useResource, useSubmit } from '../ui';
import { formatTime, loadPeople, WsHeader, type People } from './wssection';

interface SdkKey {
  id: string;
  name?: string;
  prefix?: string;
  environment: string;
  kind?: 'server' | 'client';
  origins?: string[];
  created_by?: string;
  created_at?: string;
  last_used_at?: string | null;
  revoked_at?: string | null;
}
interface Data { ws: WorkspaceDetail; keys: SdkKey[]; people: People }
interface Minted { id: string; key: string; prefix: string; environment: string; kind?: string }

export function SdkKeysPage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}`;
  const [res, reload] = useResource<Data>(async () => {
    const [ws, list, people] = await Promise.all([
      bff<WorkspaceDetail>('GET', base),
      bff<{ sdk_keys: SdkKey[] }>('GET', `${base}/sdk-keys`),
      loadPeople(),
    ]);
    return { ws, keys: list.sdk_keys ?? [], people };
  }, [base]);
  const [minted, setMinted] = useState<Minted | undefined>(undefined);
  const data = res.data;
  const envs = data ? envOrder(data.ws.environments) : [];
  return (
    <>
      <WsHeader wsKey={wsKey} title={`SDK keys of ${data ? data.ws.name : wsKey}`} />
      <p class="muted">An SDK key lets an app read one environment's resolved configs and flags from delivery. It cannot write or read secrets. A server key sees every config and flag and must stay on your servers; a client key may ship in a web page or a mobile app: it sees only the items marked client-visible, and browsers may use it from the origins it lists.</p>
      {res.state === 'loading' && !data && <Loading what="the SDK keys" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {minted && <ShowOnce minted={minted} onClose={() => setMinted(undefined)} />}
      {data && envs.length === 0 && <p class="empty">No environments yet: create one on the workspace's overview first.</p>}
      {data && envs.map((env) => {
        const keys = data.keys.filter((k) => k.environment === env.key);
        return (
          <section key={env.key} aria-labelledby={`keys-${env.key}-h`} data-env={env.key}>
            <h2 id={`keys-${env.key}-h`}>{env.name} <code>{env.key}</code></h2>
            {keys.length === 0
              ? <p class="empty">No SDK keys for {env.key}.</p>
              : (
                <table class="configs keys">
                  <thead>
                    <tr>
                      <th scope="col">Name</th><th scope="col">Kind</th><th scope="col">Prefix</th><th scope="col">Created</th>
                      <th scope="col">Last used</th><th scope="col">Status</th>
                    </tr>
                  </thead>
                  <tbody>
                    {keys.map((k) => (
                      <KeyRow key={k.id} base={base} k={k} people={data.people} onDone={reload} />
                    ))}
                  </tbody>
                </table>
              )}
          </section>
        );
      })}
      {data && envs.length > 0 && (
        <CreateKey base={base} envs={envs.map((e) => e.key)} onMinted={(m) => { setMinted(m); reload(); }} />
      )}
    </>
  );
}

function KeyRow({ base, k, people, onDone }: { base: string; k: SdkKey; people: People; onDone: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const { busy, error, submit } = useSubmit();
  const confirmButton = useRef<HTMLButtonElement>(null);
  useEffect(() => { if (confirming) confirmButton.current?.focus(); }, [confirming]);
  const label = k.name || k.id;
  const revoke = () => void submit(async () => {
    await bff('DELETE', `${base}/environments/${enc(k.environment)}/sdk-keys/${enc(k.id)}`);
    setConfirming(false);
    onDone();
  });
  return (
    <tr data-key-id={k.id}>
      <th scope="row">{label}</th>
      <td>
        {k.kind === 'client'
          ? <>Client{(k.origins ?? []).length > 0
              ? <> · {(k.origins ?? []).map((o) => <code key={o} class="origin">{o} </code>)}</>
              : <span class="muted"> · no browser origins</span>}</>
          : 'Server'}
      </td>
      <td><code class="prefix">{k.prefix ? `${k.prefix}…` : ''}</code></td>
      <td>{formatTime(k.created_at)}{k.created_by ? ` by ${actorName(k.created_by, people.members, people.keys)}` : ''}</td>
      <td>{k.last_used_at ? formatTime(k.last_used_at) : <span class="muted">never</span>}</td>
      <td>
        {k.revoked_at
          ? <span class="status revoked">Revoked {formatTime(k.revoked_at)}</span>
          : confirming
            ? (
              <span role="group" aria-label={`Confirm revoking ${label}`}>
                Apps using this key stop working at once.
                <button type="button" class="small danger" ref={confirmButton} disabled={busy} onClick={revoke}>
                  {busy ? 'Revoking…' : `Revoke ${label} now`}
                </button>
                <button type="button" class="small" onClick={() => setConfirming(false)}>Cancel</button>
              </span>
            )
            : (
              <>
                <span class="status">Active</span>
                <button type="button" class="small" aria-label={`Revoke ${label}`} onClick={() => setConfirming(true)}>Revoke…</button>
              </>
            )}
        {error && <ErrorMessage message={error} />}
      </td>
    </tr>
  );
}

function ShowOnce({ minted, onClose }: { minted: Minted; onClose: () => void }) {
  return (
    <ShownOnce id="once-key" title={`New ${minted.kind === 'client' ? 'client ' : ''}SDK key for ${minted.environment}`} label="SDK key" value={minted.key} what="key" onClose={onClose}>
      <p class="warning"><strong>Copy this key now: it is shown only once.</strong> EdgeVault keeps only its hash; if you lose it, create a new key and revoke this one.</p>
    </ShownOnce>
  );
}

function CreateKey({ base, envs, onMinted }: { base: string; envs: string[]; onMinted: (m: Minted) => void }) {
  const [env, setEnv] = useState(envs[0]!);
  const [name, setName] = useState('');
  const [kind, setKind] = useState<'server' | 'client'>('server');
  const [origins, setOrigins] = useState('');
  const { busy, error, submit } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const body: { name?: string; kind?: string; origins?: string[] } = name.trim() ? { name: name.trim() } : {};
      if (kind === 'client') {
        body.kind = 'client';
        body.origins = origins.split(/[\s,]+/).filter(Boolean);
      }
      const m = await bff<Minted>('POST', `${base}/environments/${enc(env)}/sdk-keys`, body);
      setName('');
      setOrigins('');
      onMinted(m);
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="key-create-h" class="panel">
      <h2 id="key-create-h">Create an SDK key</h2>
      <div class="row">
        <Field id="key-env" label="Environment">
          <select id="key-env" value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
            {envs.map((x) => <option key={x} value={x}>{x}</option>)}
          </select>
        </Field>
        <Field id="key-name" label="Name (optional)">
          <input id="key-name" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field id="key-kind" label="Kind">
          <select id="key-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value === 'client' ? 'client' : 'server')}>
            <option value="server">Server (secret; every item)</option>
            <option value="client">Client (web page or app; client-visible items only)</option>
          </select>
        </Field>
      </div>
      {kind === 'client' && (
        <Field id="key-origins" label="Allowed browser origins (one per line, e.g. https://app.example)">
          <textarea id="key-origins" rows={3} value={origins} onInput={(e) => setOrigins(e.currentTarget.value)} />
        </Field>
      )}
      {error && <ErrorMessage message={error} />}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create SDK key'}</button>
    </form>
  );
}

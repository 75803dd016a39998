// A workspace's secrets: which environments have a value (its version, or where it is
// inherited from), values masked. "Reveal" reads one environment's values through the api,
// which decides what this user may see and records the read; what it withholds is shown
// with its reason and the environment the value comes from. A form sets or removes one
// environment's value, with a reason.
import { useState } from 'preact/hooks';
import { bff, enc, type Environment, type WorkspaceDetail } from '../api';
import { source } from '../history';
import { envOrder } from '../model';
import { ErrorMessage, Field, Loading, messageOf, useResource, useSubmit } from '../ui';
import { formatTime, WsHeader } from './wssection';
import { CrOnlyNote, crOnly, envOption, ProposeChange, saveOrOffer } from './propose';
import { proposalTitle, type ChangeEntry } from '../crmodel';

interface SecretMeta {
  key: string;
  revision?: number;
  updated_at?: string;
  values?: Record<string, { version?: number }>;
}
interface Data { ws: WorkspaceDetail; secrets: SecretMeta[] }
interface Revealed {
  secrets: Record<string, string>;
  withheld: Record<string, { from: string; reason: string }>;
}
type Reveal = { state: 'loading' } | { state: 'error'; error: string } | { state: 'ok'; data: Revealed };

// Where env's value of a secret comes from: itself, the nearest ancestor with one, or none.
function sourceOf(s: SecretMeta, env: string, envs: Environment[]): string | undefined {
  return source(env, envs, (e) => !!s.values && Object.prototype.hasOwnProperty.call(s.values, e));
}

export function SecretsPage({ wsKey }: { wsKey: string }) {
  const base = `/bff/api/workspaces/${enc(wsKey)}`;
  const [res, reload] = useResource<Data>(async () => {
    const [ws, list] = await Promise.all([
      bff<WorkspaceDetail>('GET', base),
      bff<{ items: SecretMeta[] }>('GET', `${base}/secrets`),
    ]);
    return { ws, secrets: (list.items ?? []).sort((a, b) => a.key.localeCompare(b.key)) };
  }, [base]);
  const [revealed, setRevealed] = useState<Record<string, Reveal>>({});
  const data = res.data;
  const envs = data ? envOrder(data.ws.environments) : [];

  const reveal = (env: string) => {
    setRevealed((r) => ({ ...r, [env]: { state: 'loading' } }));
    bff<Revealed>('GET', `${base}/environments/${enc(env)}/secrets`).then(
      (d) => setRevealed((r) => ({ ...r, [env]: { state: 'ok', data: { secrets: d.secrets ?? {}, withheld: d.withheld ?? {} } } })),
      (e: unknown) => setRevealed((r) => ({ ...r, [env]: { state: 'error', error: messageOf(e) } })),
    );
  };
  const hide = (env: string) => setRevealed((r) => {
    const { [env]: _gone, ...rest } = r;
    return rest;
  });

  return (
    <>
      <WsHeader wsKey={wsKey} title={`Secrets of ${data ? data.ws.name : wsKey}`} />
      <p class="muted">Values are hidden. Revealing an environment's values is a read that is recorded in the audit log; the api decides what you may see.</p>
      {res.state === 'loading' && !data && <Loading what="the secrets" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {data && envs.length === 0 && <p class="empty">No environments yet: create one on the workspace's overview first.</p>}
      {data && data.secrets.length === 0 && envs.length > 0 && <p class="empty">No secrets yet. Set the first one below.</p>}
      {data && envs.length > 0 && (
        <div class="reveal-bar" role="group" aria-label="Reveal values per environment">
          {envs.map((env) => (
            revealed[env.key]
              ? <button key={env.key} type="button" class="small" onClick={() => hide(env.key)}>Hide {env.key}</button>
              : <button key={env.key} type="button" class="small" onClick={() => reveal(env.key)}>Reveal {env.key}</button>
          ))}
        </div>
      )}
      {Object.entries(revealed).map(([env, r]) => r.state === 'error' && (
        <ErrorMessage key={env} message={`Cannot reveal ${env}: ${r.error}`} />
      ))}
      {data && data.secrets.length > 0 && envs.length > 0 && (
        <div class="table-wrap" tabIndex={0} role="region" aria-labelledby="secrets-h">
          <table class="configs secrets">
            <caption id="secrets-h">Each cell: whether the environment has a value, and where it comes from.</caption>
            <thead>
              <tr>
                <th scope="col">Secret</th>
                {envs.map((env) => <th key={env.key} scope="col">{env.key}{env.protected ? ' (protected)' : ''}</th>)}
              </tr>
            </thead>
            <tbody>
              {data.secrets.map((s) => (
                <tr key={s.key}>
                  <th scope="row">
                    <code>{s.key}</code>
                    {s.updated_at && <span class="muted"> updated {formatTime(s.updated_at)}</span>}
                  </th>
                  {envs.map((env) => {
                    const from = sourceOf(s, env.key, data.ws.environments);
                    const version = from ? s.values?.[from]?.version : undefined;
                    const r = revealed[env.key];
                    const withheld = r?.state === 'ok' ? r.data.withheld[s.key] : undefined;
                    const value = r?.state === 'ok' ? r.data.secrets[s.key] : undefined;
                    return (
                      <td key={env.key} data-env={env.key}>
                        {from === undefined && <span class="muted">not set</span>}
                        {from !== undefined && value === undefined && !withheld && <code class="masked">•••••• (hidden)</code>}
                        {value !== undefined && <code class="value revealed">{value}</code>}
                        {withheld && (
                          <span class="withheld">
                            Withheld: the value comes from <strong>{withheld.from}</strong>. {withheld.reason}
                          </span>
                        )}
                        {from !== undefined && (
                          <span class="source">
                            {from === env.key ? 'set here' : `inherited from ${from}`}
                            {version !== undefined ? ` · version ${version}` : ''}
                          </span>
                        )}
                        {r?.state === 'loading' && <span class="muted"> revealing…</span>}
                      </td>
                    );
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {data && envs.length > 0 && <SetSecret wsKey={wsKey} base={base} envs={envs} secrets={data.secrets} onDone={() => { setRevealed({}); reload(); }} />}
    </>
  );
}

function SetSecret({ wsKey, base, envs, secrets, onDone }: {
  wsKey: string; base: string; envs: Environment[]; secrets: SecretMeta[]; onDone: () => void;
}) {
  const [key, setKey] = useState('');
  const [env, setEnv] = useState(envs[0]!.key);
  const [value, setValue] = useState('');
  const [remove, setRemove] = useState(false);
  const [reason, setReason] = useState('');
  const { busy, error, submit } = useSubmit();
  const [done, setDone] = useState<string | undefined>(undefined);
  const [refused, setRefused] = useState<string | undefined>(undefined);
  const only = crOnly(envs);
  const k = key.trim();
  // The value goes to the api inside the proposal and is sealed there; it is never shown again.
  const entry: ChangeEntry = { kind: 'secret', key: k, environment: env, value: remove ? null : value };
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setDone(undefined);
    void submit(async () => {
      let saved = false;
      await saveOrOffer(async () => {
        await bff('PUT', `${base}/secrets/${enc(k)}`, { values: { [env]: remove ? null : value }, reason: reason.trim() });
        saved = true;
      }, setRefused);
      if (!saved) return;
      setDone(remove ? `${k}: the value in ${env} was removed.` : `${k} set in ${env}.`);
      setValue('');
      setReason('');
      setRemove(false);
      onDone();
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="secret-set-h" class="panel">
      <h2 id="secret-set-h">Set a secret</h2>
      <p class="hint">Only the environment you choose changes; the others keep their values.</p>
      <div class="row">
        <Field id="secret-key" label="Key" hint="An existing secret or a new key.">
          <input id="secret-key" required maxLength={64} list="secret-keys" value={key} autoComplete="off"
            aria-describedby="secret-key-hint" onInput={(e) => setKey(e.currentTarget.value)} />
          <datalist id="secret-keys">
            {secrets.map((s) => <option key={s.key} value={s.key} />)}
          </datalist>
        </Field>
        <Field id="secret-env" label="Environment">
          <select id="secret-env" value={env} onChange={(e) => setEnv(e.currentTarget.value)}>
            {envs.map((x) => <option key={x.key} value={x.key}>{envOption(x, only)}</option>)}
          </select>
        </Field>
        <Field id="secret-value" label="Value">
          <input id="secret-value" type="password" autoComplete="new-password" maxLength={65536} value={value}
            disabled={remove} onInput={(e) => setValue(e.currentTarget.value)} />
        </Field>
      </div>
      <div class="check">
        <input id="secret-remove" type="checkbox" checked={remove} onChange={(e) => setRemove(e.currentTarget.checked)} />
        <label for="secret-remove">Remove this environment's value (it then inherits, if a parent has one)</label>
      </div>
      <CrOnlyNote env={env} only={only} />
      <Field id="secret-reason" label="Reason">
        <input id="secret-reason" required maxLength={500} value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {done && !error && <p role="status" class="ok">{done}</p>}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save secret'}</button>
      <ProposeChange key={refused ?? ''} id="secret-propose" wsKey={wsKey}
        entries={() => (k ? [entry] : 'Give the secret a key.')}
        title={proposalTitle([entry])} reason={reason} refused={refused} />
    </form>
  );
}

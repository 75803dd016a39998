// API keys: your keys (admins and owners: the org's), creating one (the key is shown once,
// with a copy button) and revoking. auth decides what each role may create and revoke.
import { useState } from 'preact/hooks';
import { bff, enc } from '../api';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';
import { ROLES } from './members';

interface ApiKey {
  id: string; name: string; prefix: string; role: string; scopes: string[]; created_by: string;
  created_at: string; expires_at?: string | null; last_used_at?: string | null; revoked_at?: string | null;
}
interface Created extends ApiKey { key: string }

const SCOPES = ['read', 'write', 'secrets:read', 'admin'] as const;

export function ApiKeysPage() {
  const [res, reload] = useResource(
    () => bff<{ api_keys: ApiKey[] }>('GET', '/bff/auth/api-keys').then((r) => r.api_keys ?? []), []);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const revoke = (k: ApiKey) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/api-keys/${enc(k.id)}`);
    setNotice(`API key ${k.name} revoked.`);
    reload();
  });
  return (
    <>
      <h1 tabIndex={-1} data-autofocus>API keys</h1>
      <section aria-labelledby="keys-h">
        <h2 id="keys-h">Keys</h2>
        {res.state === 'loading' && !res.data && <Loading what="API keys" />}
        {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
        {error && <ErrorMessage message={error} />}
        {notice && <p role="status" class="ok">{notice}</p>}
        {res.data && res.data.length === 0 && <p class="empty">No API keys yet.</p>}
        {res.data && res.data.length > 0 && (
          <div class="table-wrap">
            <table class="list" aria-label="API keys">
              <thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
              <tbody>
                {res.data.map((k) => (
                  <tr key={k.id} data-key={k.name}>
                    <td>{k.name}</td>
                    <td><code>{k.prefix}</code></td>
                    <td>{k.role}</td>
                    <td>{(k.scopes ?? []).join(', ')}</td>
                    <td>{k.last_used_at ?? 'never'}</td>
                    <td>{k.revoked_at ? `revoked ${k.revoked_at}` : k.expires_at ? `expires ${k.expires_at}` : 'active'}</td>
                    <td>{!k.revoked_at && (
                      <button type="button" class="danger" disabled={busy} onClick={() => revoke(k)}
                        aria-label={`Revoke API key ${k.name}`}>Revoke</button>
                    )}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <CreateKey onDone={reload} />
    </>
  );
}

function CreateKey({ onDone }: { onDone: () => void }) {
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>(['read']);
  const [role, setRole] = useState('');
  const [days, setDays] = useState('');
  const [created, setCreated] = useState<Created | undefined>(undefined);
  const [copied, setCopied] = useState(false);
  const { busy, error, submit } = useSubmit();
  const toggle = (s: string, on: boolean) => setScopes(on ? [...scopes, s] : scopes.filter((x) => x !== s));
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setCreated(undefined);
    setCopied(false);
    void submit(async () => {
      const body: Record<string, unknown> = { name: name.trim(), scopes };
      if (role) body.role = role;
      if (days.trim()) body.expires_in = Math.round(Number(days) * 86400);
      setCreated(await bff<Created>('POST', '/bff/auth/api-keys', body));
      setName('');
      onDone();
    });
  };
  const copy = async () => {
    if (!created) return;
    try {
      await navigator.clipboard.writeText(created.key);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section aria-labelledby="key-create-h">
      <h2 id="key-create-h">Create an API key</h2>
      {created && (
        <div role="status" class="ok created-key">
          <p>API key <strong>{created.name}</strong> created. Copy it now: it is shown only once.</p>
          <p><code data-testid="new-api-key">{created.key}</code></p>
          <button type="button" onClick={() => void copy()}>{copied ? 'Copied' : 'Copy key'}</button>
        </div>
      )}
      <form onSubmit={onSubmit}>
        <Field id="key-name" label="Name">
          <input id="key-name" required maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <fieldset>
          <legend>Scopes</legend>
          {SCOPES.map((s) => (
            <label key={s} class="check">
              <input type="checkbox" checked={scopes.includes(s)} onChange={(e) => toggle(s, e.currentTarget.checked)} /> {s}
            </label>
          ))}
        </fieldset>
        <Field id="key-role" label="Role" hint="At most your own role; defaults to it.">
          <select id="key-role" value={role} aria-describedby="key-role-hint" onChange={(e) => setRole(e.currentTarget.value)}>
            <option value="">my role</option>
            {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
          </select>
        </Field>
        <Field id="key-days" label="Expires after (days, optional)">
          <input id="key-days" type="number" min={1} max={3650} value={days} onInput={(e) => setDays(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create API key'}</button>
      </form>
    </section>
  );
}

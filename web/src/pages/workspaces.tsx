// Workspaces: the org's workspaces, and a form to create one.
import { useState } from 'preact/hooks';
import { bff, type Workspace } from '../api';
import { linkClick, navigate } from '../router';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';

export function WorkspacesPage() {
  const [res, reload] = useResource(
    () => bff<{ workspaces: Workspace[] }>('GET', '/bff/api/workspaces').then((r) => r.workspaces ?? []), []);
  return (
    <>
      <h1 tabIndex={-1} data-autofocus>Workspaces</h1>
      <section aria-labelledby="ws-list-h">
        <h2 id="ws-list-h">Your workspaces</h2>
        {res.state === 'loading' && !res.data && <Loading what="workspaces" />}
        {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
        {res.data && res.data.length === 0 && (
          <p class="empty">No workspaces yet. Create the first one below.</p>
        )}
        {res.data && res.data.length > 0 && (
          <ul class="cards">
            {res.data.map((ws) => (
              <li key={ws.id}>
                <a href={`/workspaces/${encodeURIComponent(ws.key)}`} onClick={linkClick}>{ws.name}</a>
                <span class="muted"> <code>{ws.key}</code></span>
              </li>
            ))}
          </ul>
        )}
      </section>
      <CreateWorkspace />
    </>
  );
}

function CreateWorkspace() {
  const [key, setKey] = useState('');
  const [name, setName] = useState('');
  const { busy, error, submit } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const body: Record<string, string> = { key: key.trim() };
      if (name.trim()) body.name = name.trim();
      const ws = await bff<Workspace>('POST', '/bff/api/workspaces', body);
      navigate(`/workspaces/${encodeURIComponent(ws.key)}`);
    });
  };
  return (
    <section aria-labelledby="ws-create-h">
      <h2 id="ws-create-h">Create a workspace</h2>
      <form onSubmit={onSubmit}>
        <Field id="ws-key" label="Key" hint="Lower-case letters, digits, '.', '_' and '-', e.g. payments.">
          <input id="ws-key" required maxLength={64} pattern="[a-z0-9][a-z0-9._\-]*" aria-describedby="ws-key-hint"
            value={key} onInput={(e) => setKey(e.currentTarget.value)} />
        </Field>
        <Field id="ws-name" label="Name (optional)">
          <input id="ws-name" maxLength={200} value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Creating…' : 'Create workspace'}</button>
      </form>
    </section>
  );
}

// Workspaces: the org's workspaces, a form to create one and, for admins, deleting one
// (the key typed again) and the deleted workspaces not purged yet, with restore
// (docs/api.md "Deleting a workspace").
import { useState } from 'preact/hooks';
import { ApiError, bff, type Workspace } from '../api';
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
      {res.data && res.data.length > 0 && <DeleteWorkspace workspaces={res.data} onDone={reload} />}
      <DeletedWorkspaces onRestored={reload} />
    </>
  );
}

// Deleting: pick the workspace, type its key again, give a reason. Its data is kept (and
// restorable below) until the grace period ends.
function DeleteWorkspace({ workspaces, onDone }: { workspaces: Workspace[]; onDone: () => void }) {
  const [key, setKey] = useState('');
  const [confirm, setConfirm] = useState('');
  const [reason, setReason] = useState('');
  const [done, setDone] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const ws = await bff<Workspace>('DELETE', `/bff/api/workspaces/${encodeURIComponent(key)}`,
        { reason: reason.trim(), confirm });
      setDone(`Deleted ${ws.key}. It can be restored until ${ws.purge_after ?? 'the end of its grace period'}.`);
      setKey('');
      setConfirm('');
      setReason('');
      onDone();
    });
  };
  return (
    <section aria-labelledby="ws-delete-h">
      <h2 id="ws-delete-h">Delete a workspace</h2>
      <p class="muted">Admins only. Nothing of it is served or readable from then on; it can be restored until
        its grace period ends, then its data is destroyed.</p>
      <form onSubmit={onSubmit}>
        <Field id="ws-delete-key" label="Workspace">
          <select id="ws-delete-key" required value={key} onChange={(e) => setKey(e.currentTarget.value)}>
            <option value="">Choose…</option>
            {workspaces.map((ws) => <option key={ws.id} value={ws.key}>{ws.name} ({ws.key})</option>)}
          </select>
        </Field>
        <Field id="ws-delete-confirm" label="Type the workspace's key to confirm">
          <input id="ws-delete-confirm" required autoComplete="off" value={confirm}
            onInput={(e) => setConfirm(e.currentTarget.value)} />
        </Field>
        <Field id="ws-delete-reason" label="Reason">
          <input id="ws-delete-reason" required maxLength={1000} value={reason}
            onInput={(e) => setReason(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        {done && <p role="status">{done}</p>}
        <button type="submit" class="danger" disabled={busy || key === '' || confirm !== key}>
          {busy ? 'Deleting…' : 'Delete workspace'}
        </button>
      </form>
    </section>
  );
}

// The deleted workspaces (admins; for anyone else the list is refused and not shown).
function DeletedWorkspaces({ onRestored }: { onRestored: () => void }) {
  const [res, reload] = useResource(async () => {
    try {
      const r = await bff<{ workspaces: Workspace[] }>('GET', '/bff/api/workspaces?include_deleted=true');
      return (r.workspaces ?? []).filter((ws) => ws.deleted_at);
    } catch (e) {
      if (e instanceof ApiError && e.status === 403) return undefined;
      throw e;
    }
  }, []);
  const [reason, setReason] = useState('');
  const { busy, error, submit } = useSubmit();
  if (res.state === 'ok' && (res.data === undefined || res.data.length === 0)) return null;
  const restore = (ws: Workspace) => {
    void submit(async () => {
      await bff<Workspace>('POST', `/bff/api/workspaces/${encodeURIComponent(ws.key)}/restore`,
        { reason: reason.trim() });
      setReason('');
      reload();
      onRestored();
    });
  };
  return (
    <section aria-labelledby="ws-deleted-h">
      <h2 id="ws-deleted-h">Deleted workspaces</h2>
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && res.data.length > 0 && (
        <>
          <Field id="ws-restore-reason" label="Reason for a restore">
            <input id="ws-restore-reason" maxLength={1000} value={reason}
              onInput={(e) => setReason(e.currentTarget.value)} />
          </Field>
          {error && <ErrorMessage message={error} />}
          <ul class="cards">
            {res.data.map((ws) => (
              <li key={ws.id}>
                {ws.name} <span class="muted"><code>{ws.key}</code>, destroyed after {ws.purge_after}</span>{' '}
                <button type="button" class="small" disabled={busy || reason.trim() === ''}
                  aria-label={`Restore ${ws.key}`} onClick={() => restore(ws)}>Restore</button>
              </li>
            ))}
          </ul>
        </>
      )}
    </section>
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

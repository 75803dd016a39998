// The OAuth consent page (docs/design/oauth.md): an MCP client (Claude, VS Code, …) sent
// the user here to ask for access to EdgeVault on their behalf. The page shows who asks,
// for which scopes (only those the user's role allows), and sends the decision to auth
// through /bff/auth/oauth/authorize; auth answers where to send the browser back (the
// client's registered loopback or https redirect URI, with the code or access_denied).
import { useState } from 'preact/hooks';
import { bff, session } from '../api';
import { ErrorMessage, Loading, messageOf, useResource } from '../ui';

interface Consent {
  client: { name: string; ref: string };
  redirect_uri: string;
  resource: string;
  scopes_requested: string[];
  scopes_grantable: string[];
  role: string;
}

const SCOPE_TEXT: Record<string, string> = {
  read: 'Read workspaces, environments, configs, flags, history and change requests (secret names only)',
  write: 'Propose and make changes (environments that require review get a change request instead)',
  'secrets:read': 'Read secret values, where the server allows agents to (mcp.allow_secret_values)',
};

export function ConsentPage() {
  const query = location.search;
  const [info, retry] = useResource(() => bff<Consent>('GET', `/bff/auth/oauth/authorize${query}`), [query]);
  const [chosen, setChosen] = useState<string[] | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  async function decide(approve: boolean, grantable: string[]) {
    setBusy(true);
    setError('');
    try {
      const params = Object.fromEntries(new URLSearchParams(query));
      const r = await bff<{ redirect_to: string }>('POST', '/bff/auth/oauth/authorize', {
        ...params,
        approve,
        ...(approve ? { scopes: chosen ?? grantable } : {}),
      });
      location.assign(r.redirect_to);
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  }

  return (
    <main id="main" class="auth-card">
      <h1 tabIndex={-1} data-autofocus>Allow access to EdgeVault?</h1>
      {info.state === 'loading' && <Loading what="the request" />}
      {info.state === 'error' && <ErrorMessage message={info.error} retry={retry} />}
      {info.state === 'ok' && info.data && (() => {
        const c = info.data;
        const picked = chosen ?? c.scopes_grantable;
        return (
          <>
            <p>
              <strong>{c.client.name}</strong> wants to act as <strong>{session.value?.user.email}</strong> (role{' '}
              {c.role}) on <code>{c.resource}</code>.
            </p>
            <fieldset>
              <legend>It may</legend>
              {c.scopes_grantable.map((s) => (
                <label key={s} class="check">
                  <input
                    type="checkbox"
                    checked={picked.includes(s)}
                    onChange={(e) => {
                      const on = (e.currentTarget as HTMLInputElement).checked;
                      setChosen(on ? [...picked, s] : picked.filter((x) => x !== s));
                    }}
                  />{' '}
                  {SCOPE_TEXT[s] ?? s}
                </label>
              ))}
            </fieldset>
            {c.scopes_requested.length > c.scopes_grantable.length && (
              <p class="muted">Your role does not allow the rest of what it asked for, so it will not get it.</p>
            )}
            <p class="muted">
              You will be sent back to <code>{c.redirect_uri}</code>. Agents never approve change requests; you can end
              this access at any time by revoking it in the client.
            </p>
            {error && <ErrorMessage message={error} />}
            <div class="actions">
              <button type="button" class="primary" disabled={busy || picked.length === 0}
                onClick={() => decide(true, c.scopes_grantable)}>Allow</button>{' '}
              <button type="button" disabled={busy} onClick={() => decide(false, c.scopes_grantable)}>Deny</button>
            </div>
          </>
        );
      })()}
    </main>
  );
}

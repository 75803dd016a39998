// Members: the org's members and pending invitations; admins and owners invite (auth
// answers a one-time password when the email has no account yet, shown once), change
// roles and remove members. auth enforces the rules (role ceilings, the last owner) and
// its refusals are shown as they come.
import { useState } from 'preact/hooks';
import { bff, enc, session } from '../api';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';

interface Member { user_id: string; email: string; role: string; display_name?: string; disabled?: boolean; since?: string }
interface Invitation { id: string; email: string; role: string; status: string; expires_at: string; invited_by?: string }
interface Invited { id: string; email: string; role: string; one_time_password?: string }

export const ROLES = ['viewer', 'developer', 'admin', 'owner'] as const;

export function isAdmin(): boolean {
  const r = session.value?.role;
  return r === 'admin' || r === 'owner';
}

export function MembersPage() {
  const admin = isAdmin();
  const [members, reloadMembers] = useResource(
    () => bff<{ members: Member[] }>('GET', '/bff/auth/members').then((r) => r.members ?? []), []);
  const [invites, reloadInvites] = useResource(
    () => (admin ? bff<{ invitations: Invitation[] }>('GET', '/bff/auth/org/invitations').then((r) => r.invitations ?? [])
      : Promise.resolve([] as Invitation[])), [admin]);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const me = session.value?.user.id;

  const changeRole = (m: Member, role: string) => void submit(async () => {
    setNotice(undefined);
    await bff('PATCH', `/bff/auth/members/${enc(m.user_id)}`, { role });
    setNotice(`${m.email} is now ${role}.`);
    reloadMembers();
  });
  const remove = (m: Member) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/members/${enc(m.user_id)}`);
    setNotice(`${m.email} was removed from the org.`);
    reloadMembers();
  });
  const revokeInvite = (i: Invitation) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/org/invitations/${enc(i.id)}`);
    setNotice(`The invitation of ${i.email} was revoked.`);
    reloadInvites();
  });

  return (
    <>
      <h1 tabIndex={-1} data-autofocus>Members</h1>
      <section aria-labelledby="members-h">
        <h2 id="members-h">Members of this org</h2>
        {members.state === 'loading' && !members.data && <Loading what="members" />}
        {members.state === 'error' && <ErrorMessage message={members.error} retry={reloadMembers} />}
        {error && <ErrorMessage message={error} />}
        {notice && <p role="status" class="ok">{notice}</p>}
        {members.data && (
          <div class="table-wrap">
            <table class="list" aria-label="Members">
              <thead><tr><th scope="col">Email</th><th scope="col">Name</th><th scope="col">Role</th>{admin && <th scope="col"><span class="sr-only">Actions</span></th>}</tr></thead>
              <tbody>
                {members.data.map((m) => (
                  <tr key={m.user_id} data-member={m.email}>
                    <td>{m.email}{m.disabled ? ' (disabled)' : ''}</td>
                    <td>{m.display_name || ''}</td>
                    <td>
                      {admin && m.user_id !== me ? (
                        <select aria-label={`Role of ${m.email}`} value={m.role} disabled={busy}
                          onChange={(e) => changeRole(m, e.currentTarget.value)}>
                          {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
                        </select>
                      ) : m.role}
                    </td>
                    {admin && (
                      <td>{m.user_id !== me && (
                        <button type="button" class="danger" disabled={busy} onClick={() => remove(m)}
                          aria-label={`Remove ${m.email}`}>Remove</button>
                      )}</td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {admin && (
        <section aria-labelledby="invites-h">
          <h2 id="invites-h">Pending invitations</h2>
          {invites.state === 'loading' && !invites.data && <Loading what="invitations" />}
          {invites.state === 'error' && <ErrorMessage message={invites.error} retry={reloadInvites} />}
          {invites.data && invites.data.length === 0 && <p class="empty">No pending invitations.</p>}
          {invites.data && invites.data.length > 0 && (
            <ul class="cards" aria-label="Pending invitations">
              {invites.data.map((i) => (
                <li key={i.id}>
                  {i.email} <span class="muted">as {i.role}, until {i.expires_at}</span>{' '}
                  <button type="button" disabled={busy} onClick={() => revokeInvite(i)}
                    aria-label={`Revoke the invitation of ${i.email}`}>Revoke</button>
                </li>
              ))}
            </ul>
          )}
          <Invite onDone={() => reloadInvites()} />
        </section>
      )}
      {admin && <OrgAppsSection />}
      {!admin && <p class="muted">Admins and owners invite members and change roles.</p>}
    </>
  );
}

interface OrgGrant {
  id: string; client: { name: string; ref: string }; scopes: string[];
  created_at: string | null; last_used_at: string | null; user: { id: string; email: string; role: string };
}

// The OAuth clients (MCP agents) the org's members allowed, and through whom (admins).
// Revoking one ends its grant as the member's own Revoke does; a grant of an admin or owner
// is an owner's to revoke, and auth's refusal is shown as it comes.
function OrgAppsSection() {
  const [res, reload] = useResource(
    () => bff<{ grants: OrgGrant[] }>('GET', '/bff/auth/org/oauth-grants').then((r) => r.grants ?? []), []);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const revoke = (g: OrgGrant) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/org/oauth-grants/${enc(g.id)}`);
    setNotice(`Access of ${g.client.name} (allowed by ${g.user.email}) revoked.`);
    reload();
  });
  return (
    <section aria-labelledby="org-apps-h">
      <h2 id="org-apps-h">Authorized apps in this org</h2>
      <p>Agents and other OAuth clients that members allowed to act as them here.</p>
      {res.state === 'loading' && !res.data && <Loading what="authorized apps" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && res.data.length === 0 && <p class="empty">No app holds access to this org.</p>}
      {res.data && res.data.length > 0 && (
        <div class="table-wrap">
          <table class="list" aria-label="Authorized apps in this org">
            <thead><tr><th scope="col">App</th><th scope="col">Member</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {res.data.map((g) => (
                <tr key={g.id} data-org-grant={g.id}>
                  <td>{g.client.name} <span class="muted"><code>{g.client.ref}</code></span></td>
                  <td>{g.user.email} <span class="muted">({g.user.role})</span></td>
                  <td>{g.scopes.join(', ')}</td>
                  <td>{g.last_used_at ?? '—'}</td>
                  <td>
                    <button type="button" disabled={busy} onClick={() => revoke(g)}
                      aria-label={`Revoke access of ${g.client.name} for ${g.user.email}`}>Revoke</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {error && <ErrorMessage message={error} />}
      {notice && <p role="status" class="ok">{notice}</p>}
    </section>
  );
}

function Invite({ onDone }: { onDone: () => void }) {
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('developer');
  const [password, setPassword] = useState('');
  const [invited, setInvited] = useState<Invited | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const mine = session.value?.role;
  const onSubmit = (e: Event) => {
    e.preventDefault();
    setInvited(undefined);
    void submit(async () => {
      const body: Record<string, string> = { email: email.trim(), role };
      if (password) body.password = password;
      setInvited(await bff<Invited>('POST', '/bff/auth/users', body));
      setEmail(''); setPassword('');
      onDone();
    });
  };
  return (
    <form onSubmit={onSubmit} aria-labelledby="invite-h">
      <h3 id="invite-h">Invite someone</h3>
      <Field id="invite-email" label="Email">
        <input id="invite-email" type="email" required maxLength={320} value={email}
          onInput={(e) => setEmail(e.currentTarget.value)} />
      </Field>
      <Field id="invite-role" label="Role" hint={mine === 'owner' ? undefined : 'Admins invite developers and viewers.'}>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.currentTarget.value)}
          aria-describedby={mine === 'owner' ? undefined : 'invite-role-hint'}>
          {ROLES.map((r) => <option key={r} value={r}>{r}</option>)}
        </select>
      </Field>
      <Field id="invite-password" label="Initial password (optional)"
        hint="Leave empty to get a one-time password that must be changed at first sign-in.">
        <input id="invite-password" type="password" autoComplete="new-password" minLength={12} value={password}
          aria-describedby="invite-password-hint" onInput={(e) => setPassword(e.currentTarget.value)} />
      </Field>
      {error && <ErrorMessage message={error} />}
      {invited && (
        <div role="status" class="ok">
          <p>Invited {invited.email} as {invited.role}. They become a member when they accept (a new account
            accepts at its first sign-in).</p>
          {invited.one_time_password && (
            <p>One-time password, shown only now (it works only if the email has no account yet):{' '}
              <code data-testid="one-time-password">{invited.one_time_password}</code></p>
          )}
        </div>
      )}
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Inviting…' : 'Invite'}</button>
    </form>
  );
}

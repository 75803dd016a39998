// Account: the signed-in user's own credentials — password, TOTP (enrol with a QR code,
// confirm, recovery codes shown once, disable), passkeys (register with WebAuthn, list,
// remove), the account's sessions (list, sign out one or all others) and the apps (OAuth
// clients such as MCP agents) it authorized (list, revoke). Every call goes
// to auth through the BFF (/bff/v1/password, /bff/auth/...), which checks it as for any
// other client.
import { useState } from 'preact/hooks';
import { bff, enc, refreshSession, session } from '../api';
import { PasswordForm } from './password';
import { ErrorMessage, Field, Loading, useResource, useSubmit } from '../ui';

export function AccountPage() {
  const s = session.value;
  return (
    <>
      <h1 tabIndex={-1} data-autofocus>Account</h1>
      <p class="muted">Signed in as <strong>{s?.user.email}</strong>{s?.role ? ` (${s.role})` : ''}.</p>
      <PasswordSection />
      <TotpSection />
      <PasskeysSection />
      <SessionsSection />
      <AppsSection />
    </>
  );
}

function PasswordSection() {
  const [done, setDone] = useState(false);
  return (
    <section aria-labelledby="acct-pw-h">
      <h2 id="acct-pw-h">Password</h2>
      {done && <p role="status" class="ok">Password changed.</p>}
      <PasswordForm hint="At least 12 characters. Your other sessions end." onChanged={() => setDone(true)} />
    </section>
  );
}

interface Enrollment { secret: string; otpauth_uri: string; qr_svg: string }

// The QR code is SVG text from auth. It is shown as an image from a data: URL, never
// inserted as markup, so nothing in it can run or style the page.
function qrSrc(svg: string): string {
  return `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
}

function TotpSection() {
  const enabled = (session.value?.mfa ?? []).includes('totp');
  const [enrollment, setEnrollment] = useState<Enrollment | undefined>(undefined);
  const [codes, setCodes] = useState<string[] | undefined>(undefined);
  const [code, setCode] = useState('');
  const [password, setPassword] = useState('');
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();

  const start = () => void submit(async () => {
    setNotice(undefined);
    setEnrollment(await bff<Enrollment>('POST', '/bff/auth/mfa/totp/enroll', {}));
  });
  const confirm = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const r = await bff<{ recovery_codes: string[] }>('POST', '/bff/auth/mfa/totp/confirm', { code: code.trim() });
      setEnrollment(undefined);
      setCode('');
      setCodes(r.recovery_codes ?? []);
      await refreshSession();
    });
  };
  const disable = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      await bff('POST', '/bff/auth/mfa/totp/disable', { password, code: code.trim() });
      setPassword(''); setCode(''); setCodes(undefined);
      setNotice('Two-factor authentication is off.');
      await refreshSession();
    });
  };

  return (
    <section aria-labelledby="acct-totp-h">
      <h2 id="acct-totp-h">Authenticator app (TOTP)</h2>
      {codes && (
        <div class="recovery" role="status">
          <p><strong>Two-factor authentication is on.</strong> Save these recovery codes now; they are shown only
            once. Each signs you in once if you lose your authenticator.</p>
          <ul aria-label="Recovery codes" class="codes">
            {codes.map((c) => <li key={c}><code>{c}</code></li>)}
          </ul>
          <button type="button" onClick={() => setCodes(undefined)}>I have saved them</button>
        </div>
      )}
      {notice && <p role="status" class="ok">{notice}</p>}
      {!enabled && !enrollment && (
        <>
          <p>Off. Add a code from an authenticator app to each sign-in.</p>
          {error && <ErrorMessage message={error} />}
          <button type="button" onClick={start} disabled={busy}>Set up an authenticator app</button>
        </>
      )}
      {!enabled && enrollment && (
        <form onSubmit={confirm}>
          <p>Scan this code with your authenticator app, or type the key below, then enter the code it shows.</p>
          <img class="qr" src={qrSrc(enrollment.qr_svg)} alt="QR code of the authenticator key" width={200} height={200} />
          <p>Key: <code data-testid="totp-secret">{enrollment.secret}</code></p>
          <Field id="totp-confirm-code" label="Code from the app">
            <input id="totp-confirm-code" inputMode="numeric" autoComplete="one-time-code" required value={code}
              onInput={(e) => setCode(e.currentTarget.value)} />
          </Field>
          {error && <ErrorMessage message={error} />}
          <div class="actions">
            <button type="submit" class="primary" disabled={busy}>Turn on</button>
            <button type="button" onClick={() => { setEnrollment(undefined); setCode(''); }}>Cancel</button>
          </div>
        </form>
      )}
      {enabled && !codes && (
        <form onSubmit={disable}>
          <p>On. To turn it off, confirm with your password and a current code.</p>
          <Field id="totp-off-password" label="Password">
            <input id="totp-off-password" type="password" autoComplete="current-password" required value={password}
              onInput={(e) => setPassword(e.currentTarget.value)} />
          </Field>
          <Field id="totp-off-code" label="Current code">
            <input id="totp-off-code" inputMode="numeric" autoComplete="one-time-code" required value={code}
              onInput={(e) => setCode(e.currentTarget.value)} />
          </Field>
          {error && <ErrorMessage message={error} />}
          <button type="submit" class="danger" disabled={busy}>Turn off two-factor authentication</button>
        </form>
      )}
    </section>
  );
}

interface Passkey { id: string; name: string; algorithm: string; created_at: string; last_used_at?: string | null }

const b64u = (buf: ArrayBuffer): string =>
  btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
const unb64u = (s: string): Uint8Array =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));

// auth's options carry binary members as base64url; WebAuthn wants buffers.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function decodeOptions(publicKey: any): any {
  const pk = structuredClone(publicKey);
  pk.challenge = unb64u(pk.challenge);
  if (pk.user) pk.user.id = unb64u(pk.user.id);
  for (const list of [pk.excludeCredentials, pk.allowCredentials]) {
    for (const c of list ?? []) c.id = unb64u(c.id);
  }
  return pk;
}

// The credential as auth reads it: base64url members.
export function encodeCredential(cred: PublicKeyCredential): unknown {
  const r = cred.response as AuthenticatorAttestationResponse & AuthenticatorAssertionResponse;
  const response: Record<string, string> = { clientDataJSON: b64u(r.clientDataJSON) };
  if ('attestationObject' in r && r.attestationObject) response.attestationObject = b64u(r.attestationObject);
  if ('authenticatorData' in r && r.authenticatorData) {
    response.authenticatorData = b64u(r.authenticatorData);
    response.signature = b64u(r.signature);
    if (r.userHandle) response.userHandle = b64u(r.userHandle);
  }
  return { id: cred.id, rawId: b64u(cred.rawId), type: cred.type, response };
}

export function webAuthnError(e: unknown): string | undefined {
  if (e instanceof DOMException) {
    return e.name === 'NotAllowedError'
      ? 'The passkey request was cancelled or timed out; try again.'
      : `The browser refused the passkey request (${e.name}); try again or use another device.`;
  }
  return undefined;
}

function PasskeysSection() {
  const [res, reload] = useResource(
    () => bff<{ passkeys: Passkey[] }>('GET', '/bff/auth/passkeys').then((r) => r.passkeys ?? []), []);
  const [name, setName] = useState('');
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit, setError } = useSubmit();
  const supported = typeof window.PublicKeyCredential !== 'undefined';

  const register = (e: Event) => {
    e.preventDefault();
    setNotice(undefined);
    void submit(async () => {
      const begin = await bff<{ challenge_id: string; publicKey: unknown }>('POST', '/bff/auth/passkeys/register/begin', {});
      let cred: PublicKeyCredential;
      try {
        cred = (await navigator.credentials.create({ publicKey: decodeOptions(begin.publicKey) })) as PublicKeyCredential;
      } catch (err) {
        setError(webAuthnError(err) ?? 'The passkey could not be created; try again.');
        return;
      }
      const body: Record<string, unknown> = { challenge_id: begin.challenge_id, credential: encodeCredential(cred) };
      if (name.trim()) body.name = name.trim();
      await bff('POST', '/bff/auth/passkeys/register/finish', body);
      setName('');
      setNotice('Passkey added.');
      reload();
      await refreshSession();
    });
  };
  const remove = (k: Passkey) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/passkeys/${enc(k.id)}`);
    setNotice(`Passkey ${k.name || k.id} removed.`);
    reload();
    await refreshSession();
  });

  return (
    <section aria-labelledby="acct-pk-h">
      <h2 id="acct-pk-h">Passkeys</h2>
      {res.state === 'loading' && !res.data && <Loading what="passkeys" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && res.data.length === 0 && <p class="empty">No passkeys yet.</p>}
      {res.data && res.data.length > 0 && (
        <div class="table-wrap">
          <table class="list" aria-label="Your passkeys">
            <thead><tr><th scope="col">Name</th><th scope="col">Algorithm</th><th scope="col">Added</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {res.data.map((k) => (
                <tr key={k.id}>
                  <td>{k.name || '(unnamed)'}</td>
                  <td>{k.algorithm}</td>
                  <td>{k.created_at}</td>
                  <td>{k.last_used_at ?? 'never'}</td>
                  <td><button type="button" disabled={busy} onClick={() => remove(k)}
                    aria-label={`Remove passkey ${k.name || k.id}`}>Remove</button></td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {notice && <p role="status" class="ok">{notice}</p>}
      {supported ? (
        <form onSubmit={register}>
          <Field id="pk-name" label="Passkey name (optional)">
            <input id="pk-name" maxLength={100} value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          {error && <ErrorMessage message={error} />}
          <button type="submit" disabled={busy}>{busy ? 'Waiting for the passkey…' : 'Add a passkey'}</button>
        </form>
      ) : (
        <p class="muted">This browser does not support passkeys.</p>
      )}
    </section>
  );
}

interface SessionInfo {
  id: string; current: boolean; org_id: string; created_at: string; last_seen_at: string; expires_at: string;
  client_address: string; user_agent: string; auth_methods: string;
}

function SessionsSection() {
  const [res, reload] = useResource(
    () => bff<{ sessions: SessionInfo[] }>('GET', '/bff/auth/sessions').then((r) => r.sessions ?? []), []);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const revokeOne = (x: SessionInfo) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/sessions/${enc(x.id)}`);
    setNotice(`Session ${x.id} signed out.`);
    reload();
  });
  const revokeAll = () => void submit(async () => {
    setNotice(undefined);
    const r = await bff<{ revoked: number }>('POST', '/bff/auth/sessions/revoke-all', {});
    setNotice(r.revoked === 1 ? 'Signed out 1 other session.' : `Signed out ${r.revoked} other sessions.`);
    reload();
  });
  return (
    <section aria-labelledby="acct-sessions-h">
      <h2 id="acct-sessions-h">Sessions</h2>
      <p>Where your account is signed in, in every org. Sign out any session you do not recognise.</p>
      {res.state === 'loading' && !res.data && <Loading what="sessions" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && (
        <div class="table-wrap">
          <table class="list" aria-label="Your sessions">
            <thead><tr><th scope="col">Session</th><th scope="col">Signed in with</th><th scope="col">Address</th><th scope="col">Browser</th><th scope="col">Last used</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {res.data.map((x) => (
                <tr key={x.id} data-session={x.id}>
                  <td><code>{x.id}</code>{x.current ? ' (this session)' : ''}</td>
                  <td>{x.auth_methods}</td>
                  <td>{x.client_address}</td>
                  <td class="ua">{x.user_agent}</td>
                  <td>{x.last_seen_at}</td>
                  <td>{!x.current && (
                    <button type="button" disabled={busy} onClick={() => revokeOne(x)}
                      aria-label={`Sign out session ${x.id}`}>Sign out</button>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {error && <ErrorMessage message={error} />}
      {notice && <p role="status" class="ok">{notice}</p>}
      <button type="button" onClick={revokeAll} disabled={busy}>Sign out all other sessions</button>
    </section>
  );
}

interface Grant {
  id: string; client: { name: string; ref: string }; scopes: string[]; resource: string; org_id: string;
  created_at: string | null; last_used_at: string | null; expires_at: string;
}

// The OAuth clients (MCP agents: Claude, VS Code, ...) this account allowed on the consent
// page, in every org. Revoking one ends its grant: its refresh tokens stop at once, its
// access tokens at the api within about a second.
function AppsSection() {
  const [res, reload] = useResource(
    () => bff<{ grants: Grant[] }>('GET', '/bff/auth/account/oauth-grants').then((r) => r.grants ?? []), []);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  const { busy, error, submit } = useSubmit();
  const revoke = (g: Grant) => void submit(async () => {
    setNotice(undefined);
    await bff('DELETE', `/bff/auth/account/oauth-grants/${enc(g.id)}`);
    setNotice(`Access of ${g.client.name} revoked.`);
    reload();
  });
  return (
    <section aria-labelledby="acct-apps-h">
      <h2 id="acct-apps-h">Authorized apps</h2>
      <p>Agents and other OAuth clients you allowed to act as you. Revoke any you no longer use.</p>
      {res.state === 'loading' && !res.data && <Loading what="authorized apps" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && res.data.length === 0 && <p class="muted">No app holds access to your account.</p>}
      {res.data && res.data.length > 0 && (
        <div class="table-wrap">
          <table class="list" aria-label="Your authorized apps">
            <thead><tr><th scope="col">App</th><th scope="col">Scopes</th><th scope="col">Last used</th><th scope="col">Allowed</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {res.data.map((g) => (
                <tr key={g.id} data-grant={g.id}>
                  <td>{g.client.name} <span class="muted"><code>{g.client.ref}</code></span></td>
                  <td>{g.scopes.join(', ')}</td>
                  <td>{g.last_used_at ?? '—'}</td>
                  <td>{g.created_at ?? '—'}</td>
                  <td>
                    <button type="button" disabled={busy} onClick={() => revoke(g)}
                      aria-label={`Revoke access of ${g.client.name}`}>Revoke</button>
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

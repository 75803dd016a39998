// Login: email + password (or a passkey, passwordless), then the TOTP step when auth asks
// for a second factor, then the first-start password change when the session says
// `must_change_password`.
import { useEffect, useRef, useState } from 'preact/hooks';
import { bff, session, type Session } from '../api';
import { linkClick } from '../router';
import { ErrorMessage, Field, useSubmit } from '../ui';
import { decodeOptions, encodeCredential, webAuthnError } from './account';

interface MfaRequired { mfa_required: true; mfa_token: string; methods?: string[] }

function useFocusHeading() {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => { ref.current?.focus(); }, []);
  return ref;
}

export function LoginPage() {
  const [mfa, setMfa] = useState<MfaRequired | undefined>(undefined);
  const [currentPassword, setCurrentPassword] = useState<string | undefined>(undefined);
  const s = session.value;
  if (s && s.must_change_password) return <ChangePassword current={currentPassword} />;
  if (mfa) return <TotpStep mfa={mfa} onCancel={() => setMfa(undefined)} />;
  return <PasswordStep onMfa={setMfa} onPassword={setCurrentPassword} />;
}

function PasswordStep({ onMfa, onPassword }: { onMfa: (m: MfaRequired) => void; onPassword: (p: string) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, submit } = useSubmit();
  const heading = useFocusHeading();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      const r = await bff<Session | MfaRequired>('POST', '/bff/v1/login', { email, password });
      // Kept in memory only, so the first-start change does not ask for it twice.
      onPassword(password);
      if ('mfa_required' in r && r.mfa_required) onMfa(r);
      else session.value = r as Session;
    });
  };
  return (
    <main id="main" class="auth-card">
      <h1 tabIndex={-1} ref={heading}>Sign in to EdgeVault</h1>
      <form onSubmit={onSubmit} aria-describedby={error ? 'login-error' : undefined}>
        <Field id="login-email" label="Email">
          <input id="login-email" type="email" autoComplete="username" required value={email}
            onInput={(e) => setEmail(e.currentTarget.value)} />
        </Field>
        <Field id="login-password" label="Password">
          <input id="login-password" type="password" autoComplete="current-password" required value={password}
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </Field>
        {error && <div id="login-error"><ErrorMessage message={error} /></div>}
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
      <PasskeyLogin />
    </main>
  );
}

function TotpStep({ mfa, onCancel }: { mfa: MfaRequired; onCancel: () => void }) {
  const [code, setCode] = useState('');
  const { busy, error, submit } = useSubmit();
  const heading = useFocusHeading();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    void submit(async () => {
      session.value = await bff<Session>('POST', '/bff/v1/login/totp', { mfa_token: mfa.mfa_token, code: code.trim() });
    });
  };
  return (
    <main id="main" class="auth-card">
      <h1 tabIndex={-1} ref={heading}>Two-factor authentication</h1>
      <p>Enter the 6-digit code from your authenticator app, or one of your recovery codes.</p>
      <form onSubmit={onSubmit}>
        <Field id="totp-code" label="Authentication code">
          <input id="totp-code" type="text" inputMode="numeric" autoComplete="one-time-code" required
            value={code} onInput={(e) => setCode(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Verifying…' : 'Verify'}</button>
          <button type="button" onClick={onCancel}>Back</button>
        </div>
      </form>
    </main>
  );
}

function ChangePassword({ current }: { current?: string }) {
  const [currentPassword, setCurrentPassword] = useState(current ?? '');
  const [next, setNext] = useState('');
  const [confirm, setConfirm] = useState('');
  const { busy, error, submit, setError } = useSubmit();
  const heading = useFocusHeading();
  const onSubmit = (e: Event) => {
    e.preventDefault();
    if (next !== confirm) {
      setError('The two new passwords differ; type the same password twice.');
      return;
    }
    void submit(async () => {
      await bff('POST', '/bff/v1/password', { current_password: currentPassword, new_password: next });
      // The password change replaced the session (and so its CSRF token): load it again.
      session.value = await bff<Session>('GET', '/bff/v1/session');
    });
  };
  return (
    <main id="main" class="auth-card">
      <h1 tabIndex={-1} ref={heading}>Choose your password</h1>
      <p>This account still has its one-time password. Choose a new one to continue.</p>
      <form onSubmit={onSubmit}>
        {current === undefined && (
          <Field id="pw-current" label="Current password">
            <input id="pw-current" type="password" autoComplete="current-password" required value={currentPassword}
              onInput={(e) => setCurrentPassword(e.currentTarget.value)} />
          </Field>
        )}
        <Field id="pw-new" label="New password" hint="At least 12 characters.">
          <input id="pw-new" type="password" autoComplete="new-password" required minLength={12} value={next}
            aria-describedby="pw-new-hint" onInput={(e) => setNext(e.currentTarget.value)} />
        </Field>
        <Field id="pw-confirm" label="Confirm new password">
          <input id="pw-confirm" type="password" autoComplete="new-password" required value={confirm}
            onInput={(e) => setConfirm(e.currentTarget.value)} />
        </Field>
        {error && <ErrorMessage message={error} />}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Change password'}</button>
          <a href="/logout" onClick={linkClick}>Sign out</a>
        </div>
      </form>
    </main>
  );
}

// Passwordless: auth's options → navigator.credentials.get → the assertion back to auth,
// which answers the session (the BFF sets the cookie).
// Its label does not contain "Sign in": tests find the password form's button by that name.
function PasskeyLogin() {
  const { busy, error, submit, setError } = useSubmit();
  if (typeof window.PublicKeyCredential === 'undefined') return null;
  const go = () => void submit(async () => {
    const begin = await bff<{ challenge_id: string; publicKey: unknown }>('POST', '/bff/v1/login/passkey/begin', {});
    let cred: PublicKeyCredential;
    try {
      cred = (await navigator.credentials.get({ publicKey: decodeOptions(begin.publicKey) })) as PublicKeyCredential;
    } catch (e) {
      setError(webAuthnError(e) ?? 'The passkey could not be used; try again.');
      return;
    }
    session.value = await bff<Session>('POST', '/bff/v1/login/passkey/finish',
      { challenge_id: begin.challenge_id, credential: encodeCredential(cred) });
  });
  return (
    <div class="alt-login">
      <p class="muted">or</p>
      {error && <ErrorMessage message={error} />}
      <button type="button" onClick={go} disabled={busy}>{busy ? 'Waiting for the passkey…' : 'Use a passkey'}</button>
    </div>
  );
}

// Login: email + password (or a passkey, passwordless), then the TOTP step when auth asks
// for a second factor, then the first-start password change when the session says
// `must_change_password`.
import { useEffect, useRef, useState } from 'preact/hooks';
import { bff, session, type Session } from '../api';
import { linkClick } from '../router';
import { ErrorMessage, Field, useSubmit } from '../ui';
import { decodeOptions, encodeCredential, webAuthnError } from './account';
import { PasswordForm } from './password';

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
  const heading = useFocusHeading();
  return (
    <main id="main" class="auth-card">
      <h1 tabIndex={-1} ref={heading}>Choose your password</h1>
      <p>This account still has its one-time password. Choose a new one to continue.</p>
      <PasswordForm current={current} hint="At least 12 characters."
        actions={<a href="/logout" onClick={linkClick}>Sign out</a>} />
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

// Sign out: ends the session in the console (and in auth), then offers to sign in again.
import { useEffect, useRef } from 'preact/hooks';
import { bff, session } from '../api';
import { navigate } from '../router';
import { ErrorMessage, Loading, useResource } from '../ui';

export function LogoutPage() {
  const [res, retry] = useResource(async () => {
    if (session.peek()) await bff('POST', '/bff/v1/logout');
    session.value = null;
    return true;
  }, []);
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => { heading.current?.focus(); }, [res.state]);
  return (
    <main id="main" class="auth-card">
      <h1 tabIndex={-1} ref={heading}>Sign out</h1>
      {res.state === 'loading' && <Loading what="sign out" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={retry} />}
      {res.state === 'ok' && (
        <>
          <p role="status">You are signed out.</p>
          <button type="button" class="primary" onClick={() => navigate('/workspaces')}>
            Sign in again
          </button>
        </>
      )}
    </main>
  );
}

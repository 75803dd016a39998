// The app: loads the session, then shows the login steps, or the shell with the page the
// path names. Focus moves to each new page's heading so keyboard and screen-reader users
// land on it.
import { useEffect } from 'preact/hooks';
import { refreshSession, session } from './api';
import { navigate, path } from './router';
import { AccountPage } from './pages/account';
import { ApiKeysPage } from './pages/apikeys';
import { AuditPage } from './pages/audit';
import { LoginPage } from './pages/login';
import { LogoutPage } from './pages/logout';
import { MembersPage } from './pages/members';
import { Shell } from './pages/shell';
import { WorkspacePage } from './pages/workspace';
import { WorkspacesPage } from './pages/workspaces';
import { ErrorMessage, Loading, messageOf, useResource } from './ui';

export function App() {
  const [boot, retry] = useResource(() => refreshSession(), []);
  const p = path.value;
  const s = session.value;

  useEffect(() => {
    if (p === '/' && s) navigate('/workspaces', true);
  }, [p, s]);
  useEffect(() => {
    document.querySelector<HTMLElement>('[data-autofocus]')?.focus();
  }, [p, s === null]);

  if (p === '/logout') return <LogoutPage />;
  if (s === undefined) {
    return (
      <main id="main" class="auth-card">
        <h1>EdgeVault console</h1>
        {boot.state === 'error' ? <ErrorMessage message={boot.error} retry={retry} /> : <Loading what="your session" />}
      </main>
    );
  }
  if (s === null || s.must_change_password) return <LoginPage />;
  return <Shell>{page(p)}</Shell>;
}

function page(p: string) {
  if (p === '/' || p === '/workspaces') return <WorkspacesPage />;
  if (p === '/account') return <AccountPage />;
  if (p === '/members') return <MembersPage />;
  if (p === '/api-keys') return <ApiKeysPage />;
  if (p === '/audit') return <AuditPage />;
  const m = /^\/workspaces\/([^/]+)\/?$/.exec(p);
  if (m) {
    let key: string;
    try {
      key = decodeURIComponent(m[1]!);
    } catch (e) {
      return <ErrorMessage message={messageOf(e)} />;
    }
    return <WorkspacePage key={key} wsKey={key} />;
  }
  return (
    <>
      <h1 tabIndex={-1} data-autofocus>Page not found</h1>
      <p>There is no page at this address. <a href="/workspaces">Go to your workspaces</a>.</p>
    </>
  );
}

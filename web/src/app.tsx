// The app: loads the session, then shows the login steps, or the shell with the page the
// path names. Focus moves to each new page's heading so keyboard and screen-reader users
// land on it.
import type { JSX } from 'preact';
import { useEffect } from 'preact/hooks';
import { refreshSession, session } from './api';
import { navigate, path } from './router';
import { AccountPage } from './pages/account';
import { ApiKeysPage } from './pages/apikeys';
import { AuditPage } from './pages/audit';
import { LoginPage } from './pages/login';
import { LogoutPage } from './pages/logout';
import { ConsentPage } from './pages/consent';
import { MembersPage } from './pages/members';
import { Shell } from './pages/shell';
import { WorkspacePage } from './pages/workspace';
import { WorkspacesPage } from './pages/workspaces';
import { HistoryPage } from './pages/history';
import { SecretsPage } from './pages/secrets';
import { SdkKeysPage } from './pages/sdkkeys';
import { FlagsPage } from './pages/flags';
import { SegmentsPage } from './pages/segments';
import { PickWorkspace } from './pages/wssection';
import { ChangeRequestsPage, NewPromotionPage } from './pages/changerequests';
import { ChangeRequestPage } from './pages/changerequest';
import { AiDraftPage } from './pages/ai';
import { WebhooksPage } from './pages/webhooks';
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
  // An MCP client's authorization request (docs/design/oauth.md): outside the shell.
  if (p === '/oauth/authorize') return <ConsentPage />;
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
  const section = wsSection(p);
  if (section) return section;
  return (
    <>
      <h1 tabIndex={-1} data-autofocus>Page not found</h1>
      <p>There is no page at this address. <a href="/workspaces">Go to your workspaces</a>.</p>
    </>
  );
}

// The per-workspace Flags, Segments, History, Secrets and SDK keys pages, and their menu entries (which ask
// for a workspace first).
const WS_SECTIONS: Record<string, { title: string; render: (wsKey: string) => JSX.Element }> = {
  flags: { title: 'Flags', render: (k) => <FlagsPage key={k} wsKey={k} /> },
  segments: { title: 'Segments', render: (k) => <SegmentsPage key={k} wsKey={k} /> },
  history: { title: 'History', render: (k) => <HistoryPage key={k} wsKey={k} /> },
  secrets: { title: 'Secrets', render: (k) => <SecretsPage key={k} wsKey={k} /> },
  'sdk-keys': { title: 'SDK keys', render: (k) => <SdkKeysPage key={k} wsKey={k} /> },
  'change-requests': { title: 'Change requests', render: (k) => <ChangeRequestsPage key={k} wsKey={k} /> },
  webhooks: { title: 'Webhooks', render: (k) => <WebhooksPage key={k} wsKey={k} /> },
};

function wsSection(p: string) {
  const cr = /^\/workspaces\/([^/]+)\/change-requests\/(new|draft|[1-9][0-9]{0,15})\/?$/.exec(p);
  if (cr) {
    try {
      const k = decodeURIComponent(cr[1]!);
      if (cr[2] === 'draft') return <AiDraftPage key={k} wsKey={k} />;
      return cr[2] === 'new' ? <NewPromotionPage key={k} wsKey={k} /> : <ChangeRequestPage key={`${k}/${cr[2]}`} wsKey={k} id={Number(cr[2])} />;
    } catch (e) {
      return <ErrorMessage message={messageOf(e)} />;
    }
  }
  const top = /^\/(flags|segments|history|secrets|sdk-keys|change-requests|webhooks)\/?$/.exec(p);
  if (top) return <PickWorkspace key={top[1]} slug={top[1]!} title={WS_SECTIONS[top[1]!]!.title} />;
  const m = /^\/workspaces\/([^/]+)\/(flags|segments|history|secrets|sdk-keys|change-requests|webhooks)\/?$/.exec(p);
  if (!m) return undefined;
  try {
    return WS_SECTIONS[m[2]!]!.render(decodeURIComponent(m[1]!));
  } catch (e) {
    return <ErrorMessage message={messageOf(e)} />;
  }
}

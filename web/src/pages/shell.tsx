// The signed-in frame: a skip link, the header with the user and "Sign out", and the
// navigation. Only Workspaces exists yet; the other sections are listed, marked "soon" and
// not links, so the navigation's shape is settled before their pages land.
import type { ComponentChildren } from 'preact';
import { session } from '../api';
import { linkClick, path } from '../router';

const SOON = ['Flags', 'Secrets', 'History', 'SDK keys', 'Members', 'Audit', 'Promotions', 'Insights'];

export function Shell({ children }: { children: ComponentChildren }) {
  const s = session.value;
  const onWorkspaces = path.value === '/' || path.value.startsWith('/workspaces');
  return (
    <div class="shell">
      <a class="skip" href="#main">Skip to content</a>
      <header class="topbar">
        <a class="brand" href="/workspaces" onClick={linkClick}>EdgeVault</a>
        <div class="who">
          <span>{s?.user?.display_name || s?.user?.email}</span>
          <a class="button" href="/logout" onClick={linkClick}>Sign out</a>
        </div>
      </header>
      <div class="frame">
        <nav aria-label="Main">
          <ul>
            <li>
              <a href="/workspaces" onClick={linkClick} aria-current={onWorkspaces ? 'page' : undefined}>Workspaces</a>
            </li>
            {SOON.map((name) => (
              <li key={name} class="soon">
                <span>{name}</span> <span class="badge">soon</span>
              </li>
            ))}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>{children}</main>
      </div>
    </div>
  );
}

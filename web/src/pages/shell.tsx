// The signed-in frame: a skip link, the header with the user, "Account" and "Sign out", and the
// navigation. Sections whose pages have not landed are listed, marked "soon" and not
// links, so the navigation's shape is settled before their pages land.
import type { ComponentChildren } from 'preact';
import { session } from '../api';
import { linkClick, path } from '../router';

const SOON = ['Flags', 'Secrets', 'History', 'SDK keys', 'Promotions', 'Insights'];

// The org's pages (issue 13): auth and the api decide what each role may see and do there.
const ORG_PAGES: [string, string][] = [['/members', 'Members'], ['/api-keys', 'API keys'], ['/audit', 'Audit']];

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
          <a href="/account" onClick={linkClick} aria-current={path.value === '/account' ? 'page' : undefined}>Account</a>
          <a class="button" href="/logout" onClick={linkClick}>Sign out</a>
        </div>
      </header>
      <div class="frame">
        <nav aria-label="Main">
          <ul>
            <li>
              <a href="/workspaces" onClick={linkClick} aria-current={onWorkspaces ? 'page' : undefined}>Workspaces</a>
            </li>
            {ORG_PAGES.map(([href, name]) => (
              <li key={href}>
                <a href={href} onClick={linkClick} aria-current={path.value === href ? 'page' : undefined}>{name}</a>
              </li>
            ))}
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

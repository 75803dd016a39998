// The signed-in frame: a skip link, the header with the user, "Account" and "Sign out", and
// the navigation. Sections not built yet are listed, marked "soon" and not links, so the
// navigation's shape is settled before their pages land.
import type { ComponentChildren } from 'preact';
import { leakWarnings, session } from '../api';
import { linkClick, path } from '../router';

const SOON = ['Insights'];

// The org's pages: auth and the api decide what each role may see and do there.
const ORG_PAGES: [string, string][] = [['/members', 'Members'], ['/api-keys', 'API keys'], ['/audit', 'Audit']];

// Per-workspace pages: inside a workspace the entry opens that workspace's page, elsewhere a
// list of workspaces to choose from.
const WS_PAGES = [
  { slug: 'flags', label: 'Flags' },
  { slug: 'segments', label: 'Segments' },
  { slug: 'history', label: 'History' },
  { slug: 'secrets', label: 'Secrets' },
  { slug: 'sdk-keys', label: 'SDK keys' },
  { slug: 'change-requests', label: 'Change requests' },
];

function wsPageLink(p: string, slug: string): { href: string; current: boolean } {
  const m = /^\/workspaces\/([^/]+)/.exec(p);
  const href = m ? `/workspaces/${m[1]}/${slug}` : `/${slug}`;
  return { href, current: p === href || p === `${href}/` || p === `/${slug}` };
}

export function Shell({ children }: { children: ComponentChildren }) {
  const s = session.value;
  const onWsPage = WS_PAGES.some((w) => wsPageLink(path.value, w.slug).current);
  const onWorkspaces = !onWsPage && (path.value === '/' || path.value.startsWith('/workspaces'));
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
            {WS_PAGES.map((w) => {
              const l = wsPageLink(path.value, w.slug);
              return (
                <li key={w.slug}>
                  <a href={l.href} onClick={linkClick} aria-current={l.current ? 'page' : undefined}>{w.label}</a>
                </li>
              );
            })}
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
        <main id="main" tabIndex={-1}>
          {leakWarnings.value.length > 0 && (
            <div class="warning" role="alert">
              <p>
                <strong>Saved, but this looks like a credential.</strong> Secrets belong in a secret (encrypted,
                reads recorded, never sent to the edge); move it with <code>edgevault config move-to-secret</code>,
                and rotate it if it was exposed.
              </p>
              <ul>
                {leakWarnings.value.map((w) => (
                  <li key={`${w.kind}:${w.key}:${w.pointer}:${w.finding}`}>
                    {w.kind} <code>{w.key}</code> at <code>{w.pointer || '/'}</code>: {w.description}
                  </li>
                ))}
              </ul>
              <button type="button" onClick={() => { leakWarnings.value = []; }}>Dismiss</button>
            </div>
          )}
          {children}
        </main>
      </div>
    </div>
  );
}

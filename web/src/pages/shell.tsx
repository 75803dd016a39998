// The signed-in frame: a skip link, the header with the user and "Sign out", and the
// navigation. Sections of a workspace (Flags, Segments) link to the open workspace's page and
// say so when none is open; sections not built yet are listed, marked "soon" and not links.
import type { ComponentChildren } from 'preact';
import { session } from '../api';
import { linkClick, path } from '../router';

const SOON = ['Secrets', 'History', 'SDK keys', 'Members', 'Audit', 'Promotions', 'Insights'];

export function Shell({ children }: { children: ComponentChildren }) {
  const s = session.value;
  const onWorkspaces = path.value === '/' || /^\/workspaces(\/[^/]+)?\/?$/.test(path.value);
  const ws = /^\/workspaces\/([^/]+)/.exec(path.value)?.[1];
  const section = (name: string, slug: string) => {
    const href = ws ? `/workspaces/${ws}/${slug}` : undefined;
    return (
      <li key={slug}>
        {href
          ? <a href={href} onClick={linkClick} aria-current={path.value.startsWith(href) ? 'page' : undefined}>{name}</a>
          : <span class="muted">{name} <span class="hint">(open a workspace)</span></span>}
      </li>
    );
  };
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
            {section('Flags', 'flags')}
            {section('Segments', 'segments')}
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

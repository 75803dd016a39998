// Pieces shared by the per-workspace pages (Flags, Segments, History, Secrets, SDK keys): the links between a
// workspace's pages, the page that asks which workspace when the menu is used outside one,
// and the org's members and API keys that turn actor ids into names.
import { bff, enc, type Workspace } from '../api';
import type { ApiKeyMeta, Member } from '../history';
import { linkClick, path } from '../router';
import { ErrorMessage, Loading, useResource } from '../ui';
import { ReviewBadge } from './changerequests';

export const SECTIONS = [
  { slug: '', label: 'Overview' },
  { slug: 'flags', label: 'Flags' },
  { slug: 'segments', label: 'Segments' },
  { slug: 'history', label: 'History' },
  { slug: 'secrets', label: 'Secrets' },
  { slug: 'sdk-keys', label: 'SDK keys' },
  { slug: 'change-requests', label: 'Change requests' },
  { slug: 'webhooks', label: 'Webhooks' },
] as const;

export function wsPath(wsKey: string, slug: string): string {
  return `/workspaces/${enc(wsKey)}${slug ? `/${slug}` : ''}`;
}

export function WsHeader({ wsKey, title }: { wsKey: string; title: string }) {
  return (
    <>
      <p class="crumbs">
        <a href="/workspaces" onClick={linkClick}>Workspaces</a> / <a href={wsPath(wsKey, '')} onClick={linkClick}><code>{wsKey}</code></a>
      </p>
      <h1 tabIndex={-1} data-autofocus>{title}</h1>
      <nav aria-label="Workspace sections" class="tabs">
        <ul>
          {SECTIONS.map((s) => {
            const to = wsPath(wsKey, s.slug);
            return (
              <li key={s.slug}>
                <a href={to} onClick={linkClick} aria-current={path.value === to ? 'page' : undefined}>
                  {s.label}{s.slug === 'change-requests' && <ReviewBadge wsKey={wsKey} />}
                </a>
              </li>
            );
          })}
        </ul>
      </nav>
    </>
  );
}

// "/history" etc. without a workspace: pick one.
export function PickWorkspace({ slug, title }: { slug: string; title: string }) {
  const [res, reload] = useResource(
    () => bff<{ workspaces: Workspace[] }>('GET', '/bff/api/workspaces').then((r) => r.workspaces ?? []), []);
  return (
    <>
      <h1 tabIndex={-1} data-autofocus>{title}</h1>
      <p>Choose a workspace.</p>
      {res.state === 'loading' && !res.data && <Loading what="workspaces" />}
      {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
      {res.data && res.data.length === 0 && <p class="empty">No workspaces yet. <a href="/workspaces" onClick={linkClick}>Create one</a>.</p>}
      {res.data && res.data.length > 0 && (
        <ul class="cards">
          {res.data.map((ws) => (
            <li key={ws.id}>
              <a href={wsPath(ws.key, slug)} onClick={linkClick}>{ws.name}</a> <span class="muted"><code>{ws.key}</code></span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}

export interface People { members: Member[]; keys: ApiKeyMeta[] }

// The org's members and (as far as the user may list them) API keys. A failure leaves the
// lists empty: actors are then shown by id rather than hiding the page.
export async function loadPeople(): Promise<People> {
  const [m, k] = await Promise.all([
    bff<{ members?: Member[] }>('GET', '/bff/auth/members').catch(() => ({ members: [] as Member[] })),
    bff<{ api_keys?: ApiKeyMeta[] }>('GET', '/bff/auth/api-keys').catch(() => ({ api_keys: [] as ApiKeyMeta[] })),
  ]);
  return { members: m.members ?? [], keys: k.api_keys ?? [] };
}

export function formatTime(t: string | null | undefined): string {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

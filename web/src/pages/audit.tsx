// Audit: the org's audit events (GET /bff/api/audit/events, admins and owners), newest
// first, filtered by actor, action, workspace and time, a page at a time. Member ids are
// shown with their email when the member list names them.
import { useState } from 'preact/hooks';
import { bff, type Workspace } from '../api';
import { ErrorMessage, Field, Loading, useResource } from '../ui';

interface AuditEvent {
  id: string;
  time: string;
  service: string;
  actor: { id: string; address?: string; user_agent?: string };
  action: string;
  workspace?: string;
  environment?: string;
  target?: string;
  outcome: string;
  details?: Record<string, unknown>;
}
interface Page { events: AuditEvent[]; next_cursor: string | null }
interface Filters { actor: string; action: string; workspace: string; since: string; until: string }

const EMPTY: Filters = { actor: '', action: '', workspace: '', since: '', until: '' };
const PAGE_SIZE = 50;

// datetime-local values are local times; the api wants RFC 3339.
function isoOf(local: string): string | undefined {
  if (!local) return undefined;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function queryOf(f: Filters, cursor: string | undefined): string {
  const q = new URLSearchParams();
  if (f.actor.trim()) q.set('actor', f.actor.trim());
  if (f.action.trim()) q.set('action', f.action.trim());
  if (f.workspace) q.set('workspace', f.workspace);
  const since = isoOf(f.since);
  const until = isoOf(f.until);
  if (since) q.set('since', since);
  if (until) q.set('until', until);
  q.set('limit', String(PAGE_SIZE));
  if (cursor) q.set('cursor', cursor);
  return q.toString();
}

export function AuditPage() {
  const [draft, setDraft] = useState<Filters>(EMPTY);
  const [applied, setApplied] = useState<Filters>(EMPTY);
  // The cursors of the pages before this one (for "Newer"), and this page's cursor.
  const [trail, setTrail] = useState<(string | undefined)[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [res, reload] = useResource(
    () => bff<Page>('GET', `/bff/api/audit/events?${queryOf(applied, cursor)}`), [applied, cursor]);
  const [names] = useResource(() => Promise.all([
    bff<{ members: { user_id: string; email: string }[] }>('GET', '/bff/auth/members')
      .then((r) => new Map((r.members ?? []).map((m) => [`user:${m.user_id}`, m.email])), () => new Map<string, string>()),
    bff<{ workspaces: Workspace[] }>('GET', '/bff/api/workspaces').then((r) => r.workspaces ?? [], () => [] as Workspace[]),
  ]), []);
  const emails = names.data?.[0] ?? new Map<string, string>();
  const workspaces = names.data?.[1] ?? [];
  const wsName = (id?: string) => (id ? workspaces.find((w) => w.id === id)?.key ?? id : '');

  const apply = (e: Event) => {
    e.preventDefault();
    setTrail([]);
    setCursor(undefined);
    setApplied({ ...draft });
  };
  const clear = () => {
    setDraft(EMPTY);
    setTrail([]);
    setCursor(undefined);
    setApplied(EMPTY);
  };
  const set = (k: keyof Filters) => (e: Event) => setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });

  return (
    <>
      <h1 tabIndex={-1} data-autofocus>Audit</h1>
      <p class="muted">Everything recorded for this org: sign-ins, member and key changes, and workspace changes.
        Admins and owners only.</p>
      <form onSubmit={apply} aria-label="Filter audit events">
        <div class="filters">
          <Field id="audit-actor" label="Actor" hint="e.g. user:usr_… or key:…">
            <input id="audit-actor" maxLength={200} value={draft.actor} aria-describedby="audit-actor-hint" onInput={set('actor')} />
          </Field>
          <Field id="audit-action" label="Action" hint="e.g. auth.login, or auth.* for a prefix">
            <input id="audit-action" maxLength={128} value={draft.action} aria-describedby="audit-action-hint" onInput={set('action')} />
          </Field>
          <Field id="audit-workspace" label="Workspace">
            <select id="audit-workspace" value={draft.workspace} onChange={set('workspace')}>
              <option value="">any</option>
              {workspaces.map((w) => <option key={w.id} value={w.id}>{w.key}</option>)}
            </select>
          </Field>
          <Field id="audit-since" label="From">
            <input id="audit-since" type="datetime-local" value={draft.since} onInput={set('since')} />
          </Field>
          <Field id="audit-until" label="Until">
            <input id="audit-until" type="datetime-local" value={draft.until} onInput={set('until')} />
          </Field>
        </div>
        <div class="actions">
          <button type="submit" class="primary">Apply filters</button>
          <button type="button" onClick={clear}>Clear</button>
        </div>
      </form>
      <section aria-labelledby="audit-events-h">
        <h2 id="audit-events-h">Events</h2>
        {res.state === 'loading' && !res.data && <Loading what="audit events" />}
        {res.state === 'error' && <ErrorMessage message={res.error} retry={reload} />}
        {res.data && res.data.events.length === 0 && <p class="empty">No events match.</p>}
        {res.data && res.data.events.length > 0 && (
          <div class="table-wrap">
            <table class="list audit" aria-label="Audit events, newest first">
              <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Actor</th><th scope="col">Action</th><th scope="col">Outcome</th><th scope="col">Workspace</th><th scope="col">Target</th><th scope="col">Address</th></tr></thead>
              <tbody>
                {res.data.events.map((e) => (
                  <tr key={e.id} data-action={e.action}>
                    <td>{e.time}</td>
                    <td>{emails.get(e.actor.id) ?? e.actor.id}</td>
                    <td><code>{e.action}</code></td>
                    <td>{e.outcome}</td>
                    <td>{wsName(e.workspace)}{e.environment ? ` / ${e.environment}` : ''}</td>
                    <td>{e.target ?? ''}</td>
                    <td>{e.actor.address ?? ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <nav class="actions" aria-label="Audit pages">
          <button type="button" disabled={trail.length === 0} onClick={() => {
            const t = trail.slice();
            const prev = t.pop();
            setTrail(t);
            setCursor(prev);
          }}>Newer</button>
          <button type="button" disabled={!res.data?.next_cursor} onClick={() => {
            setTrail([...trail, cursor]);
            setCursor(res.data?.next_cursor ?? undefined);
          }}>Older</button>
        </nav>
      </section>
    </>
  );
}

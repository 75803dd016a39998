// The change request pages' pure helpers: how many open requests a user could review (the
// navigation's badge), "x of y" approvals, and a request's changes grouped per target
// environment as before/after text. A secret change is only ever described by where its
// value comes from; the api never sends a secret value and this module never shows one.
// No imports beyond types: web/test/crmodel.test.mjs loads this file alone.

// A promotion's or revert's secret names where its value comes from; a proposed secret
// value (type "change") is sealed inside the api and only flagged as proposed.
export interface CrSource { environment?: string; version?: number; before_revision?: number; proposed?: boolean }
export interface CrChange {
  kind: string;
  key: string;
  environment: string;  // "" for a change of the whole item (a `body` or `delete` entry)
  expected_revision?: number;
  before?: unknown;
  after?: unknown;
  source?: CrSource;
  remove?: boolean;
  delete?: boolean;
  value?: unknown;  // a proposed secret: `{sealed: …}` or null (removed), never a plaintext
}
export interface CrReview { round: number; actor: string; decision: string; time?: string; comment?: string }
export interface CrComment { id: number; actor: string; text: string; time?: string }
export interface ChangeRequest {
  id: number;
  title: string;
  description?: string;
  author: string;
  state: string;
  state_reason?: string;
  base_revision?: number;
  round?: number;
  created_at?: string;
  updated_at?: string;
  applied_revision?: number;
  type?: string;
  request?: { from?: string; to?: string; revert_of?: number };
  apply_at?: string;
  scheduled_by?: string;
  environments?: string[];
  changes?: CrChange[];
  approvals?: string[];
  required_approvals?: number;
  reviews?: CrReview[];
  comments?: CrComment[];
}

// Open requests someone other than `userId` (a session's user id, "usr_…") authored: the
// ones they could be asked to review.
export function reviewableCount(list: ChangeRequest[], userId: string | undefined): number {
  const me = userId ? `user:${userId}` : undefined;
  return list.filter((cr) => cr.state === 'open' && cr.author !== me).length;
}

export function approvalsLabel(cr: ChangeRequest): string {
  return `${cr.approvals?.length ?? 0} of ${cr.required_approvals ?? 0}`;
}

const STATES: Record<string, string> = {
  open: 'Open',
  approved: 'Approved',
  scheduled: 'Scheduled',
  applied: 'Applied',
  rejected: 'Rejected',
  closed: 'Closed',
  failed: 'Failed',
};

export function stateLabel(state: string): string {
  return STATES[state] ?? state;
}

// Key-sorted JSON, so two equal objects print the same.
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function shown(kind: string, v: unknown): string {
  if (v === undefined || v === null) return kind === 'flag' ? '(not configured)' : '(no value)';
  if (typeof v === 'string') return JSON.stringify(v);
  return stable(v);
}

export interface DiffRow { kind: string; key: string; before: string; after: string }
export interface DiffGroup { environment: string; rows: DiffRow[] }

const SEALED = 'new value (sealed, never shown)';

function secretAfter(c: CrChange): string {
  if (c.remove || c.value === null) return '(no value)';
  if (c.source?.environment) {
    return c.source.before_revision
      ? `value from ${c.source.environment} as it was before revision ${c.source.before_revision}`
      : `value from ${c.source.environment}`;
  }
  // A proposed value (or anything else the api describes without a source): never shown.
  return SEALED;
}

// A change of the whole item: its body before and after, created or deleted.
function wholeItemRow(c: CrChange): DiffRow {
  const deleted = c.delete === true || c.remove === true;
  const before = c.kind === 'secret' ? '(not shown)' : c.before === undefined || c.before === null ? '(does not exist)' : stable(c.before);
  let after: string;
  if (deleted) after = '(deleted)';
  else if (c.kind === 'secret') after = SEALED;
  else after = c.after === undefined || c.after === null ? '(deleted)' : stable(c.after);
  return { kind: c.kind, key: c.key, before, after };
}

// One row per change, grouped per target environment in the order they first appear; the
// changes of whole items (environment "") form their own group.
export function diffGroups(changes: CrChange[] | undefined): DiffGroup[] {
  const groups: DiffGroup[] = [];
  for (const c of changes ?? []) {
    const environment = c.environment ?? '';
    let g = groups.find((x) => x.environment === environment);
    if (!g) {
      g = { environment, rows: [] };
      groups.push(g);
    }
    if (environment === '') {
      g.rows.push(wholeItemRow(c));
    } else if (c.kind === 'secret') {
      g.rows.push({ kind: c.kind, key: c.key, before: '(not shown)', after: secretAfter(c) });
    } else {
      g.rows.push({ kind: c.kind, key: c.key, before: shown(c.kind, c.before), after: shown(c.kind, c.after) });
    }
  }
  return groups;
}

const TYPES: Record<string, string> = { promotion: 'Promotion', change: 'Change', revert: 'Revert' };

// "Promotion", "Change" (proposed directly) or "Revert"; a request without a type is a promotion.
export function typeLabel(cr: ChangeRequest): string {
  const t = cr.type ?? 'promotion';
  return TYPES[t] ?? t;
}

// --- Proposing a change (POST /change-requests, docs/design/promotions.md §2b) ---

export type ItemKind = 'config' | 'flag' | 'segment' | 'secret';
export type ChangeEntry =
  | { kind: 'config'; key: string; environment: string; value: unknown }
  | { kind: 'flag'; key: string; environment: string; configuration: unknown }
  | { kind: 'secret'; key: string; environment: string; value: string | null }
  | { kind: 'config' | 'flag' | 'segment'; key: string; body: Record<string, unknown> }
  | { kind: ItemKind; key: string; delete: true };
export interface ChangeProposal { title: string; description?: string; changes: ChangeEntry[]; dry_run?: boolean }

// The entries for saving `after` (an item PUT body) over `before` (the item's body as
// stored, without metadata; undefined for a new item): one per-environment entry when only
// one environment's value (config) or configuration (flag) differs and nothing shared does,
// else the whole body. `reason` is a write's field, not the item's: it is left out.
export function itemEntries(kind: 'config' | 'flag' | 'segment', key: string,
  before: Record<string, unknown> | undefined, after: Record<string, unknown>): ChangeEntry[] {
  const { reason: _reason, ...body } = after;
  if (before && kind !== 'segment') {
    const field = kind === 'config' ? 'values' : 'environments';
    const { [field]: beforeEnvs, reason: _r, ...beforeShared } = before;
    const { [field]: afterEnvs, ...afterShared } = body;
    if (stable(beforeShared) === stable(afterShared)) {
      const b = (beforeEnvs ?? {}) as Record<string, unknown>;
      const a = (afterEnvs ?? {}) as Record<string, unknown>;
      const changed = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter((e) => stable(b[e]) !== stable(a[e]));
      if (changed.length === 1) {
        const environment = changed[0]!;
        const v = Object.prototype.hasOwnProperty.call(a, environment) ? a[environment] : null;
        return [kind === 'config'
          ? { kind, key, environment, value: v ?? null }
          : { kind, key, environment, configuration: v ?? null }];
      }
    }
  }
  return [{ kind, key, body }];
}

// The pre-filled title of a proposal, e.g. `Update config "db.pool" in prod`.
export function proposalTitle(entries: ChangeEntry[], created = false): string {
  if (entries.length !== 1) return `Change ${entries.length} items`;
  const e = entries[0]!;
  const what = `${e.kind} "${e.key}"`;
  if ('delete' in e) return `Delete ${what}`;
  if ('body' in e) return `${created ? 'Create' : 'Update'} ${what}`;
  if (e.kind === 'secret') return `${e.value === null ? 'Remove' : 'Set'} ${what} in ${e.environment}`;
  const v = 'value' in e ? e.value : e.configuration;
  return v === null ? `Remove ${what} in ${e.environment}` : `Update ${what} in ${e.environment}`;
}

// --- Scheduling (POST …/schedule {apply_at}) ---

const pad = (n: number) => String(n).padStart(2, '0');

// A datetime-local input's value (the browser's local time) as RFC 3339 UTC without
// fractions, e.g. 2026-03-04T05:06:07Z; undefined when it is not a time.
export function localInputToUtc(value: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(value)) return undefined;
  const d = new Date(value);  // a date-time without an offset is local time
  if (Number.isNaN(d.getTime())) return undefined;
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// A time as a datetime-local input's value (local time, to the second).
export function toLocalInput(d: Date): string {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// An RFC 3339 time as UTC text, e.g. "2026-03-04 05:06:07 UTC"; the input when unparseable.
export function formatUtc(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

// The body of POST /promotions from the form's fields; `items` is what the user typed
// ("kind:key" or "key", separated by commas, spaces or new lines).
export function promotionBody(f: {
  from: string; to: string; kinds: string[]; items: string; title: string; description: string; dryRun: boolean;
}): Record<string, unknown> {
  const body: Record<string, unknown> = { from: f.from, to: f.to, title: f.title.trim() };
  if (f.description.trim()) body.description = f.description.trim();
  if (f.kinds.length > 0 && f.kinds.length < 3) body.kinds = f.kinds;
  const items = f.items.split(/[\s,]+/).filter(Boolean).map((t) => {
    const m = /^(config|flag|secret):(.+)$/.exec(t);
    return m ? { kind: m[1]!, key: m[2]! } : { key: t };
  });
  if (items.length > 0) body.items = items;
  if (f.dryRun) body.dry_run = true;
  return body;
}

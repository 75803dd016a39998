// The change request pages' pure helpers: how many open requests a user could review (the
// navigation's badge), "x of y" approvals, and a request's changes grouped per target
// environment as before/after text. A secret change is only ever described by where its
// value comes from; the api never sends a secret value and this module never shows one.
// No imports beyond types: web/test/crmodel.test.mjs loads this file alone.

export interface CrSource { environment: string; version?: number; before_revision?: number }
export interface CrChange {
  kind: string;
  key: string;
  environment: string;
  expected_revision?: number;
  before?: unknown;
  after?: unknown;
  source?: CrSource;
  remove?: boolean;
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

// One row per change, grouped per target environment in the order they first appear.
export function diffGroups(changes: CrChange[] | undefined): DiffGroup[] {
  const groups: DiffGroup[] = [];
  for (const c of changes ?? []) {
    let g = groups.find((x) => x.environment === c.environment);
    if (!g) {
      g = { environment: c.environment, rows: [] };
      groups.push(g);
    }
    if (c.kind === 'secret') {
      let after = '(no value)';
      if (!c.remove && c.source) {
        after = c.source.before_revision
          ? `value from ${c.source.environment} as it was before revision ${c.source.before_revision}`
          : `value from ${c.source.environment}`;
      }
      g.rows.push({ kind: c.kind, key: c.key, before: '(not shown)', after });
    } else {
      g.rows.push({ kind: c.kind, key: c.key, before: shown(c.kind, c.before), after: shown(c.kind, c.after) });
    }
  }
  return groups;
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

// Pure helpers for the History, Secrets and SDK keys pages: who an actor id is, and what a
// revision (or a planned revert or rollback) changes in each environment's resolved values.
// Computed from what GET /v1/workspaces/{ws}/revisions gives: every revision carries the
// item's whole state before and after (secrets: which environments have a value and its
// version, never the value), so the value an environment serves follows by inheritance.
// No I/O.
import type { Environment } from './api';

export interface Revision {
  seq: number;
  time: string;
  actor: string;
  reason: string;
  op: string;
  kind: string;
  key: string;
  environment: string | null;
  before: unknown;
  after: unknown;
}

export interface Member { user_id: string; email: string; display_name?: string }
export interface ApiKeyMeta { id: string; name?: string; prefix?: string }

// "user:<id>" → the member's display name (or e-mail); "key:<id>" → "API key <name>
// (<prefix>)"; anything unknown → the id itself, so nothing is hidden.
export function actorName(actor: string, members: Member[], keys: ApiKeyMeta[]): string {
  if (actor.startsWith('user:')) {
    const id = actor.slice(5);
    const m = members.find((x) => x.user_id === id);
    if (m) return m.display_name ? `${m.display_name} (${m.email})` : m.email;
    return actor;
  }
  if (actor.startsWith('key:')) {
    const id = actor.slice(4);
    const k = keys.find((x) => x.id === id);
    if (k) {
      const label = k.name || k.prefix || id;
      return k.prefix && k.name ? `API key ${label} (${k.prefix}…)` : `API key ${label}`;
    }
    return `API key ${id}`;
  }
  return actor;
}

export type Served =
  | { kind: 'absent' }                       // the item does not exist or serves nothing here
  | { kind: 'value'; value: unknown }         // configs, flags, segments: the served state
  | { kind: 'secret'; version: unknown; from: string };  // secrets: only where it comes from

export interface EnvChange { environment: string; before: Served; after: Served }

function obj(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

// The nearest environment from `env` up its parents that `has` a value.
export function source(env: string, envs: Environment[], has: (e: string) => boolean): string | undefined {
  const byKey = new Map(envs.map((e) => [e.key, e]));
  const seen = new Set<string>();
  let at: string | undefined = env;
  while (at && !seen.has(at)) {
    seen.add(at);
    if (has(at)) return at;
    at = byKey.get(at)?.parent ?? undefined;
  }
  return undefined;
}

// What `env` serves of an item of `kind` whose whole state is `body` (null: absent).
export function served(kind: string, body: unknown, env: string, envs: Environment[]): Served {
  const b = obj(body);
  if (!b) return { kind: 'absent' };
  if (kind === 'segment') return { kind: 'value', value: body };
  const field = kind === 'flag' ? 'environments' : 'values';
  const per = obj(b[field]) ?? {};
  const from = source(env, envs, (e) => Object.prototype.hasOwnProperty.call(per, e));
  if (from === undefined) return { kind: 'absent' };
  if (kind === 'secret') return { kind: 'secret', version: obj(per[from])?.version ?? null, from };
  if (kind === 'flag') return { kind: 'value', value: { variations: b.variations ?? null, ...(obj(per[from]) ?? {}) } };
  return { kind: 'value', value: per[from] };
}

function same(a: Served, b: Served): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'absent') return true;
  if (a.kind === 'secret' && b.kind === 'secret') return a.from === b.from && stable(a.version) === stable(b.version);
  return stable((a as { value: unknown }).value) === stable((b as { value: unknown }).value);
}

// JSON with sorted object keys, so two equal documents compare equal.
export function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  const o = obj(v);
  if (o) return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${stable(o[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

// Every environment whose served state of the item differs between `before` and `after`,
// in the order of `envs`.
export function envChanges(kind: string, before: unknown, after: unknown, envs: Environment[]): EnvChange[] {
  if (kind === 'environment') return [];
  const out: EnvChange[] = [];
  for (const env of envs) {
    const b = served(kind, before, env.key, envs);
    const a = served(kind, after, env.key, envs);
    if (!same(b, a)) out.push({ environment: env.key, before: b, after: a });
  }
  return out;
}

export interface ItemChange { kind: string; key: string; changes: EnvChange[]; before: unknown; after: unknown }

const itemId = (kind: string, key: string) => `${kind}\u0000${key}`;

// The state of every item after revision `upTo` (all revisions when undefined), from the
// ascending list of revisions.
export function statesAt(revisions: Revision[], upTo?: number): Map<string, { kind: string; key: string; body: unknown }> {
  const m = new Map<string, { kind: string; key: string; body: unknown }>();
  for (const r of revisions) {
    if (upTo !== undefined && r.seq > upTo) break;
    m.set(itemId(r.kind, r.key), { kind: r.kind, key: r.key, body: r.after ?? null });
  }
  return m;
}

// What reverting revision `rev` changes now: its item goes back to `rev.before`.
export function revertPreview(rev: Revision, revisions: Revision[], envs: Environment[]): ItemChange {
  const now = statesAt(revisions).get(itemId(rev.kind, rev.key))?.body ?? null;
  const b = obj(rev.before), a = obj(rev.after), cur = obj(now);
  if (rev.kind === 'environment' && b && cur) {
    // As the api does: only the settings that revision changed go back.
    const restored: Record<string, unknown> = { ...cur };
    for (const k of new Set([...Object.keys(b), ...Object.keys(a ?? {})])) {
      if (stable(b[k]) === stable(a?.[k])) continue;
      if (k in b) restored[k] = b[k];
      else delete restored[k];
    }
    return { kind: rev.kind, key: rev.key, before: now, after: restored, changes: [] };
  }
  return { kind: rev.kind, key: rev.key, before: now, after: rev.before ?? null,
    changes: envChanges(rev.kind, now, rev.before ?? null, envs) };
}

// What rolling back to `to` changes now: every item goes back to its state after revision
// `to`; an environment gets its name and protection back only if it existed then (one created
// since is kept, as the api does).
export function rollbackPreview(to: number, revisions: Revision[], envs: Environment[]): ItemChange[] {
  const now = statesAt(revisions);
  const then = statesAt(revisions, to);
  const out: ItemChange[] = [];
  for (const [id, cur] of now) {
    const old = then.get(id)?.body ?? null;
    if (cur.kind === 'environment' && (old === null || cur.body === null)) continue;
    if (stable(old) === stable(cur.body)) continue;
    out.push({ kind: cur.kind, key: cur.key, before: cur.body, after: old,
      changes: envChanges(cur.kind, cur.body, old, envs) });
  }
  return out.sort((a, b) => a.kind.localeCompare(b.kind) || a.key.localeCompare(b.key));
}

// What an environment revision changed, one line per setting: `name: "A" → "B"`,
// `protected: no → yes`; a creation is `created`.
export function environmentChanges(before: unknown, after: unknown): string[] {
  const b = obj(before), a = obj(after);
  if (!a) return b ? ['removed'] : [];
  if (!b) return ['created'];
  const out: string[] = [];
  if (b.name !== a.name) out.push(`name: ${JSON.stringify(b.name ?? null)} → ${JSON.stringify(a.name ?? null)}`);
  if (!!b.protected !== !!a.protected) out.push(`protected: ${b.protected ? 'yes' : 'no'} → ${a.protected ? 'yes' : 'no'}`);
  if ((b.parent ?? null) !== (a.parent ?? null)) out.push(`parent: ${JSON.stringify(b.parent ?? null)} → ${JSON.stringify(a.parent ?? null)}`);
  return out;
}

// One served state as text for a diff cell. A secret never shows a value: only whether
// there is one, its version, and where it comes from.
export function describeServed(s: Served, env: string): string {
  if (s.kind === 'absent') return 'not set';
  if (s.kind === 'secret') {
    const v = s.version === null || s.version === undefined ? '' : ` (version ${stable(s.version)})`;
    return s.from === env ? `a value${v}` : `inherited from ${s.from}${v}`;
  }
  return typeof s.value === 'string' ? s.value : stable(s.value);
}

// The only way the app talks to a server: same-origin `/bff/...` requests. The browser sends
// the session cookie and its own Origin; state-changing requests add the session's
// X-CSRF-Token (docs/design/console.md, "CSRF and hardening").
import { signal } from '@preact/signals';
import type { ChangeProposal, ChangeRequest } from './crmodel';

export interface User { id: string; email: string; display_name?: string }
export interface Session {
  user: User;
  org_id: string;
  role: string;
  auth_methods?: string; // how this session signed in: "pwd", "pwd+totp", "passkey"
  must_change_password?: boolean;
  mfa?: string[];
  csrf_token: string;
}

// undefined: not known yet; null: nobody is logged in.
export const session = signal<Session | null | undefined>(undefined);

// A write the api let through under a "warn" secret-leak policy (docs/secret-scanning.md):
// the findings of the last such save (item, pointer, kind; never a value), shown by the shell
// until dismissed or the next save.
export interface LeakWarning { kind: string; key: string; pointer: string; finding: string; description: string }
export const leakWarnings = signal<LeakWarning[]>([]);

export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

async function parse(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorOf(status: number, body: unknown): ApiError {
  const e = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const code = typeof e?.code === 'string' ? e.code : `http_${status}`;
  const message = typeof e?.message === 'string' && e.message
    ? e.message
    : `The console answered ${status}; try again, or reload the page.`;
  return new ApiError(status, code, message);
}

async function send(method: string, path: string, body: unknown, extra?: Record<string, string>): Promise<Response> {
  const headers: Record<string, string> = { ...extra, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = session.value?.csrf_token;
  if (method !== 'GET' && token) headers['x-csrf-token'] = token;
  return fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
}

// GETs `path` (under /bff/) as text, for a file to save: its bytes, the file name the api
// suggests (Content-Disposition) and its type; an error answer throws an ApiError.
export async function bffFile(path: string): Promise<{ text: string; filename: string; type: string }> {
  let res: Response;
  try {
    res = await fetch(path, { credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'network', 'The console cannot be reached; check your connection and try again.');
  }
  const text = await res.text();
  if (!res.ok) {
    if (res.status === 401) session.value = null;
    let body: unknown;
    try { body = JSON.parse(text); } catch { body = undefined; }
    throw errorOf(res.status, body);
  }
  const m = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '');
  return { text, filename: m?.[1] ?? 'download', type: res.headers.get('content-type') ?? 'application/octet-stream' };
}

// Calls `path` (under /bff/) and answers its JSON body, or throws an ApiError.
// A 401 outside the login routes means the session ended: the app shows the login page.
// A CSRF refusal after a console restart (a new CSRF key) is retried once with a fresh token.
// `headers` adds request headers (e.g. If-Match for a conditional write).
export async function bff<T>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  let res: Response;
  try {
    res = await send(method, path, body, headers);
  } catch {
    throw new ApiError(0, 'network', 'The console cannot be reached; check your connection and try again.');
  }
  let json = await parse(res);
  if (res.status === 403 && method !== 'GET' && (json as { error?: { code?: string } })?.error?.code === 'csrf') {
    if (await refreshSession()) {
      res = await send(method, path, body, headers);
      json = await parse(res);
    }
  }
  if (!res.ok) {
    if (res.status === 401 && !path.startsWith('/bff/v1/login')) session.value = null;
    throw errorOf(res.status, json);
  }
  if (method !== 'GET') {
    const w = (json as { warnings?: unknown } | undefined)?.warnings;
    leakWarnings.value = Array.isArray(w)
      ? (w as LeakWarning[]).filter((x) => x && typeof x.key === 'string' && typeof x.pointer === 'string')
      : [];
  }
  return json as T;
}

// Loads the session document; answers whether someone is logged in. Other failures throw.
export async function refreshSession(): Promise<boolean> {
  const res = await fetch('/bff/v1/session', { credentials: 'same-origin', cache: 'no-store' });
  const json = await parse(res);
  if (res.status === 401) {
    session.value = null;
    return false;
  }
  if (!res.ok) throw errorOf(res.status, json);
  session.value = json as Session;
  return true;
}

export const enc = encodeURIComponent;

// --- The api's shapes behind /bff/api/ (docs/api.md) ---

export interface Workspace {
  id: string;
  key: string;
  name: string;
  created_at?: string;
  // Set while the workspace is deleted (listed only with ?include_deleted=true, to admins).
  deleted_at?: string;
  purge_after?: string;
}
export interface Environment {
  key: string;
  name: string;
  parent?: string | null;
  protected?: boolean;
  revision?: number;
  // Change policy (docs/design/promotions.md §4); absent when the environment has none.
  policy?: EnvPolicy;
}
export interface EnvPolicy { required_approvals?: number; approver_roles?: string[]; change_requests_required?: boolean }
export interface WorkspaceDetail extends Workspace { revision: number; environments: Environment[] }
export type ConfigType = 'string' | 'integer' | 'number' | 'boolean' | 'json';
export interface ConfigItem {
  key: string;
  type: ConfigType;
  description?: string;
  schema?: unknown;
  values?: Record<string, unknown>;
  revision?: number;
}

// --- Change requests proposed from the editors, and their schedule (docs/design/promotions.md
// §2b, §5a). Every page reaches these routes only through the helpers below, so a change of
// the api's contract is a change here.

// True when the api refused a direct write because an environment it touches takes changes
// only through change requests (its policy): the editors then offer to propose the edit.
export function changeRequestRequired(e: unknown): e is ApiError {
  return e instanceof ApiError && e.code === 'change_request_required';
}

// Opens a change request (type "change") with the proposal's entries; answers the request.
export function proposeChange(wsKey: string, proposal: ChangeProposal): Promise<ChangeRequest> {
  return bff<ChangeRequest>('POST', `/bff/api/workspaces/${enc(wsKey)}/change-requests`, proposal);
}

const crPath = (wsKey: string, id: number) => `/bff/api/workspaces/${enc(wsKey)}/change-requests/${id}`;

// Schedules an approved request at `applyAt` (RFC 3339 UTC), or moves its time.
export function scheduleChangeRequest(wsKey: string, id: number, applyAt: string): Promise<ChangeRequest> {
  return bff<ChangeRequest>('POST', `${crPath(wsKey, id)}/schedule`, { apply_at: applyAt });
}

// Returns a scheduled request to approved.
export function unscheduleChangeRequest(wsKey: string, id: number): Promise<ChangeRequest> {
  return bff<ChangeRequest>('POST', `${crPath(wsKey, id)}/unschedule`);
}

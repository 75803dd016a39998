// Pure helpers over the api's documents: the environments' inheritance tree and where each
// config value comes from. No I/O.
import type { ConfigItem, ConfigType, Environment } from './api';

export interface EnvNode { env: Environment; children: EnvNode[] }

// Roots first, children sorted by key; an environment whose parent is unknown is a root, so
// nothing disappears from view if the document is inconsistent.
export function envTree(envs: Environment[]): EnvNode[] {
  const nodes = new Map<string, EnvNode>();
  for (const env of envs) nodes.set(env.key, { env, children: [] });
  const roots: EnvNode[] = [];
  for (const node of [...nodes.values()].sort((a, b) => a.env.key.localeCompare(b.env.key))) {
    const parent = node.env.parent ? nodes.get(node.env.parent) : undefined;
    if (parent && parent !== node) parent.children.push(node);
    else roots.push(node);
  }
  return roots;
}

// Environments in tree order (parents before children): the configs table's columns.
export function envOrder(envs: Environment[]): Environment[] {
  const out: Environment[] = [];
  const walk = (n: EnvNode) => {
    out.push(n.env);
    n.children.forEach(walk);
  };
  envTree(envs).forEach(walk);
  return out;
}

export type Effective =
  | { kind: 'set'; value: unknown }
  | { kind: 'inherited'; value: unknown; from: string }
  | { kind: 'unset' };

// The value `env` serves for `item`: its own, else the nearest ancestor's.
export function effectiveValue(item: ConfigItem, env: string, envs: Environment[]): Effective {
  const byKey = new Map(envs.map((e) => [e.key, e]));
  const values = item.values ?? {};
  const seen = new Set<string>();
  let at: string | undefined = env;
  while (at && !seen.has(at)) {
    seen.add(at);
    if (Object.prototype.hasOwnProperty.call(values, at)) {
      return at === env ? { kind: 'set', value: values[at] } : { kind: 'inherited', value: values[at], from: at };
    }
    at = byKey.get(at)?.parent ?? undefined;
  }
  return { kind: 'unset' };
}

export function formatValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

// Parses what a user typed into a value of `type`; answers an error message instead when it
// is not one.
export function parseValue(type: ConfigType, text: string): { value: unknown } | { error: string } {
  switch (type) {
    case 'string':
      return { value: text };
    case 'integer':
      if (!/^-?\d+$/.test(text.trim())) return { error: 'Enter a whole number, e.g. 42.' };
      return { value: Number.parseInt(text.trim(), 10) };
    case 'number': {
      const n = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(n)) return { error: 'Enter a finite number, e.g. 0.5.' };
      return { value: n };
    }
    case 'boolean':
      if (text !== 'true' && text !== 'false') return { error: 'Choose true or false.' };
      return { value: text === 'true' };
    case 'json':
      try {
        return { value: JSON.parse(text) };
      } catch {
        return { error: 'Enter valid JSON, e.g. {"a": 1}.' };
      }
  }
}

// A problem with one value, shown next to its field: the message and, when known, the JSON
// Pointer (RFC 6901) of the failing part of the value; `env` names the environment whose
// value it is when that is not the one being edited.
export interface Violation { message: string; pointer?: string; env?: string }

// The api's 400 message for a config value names the value and the failing place:
// `values.prod: /port: 70000 is greater than the maximum 65535` (the pointer is absent for a
// failure at the value's root). Answers undefined when the message is about something else.
export function valueViolation(message: string, env: string): Violation | undefined {
  const prefix = `values.${env}: `;
  if (!message.startsWith(prefix)) return undefined;
  const rest = message.slice(prefix.length);
  const m = /^(\/[^ ]*): (.*)$/s.exec(rest);
  return m ? { pointer: m[1]!, message: m[2]! } : { message: rest };
}

// Answers undefined for valid JSON text, else what is wrong and where (line and column).
export function jsonSyntax(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (e) {
    const what = e instanceof Error ? e.message : 'not valid JSON';
    const pos = /position (\d+)/.exec(what);
    if (!pos) return `Not valid JSON: ${what}.`;
    const before = text.slice(0, Number(pos[1]));
    const line = before.split('\n').length;
    const column = before.length - before.lastIndexOf('\n');
    return `Not valid JSON at line ${line}, column ${column}: ${what.replace(/ in JSON at position \d+.*$/s, '')}.`;
  }
}

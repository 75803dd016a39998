// The flag and segment documents of docs/design/flags.md as the editors hold them, and pure
// helpers over them: operators, clause values from what a user typed, rollout percentages.
// No I/O.

export interface Variation { value: unknown; name?: string; description?: string }
export interface Clause { attribute?: string; op: string; values: unknown[]; negate?: boolean }
export interface WeightedVariation { variation: number; weight: number }
// A rule's or the fallthrough's outcome: a fixed variation, or a rollout.
export interface Outcome { variation?: number; rollout?: WeightedVariation[]; bucket_by?: string; seed?: number }
export interface Rule extends Outcome { id?: string; description?: string; clauses: Clause[] }
export interface Target { variation: number; values: string[] }
export interface Prerequisite { flag: string; variation: number }
export interface FlagEnv {
  on: boolean;
  off_variation?: number | null;
  targets?: Target[];
  rules?: Rule[];
  fallthrough: Outcome;
  prerequisites?: Prerequisite[];
}
export interface FlagItem {
  key: string;
  revision?: number;
  description?: string;
  salt?: string;
  variations: Variation[];
  environments: Record<string, FlagEnv>;
}
export interface SegmentItem {
  key: string;
  revision?: number;
  description?: string;
  included?: string[];
  excluded?: string[];
  rules?: { id?: string; clauses: Clause[] }[];
}

// Every operator the evaluator knows (src/eval/model.h), with what its values are.
export const OPERATORS: { op: string; label: string; values: 'any' | 'string' | 'number' | 'time' | 'semver' | 'segment' }[] = [
  { op: 'in', label: 'is one of', values: 'any' },
  { op: 'starts_with', label: 'starts with', values: 'string' },
  { op: 'ends_with', label: 'ends with', values: 'string' },
  { op: 'contains', label: 'contains', values: 'string' },
  { op: 'matches', label: 'matches regex (RE2)', values: 'string' },
  { op: 'lt', label: '<', values: 'number' },
  { op: 'lte', label: '≤', values: 'number' },
  { op: 'gt', label: '>', values: 'number' },
  { op: 'gte', label: '≥', values: 'number' },
  { op: 'before', label: 'before (time)', values: 'time' },
  { op: 'after', label: 'after (time)', values: 'time' },
  { op: 'semver_eq', label: 'semver =', values: 'semver' },
  { op: 'semver_lt', label: 'semver <', values: 'semver' },
  { op: 'semver_gt', label: 'semver >', values: 'semver' },
  { op: 'segment_match', label: 'is in segment', values: 'segment' },
];

export function operatorOf(op: string) {
  return OPERATORS.find((o) => o.op === op) ?? OPERATORS[0]!;
}

// Clause values as text: one per line; strings as they are, anything else as JSON.
export function valuesToText(values: unknown[]): string {
  return values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n');
}

// One value per non-empty line. `in` takes JSON (numbers, true, "quoted") where a line
// parses as such, else the line as a string; number operators need numbers; time operators
// take an RFC 3339 string or epoch milliseconds; the rest take the lines as strings.
export function parseClauseValues(op: string, text: string): { values: unknown[] } | { error: string } {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) return { error: 'Enter at least one value (one per line).' };
  const kind = operatorOf(op).values;
  const out: unknown[] = [];
  for (const line of lines) {
    if (kind === 'number' || (kind === 'time' && /^-?\d+(\.\d+)?$/.test(line))) {
      const n = Number(line);
      if (!Number.isFinite(n)) return { error: `"${line}" is not a number.` };
      out.push(n);
    } else if (kind === 'any') {
      try {
        const v: unknown = JSON.parse(line);
        out.push(v === null ? line : v);
      } catch {
        out.push(line);
      }
    } else {
      out.push(line);
    }
  }
  return { values: out };
}

// Rollout weights are out of 100000; the editor shows percentages with up to 3 decimals.
export function weightToPercent(w: number): string {
  return String(Math.round(w) / 1000);
}

export function percentToWeight(text: string): number | undefined {
  const t = text.trim();
  if (!/^\d+(\.\d{1,3})?$/.test(t)) return undefined;
  return Math.round(Number(t) * 1000);
}

// Answers an error message when the rollout's percentages are not all valid or do not add
// up to exactly 100%.
export function rolloutError(percents: string[]): string | undefined {
  let sum = 0;
  for (const p of percents) {
    const w = percentToWeight(p);
    if (w === undefined) return `"${p}" is not a percentage (0–100, up to 3 decimals).`;
    sum += w;
  }
  if (sum !== 100000) return `The percentages add up to ${sum / 1000}%; they must add up to 100%.`;
  return undefined;
}

// Keys typed one per line or separated by commas.
export function parseKeys(text: string): string[] {
  return text.split(/[\n,]/).map((s) => s.trim()).filter((s) => s !== '');
}

/**
 * Field-by-field differences between two versions of a route (history, rollback, a save's
 * conflict). Pure: no React, no API.
 */

export type Leaf = string | number | boolean;
export type DiffKind = 'added' | 'removed' | 'changed' | 'unchanged';

export interface DiffRow {
  /** `url`, `endpoints[id=blue].weight`, `healthCheck.intervalSeconds`, ... */
  path: string;
  kind: DiffKind;
  /** Absent on `added`. */
  before?: Leaf;
  /** Absent on `removed`. */
  after?: Leaf;
}

/** What a version of a route holds that a diff compares (everything else, such as its revision or timestamps, is left out). */
export interface RoutePolicyLike {
  url?: string | null;
  endpoints?: readonly { id: string; [field: string]: unknown }[];
  healthCheck?: Record<string, unknown> | null;
}

/** The members of a route that make its configuration: what a diff of two versions compares. */
export const POLICY_FIELDS = ['url', 'endpoints', 'healthCheck'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An array whose items are objects with unique string ids: matched by id, not by position. */
function idsOf(items: readonly unknown[]): string[] | undefined {
  const ids: string[] = [];
  for (const item of items) {
    if (!isRecord(item) || typeof item['id'] !== 'string') return undefined;
    ids.push(item['id']);
  }
  return new Set(ids).size === ids.length ? ids : undefined;
}

/**
 * A JSON value as `path → leaf`, in document order. Objects give `a.b`, arrays `a[0]`, arrays of
 * objects with unique ids `a[id=x]` (so an endpoint is compared with the endpoint of the same id,
 * wherever it is listed). null and undefined are absent (a route without a health check has no
 * `healthCheck.*` paths).
 */
export function flatten(value: unknown, prefix = '', out = new Map<string, Leaf>()): Map<string, Leaf> {
  if (value === null || value === undefined) return out;
  if (Array.isArray(value)) {
    const ids = idsOf(value);
    value.forEach((item, i) => flatten(item, `${prefix}[${ids ? `id=${ids[i] as string}` : i}]`, out));
    return out;
  }
  if (isRecord(value)) {
    for (const [key, item] of Object.entries(value)) flatten(item, prefix ? `${prefix}.${key}` : key, out);
    return out;
  }
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') out.set(prefix, value);
  else out.set(prefix, String(value));
  return out;
}

/** The parts of a route a diff compares (null: the route does not exist at that version). */
export function policyOf(route: RoutePolicyLike | null | undefined): Record<string, unknown> | null {
  if (!route) return null;
  const out: Record<string, unknown> = {};
  for (const field of POLICY_FIELDS) if (route[field] !== undefined && route[field] !== null) out[field] = route[field];
  return out;
}

/**
 * Every path of either side, with what happened to it from `before` to `after`, in document order
 * (the paths of `after`, with those only `before` has placed after their predecessor). A null
 * side is a route that does not exist: every field added (or removed).
 */
export function diffValues(before: unknown, after: unknown): DiffRow[] {
  const a = flatten(before);
  const b = flatten(after);
  const order: string[] = [...b.keys()];
  // Insert removed paths after the path that preceded them in `before`.
  let previous: string | undefined;
  for (const path of a.keys()) {
    if (!b.has(path)) {
      const at = previous === undefined ? 0 : order.indexOf(previous) + 1;
      order.splice(at, 0, path);
    }
    previous = path;
  }
  return order.map((path): DiffRow => {
    const inA = a.has(path);
    const inB = b.has(path);
    if (inA && !inB) return { path, kind: 'removed', before: a.get(path) as Leaf };
    if (!inA && inB) return { path, kind: 'added', after: b.get(path) as Leaf };
    const x = a.get(path) as Leaf;
    const y = b.get(path) as Leaf;
    return { path, kind: x === y ? 'unchanged' : 'changed', before: x, after: y };
  });
}

/** The differences between two versions of a route's configuration (null: absent, as after a delete). */
export function diffRoutes(before: RoutePolicyLike | null | undefined, after: RoutePolicyLike | null | undefined): DiffRow[] {
  return diffValues(policyOf(before), policyOf(after));
}

/** Only the rows that differ. */
export function changesOnly(rows: readonly DiffRow[]): DiffRow[] {
  return rows.filter((r) => r.kind !== 'unchanged');
}

/** A leaf as a person reads it (strings as they are; absent as an em dash). */
export function showLeaf(value: Leaf | undefined): string {
  return value === undefined ? '—' : String(value);
}

import { isSingleUrlPolicy, normalisedPolicy, singleEndpoint, type TrafficPolicy } from '@tm/contracts';
import type { Change, Route } from '@traffic-manager/client';
import type { FileRoute, RouteFile } from './route-file';

/**
 * The plan of `tm apply` and `tm diff`: what the file changes against the routes as they are,
 * compared as the command API compares a write (the normalised policy, every default filled in), so
 * that a route that already matches is not sent. Pure: the state is read by the caller.
 */

/** One field that changes: `old` undefined, it is added; `new` undefined, it goes. */
export interface FieldChange {
  field: string;
  old?: string | number | undefined;
  new?: string | number | undefined;
}

export type PlanStep =
  | { action: 'create'; route: string; entry: FileRoute; fields: FieldChange[] }
  | { action: 'update'; route: string; entry: FileRoute; revision: number; fields: FieldChange[] }
  | { action: 'delete'; route: string; revision: number; fields: FieldChange[] };

export interface Plan {
  steps: PlanStep[];
  /** Routes of the file that already are as it says. */
  unchanged: string[];
}

/** A route's policy as the command API answers it (an older server's answer without `endpoints`: its URL alone). */
export function policyOfRoute(route: Route): TrafficPolicy {
  return { endpoints: route.endpoints ?? [singleEndpoint(route.url)], healthCheck: route.healthCheck ?? null };
}

/** A policy as the fields `tm diff` shows: `url` for a route of one plain URL, else each endpoint's and the health check's. */
export function policyFields(policy: TrafficPolicy): Map<string, string | number> {
  const fields = new Map<string, string | number>();
  if (isSingleUrlPolicy(policy)) {
    fields.set('url', policy.endpoints[0]?.url ?? '');
    return fields;
  }
  policy.endpoints.forEach((e, i) => {
    for (const name of ['id', 'url', 'priority', 'weight', 'state'] as const) fields.set(`endpoints[${i}].${name}`, e[name]);
  });
  const hc = policy.healthCheck;
  if (hc) {
    for (const name of ['type', 'path', 'intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold', 'expectedStatus'] as const) {
      const value = hc[name];
      if (value !== undefined) fields.set(`healthCheck.${name}`, value);
    }
  }
  return fields;
}

/** The fields that differ between two policies (null: no route), in the order of the new one, then those that go. */
export function fieldChanges(before: TrafficPolicy | null, after: TrafficPolicy | null): FieldChange[] {
  const old = before ? policyFields(before) : new Map<string, string | number>();
  const next = after ? policyFields(after) : new Map<string, string | number>();
  const changes: FieldChange[] = [];
  for (const [field, value] of next) {
    if (!old.has(field)) changes.push({ field, new: value });
    else if (old.get(field) !== value) changes.push({ field, old: old.get(field), new: value });
  }
  for (const [field, value] of old) if (!next.has(field)) changes.push({ field, old: value });
  return changes;
}

function tenantOf(route: string): string {
  return route.slice(0, route.indexOf('/'));
}

/**
 * The plan of `file` against `current` (the routes as they are, by key: each route of the file that
 * exists and, with `prune`, every route of the file's tenants). With `prune`, the routes of the
 * file's tenants that it does not list are deleted; another tenant's never.
 */
export function planOf(file: RouteFile, current: ReadonlyMap<string, Route>, prune: boolean): Plan {
  const steps: PlanStep[] = [];
  const unchanged: string[] = [];
  const listed = new Set<string>();
  for (const entry of file.routes) {
    listed.add(entry.route);
    const now = current.get(entry.route);
    const wanted = normalisedPolicy(entry.body);
    if (!now) {
      steps.push({ action: 'create', route: entry.route, entry, fields: fieldChanges(null, wanted) });
      continue;
    }
    const fields = fieldChanges(policyOfRoute(now), wanted);
    if (fields.length === 0) unchanged.push(entry.route);
    else steps.push({ action: 'update', route: entry.route, entry, revision: now.revision, fields });
  }
  if (prune) {
    const tenants = new Set(file.routes.map((e) => tenantOf(e.route)));
    const gone = [...current.keys()].filter((key) => tenants.has(tenantOf(key)) && !listed.has(key)).sort();
    for (const route of gone) {
      const now = current.get(route) as Route;
      steps.push({ action: 'delete', route, revision: now.revision, fields: fieldChanges(policyOfRoute(now), null) });
    }
  }
  return { steps, unchanged };
}

/** The change set of a plan: every change with the compare of the state it was planned against. */
export function changesOf(plan: Plan): Change[] {
  return plan.steps.map((step): Change => {
    switch (step.action) {
      case 'create':
        return { op: 'put', route: step.route, body: bodyOf(step.entry), ifAbsent: true };
      case 'update':
        return { op: 'put', route: step.route, body: bodyOf(step.entry), ifRevision: step.revision };
      case 'delete':
        return { op: 'delete', route: step.route, ifRevision: step.revision };
    }
  });
}

/** The PUT body of an entry, as the file gives it (the server fills in the defaults). */
function bodyOf(entry: FileRoute): Extract<Change, { op: 'put' }>['body'] {
  const hc = entry.body.healthCheck === undefined ? {} : { healthCheck: entry.body.healthCheck };
  return entry.body.endpoints ? { endpoints: [...entry.body.endpoints], ...hc } : { url: entry.body.url as string, ...hc };
}

function shown(value: string | number | undefined): string {
  return value === undefined ? '(none)' : String(value);
}

/** The plan as `tm diff` prints it: a line per route (+ create, ~ update, - delete) and a line per field, then a summary. */
export function planLines(plan: Plan): string[] {
  const lines: string[] = [];
  for (const step of plan.steps) {
    const mark = step.action === 'create' ? '+' : step.action === 'update' ? '~' : '-';
    lines.push(`${mark} ${step.route} (${step.action}${step.action === 'create' ? '' : `, at rev ${step.revision}`})`);
    for (const f of step.fields) {
      if (step.action === 'update') lines.push(`    ${f.field}: ${shown(f.old)} → ${shown(f.new)}`);
      else lines.push(`    ${f.field}: ${shown(step.action === 'create' ? f.new : f.old)}`);
    }
  }
  lines.push(summary(plan));
  return lines;
}

export function summary(plan: Plan): string {
  const count = (action: PlanStep['action']): number => plan.steps.filter((s) => s.action === action).length;
  if (plan.steps.length === 0) return `no changes (${plan.unchanged.length} route(s) already as the file says)`;
  return `plan: ${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete; ${plan.unchanged.length} unchanged`;
}

/** The plan as `--json` prints it. */
export function planJson(plan: Plan): unknown {
  return {
    steps: plan.steps.map((s) => ({ action: s.action, route: s.route, ...(s.action === 'create' ? {} : { revision: s.revision }), fields: s.fields })),
    unchanged: plan.unchanged,
  };
}

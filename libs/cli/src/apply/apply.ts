import { readFile } from 'node:fs/promises';
import { TrafficManagerError, type ChangeSetResult, type Route, type TrafficManagerClient } from '@traffic-manager/client';
import { printChangeSet, conflictLine } from '../changes';
import { arity, ExitWith, EXIT, Failure, out, UsageError, warn, type Config } from '../io';
import { changesOf, planJson, planLines, planOf, type Plan } from './plan';
import { parseRouteFile, RouteFileError, type RouteFile } from './route-file';

/** `tm apply -f FILE [--prune] [--dry-run] [--wait]` and `tm diff -f FILE [--exit-code]` (docs/sdk-and-cli.md). */

/** Reads at most this many routes at once while planning. */
const READ_CONCURRENCY = 8;

export async function readRouteFile(file: string): Promise<RouteFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file.slice(0, 200)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return parseRouteFile(file, text);
  } catch (e) {
    if (e instanceof RouteFileError) throw new UsageError(`${e.message}\nnothing was applied`);
    throw e;
  }
}

/** The routes as they are now: each route of the file (GET), and with `prune` every route of its tenants (a list). */
export async function currentState(client: TrafficManagerClient, file: RouteFile, prune: boolean): Promise<Map<string, Route>> {
  const current = new Map<string, Route>();
  const key = (r: Route): string => `${r.tenant}/${r.service}/${r.environment}`;
  if (prune) {
    for (const tenant of new Set(file.routes.map((e) => e.route.split('/')[0] as string))) {
      let cursor: string | null = null;
      do {
        const page = await client.list({ tenant, cursor });
        for (const route of page.items) current.set(key(route), route);
        cursor = page.nextCursor;
      } while (cursor !== null && cursor !== undefined);
    }
    return current;
  }
  const queue = file.routes.map((e) => e.route);
  const reader = async (): Promise<void> => {
    for (let route = queue.shift(); route !== undefined; route = queue.shift()) {
      const found = await client.get(route);
      if (found) current.set(route, found);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, queue.length) }, reader));
  return current;
}

export async function planFile(client: TrafficManagerClient, file: RouteFile, prune: boolean): Promise<Plan> {
  return planOf(file, await currentState(client, file, prune), prune);
}

/**
 * Submits the plan as one change set, every change with the compare of its planned state. A route
 * changed since the plan: every conflict printed, nothing applied (Failure); a refused change: its
 * file line and field.
 */
export async function submitPlan(client: TrafficManagerClient, file: RouteFile, plan: Plan, config: Pick<Config, 'wait' | 'waitTimeoutMs'>): Promise<ChangeSetResult> {
  try {
    return await client.apply(changesOf(plan), { description: file.description, wait: config.wait, waitTimeoutMs: config.waitTimeoutMs });
  } catch (e) {
    if (!(e instanceof TrafficManagerError)) throw e;
    if (e.code === 'conflict' && e.conflicts) {
      for (const c of e.conflicts) warn(conflictLine(c));
      throw new Failure(`nothing was applied: ${e.conflicts.length} route(s) changed since the plan (tm diff -f ${file.name} shows the plan now)`);
    }
    if (e.code === 'bad_request' && e.errors && e.errors.length > 0) {
      for (const line of fieldErrorLines(file, plan, e.errors)) warn(line);
      throw new Failure(`the command API refused the change set (${e.status ?? 400}); nothing was applied`);
    }
    throw e;
  }
}

/** The server's field errors (`changes[3].body.url`) placed in the file (`file:12: routes[5].url: ...`). */
export function fieldErrorLines(file: RouteFile, plan: Plan, errors: readonly { field: string; message: string }[]): string[] {
  return errors.map(({ field, message }) => {
    const m = /^changes\[(\d+)\](?:\.body)?\.?(.*)$/.exec(field);
    const step = m ? plan.steps[Number(m[1])] : undefined;
    if (!m || !step) {
      if (field === 'changes') return `${message} (the plan has ${plan.steps.length} changes; the command API takes at most CHANGESET_MAX_CHANGES, default 1,000, in one change set: split the file)`;
      return `${field}: ${message}`;
    }
    if (step.action === 'delete') return `${step.route} (delete): ${message}`;
    const rest = (m[2] ?? '').replace(/\.(\d+)(?=\.|$)/g, '[$1]').replace(/^endpoints\.(\d+)/, 'endpoints[$1]');
    const line = step.entry.lines.get(rest) ?? step.entry.lines.get(rest.replace(/\..*$/, '')) ?? step.entry.line;
    return `${file.name}:${line}: routes[${step.entry.index}]${rest ? `.${rest}` : ''}: ${message}`;
  });
}

export async function apply(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 0, 0, 'apply -f FILE [--prune] [--dry-run] [--wait]');
  if (config.file === undefined) throw new UsageError('apply needs -f FILE');
  const file = await readRouteFile(config.file);
  const plan = await planFile(client, file, config.prune);
  if (config.dryRun || plan.steps.length === 0) {
    if (config.json) out(JSON.stringify({ plan: planJson(plan), applied: false }));
    else {
      for (const line of planLines(plan)) out(line);
      if (plan.steps.length > 0) out('dry run: nothing applied');
    }
    return;
  }
  if (!config.json) for (const line of planLines(plan)) out(line);
  const result = await submitPlan(client, file, plan, config);
  if (config.json) out(JSON.stringify({ plan: planJson(plan), applied: true, result }));
  else printChangeSet(result, config);
  if (config.json && result.propagation?.status === 'pending') warn(`revision ${result.revision} is committed but not yet in sync everywhere`);
}

/** `tm diff`: the plan, field by field; `--exit-code`: exit 4 when it is not empty. */
export async function diff(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 0, 0, 'diff -f FILE [--prune] [--exit-code]');
  if (config.file === undefined) throw new UsageError('diff needs -f FILE');
  const file = await readRouteFile(config.file);
  const plan = await planFile(client, file, config.prune);
  if (config.json) out(JSON.stringify(planJson(plan)));
  else for (const line of planLines(plan)) out(line);
  if (config.exitCode && plan.steps.length > 0) throw new ExitWith(EXIT.planNotEmpty);
}


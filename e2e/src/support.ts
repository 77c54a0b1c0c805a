import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Client } from 'pg';
import { REPO_ROOT, TEST_ADMIN_TOKEN, type AppProcess, type ReadMessage } from '@tm/testing';

/** PUT (url) or DELETE (url null) a route through the command API process; returns the status and revision. */
export async function write(commandApi: AppProcess, route: string, url: string | null): Promise<{ status: number; revision: number }> {
  const res = await fetch(`${commandApi.url}/v1/routes/${route}`, {
    method: url === null ? 'DELETE' : 'PUT',
    headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(url === null ? {} : { body: JSON.stringify({ url }) }),
  });
  return { status: res.status, revision: Number(res.headers.get('x-route-revision')) };
}

export async function query<T>(databaseUrl: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

export interface RouteEventMessage {
  key: string;
  id: string;
  revision: number;
  subject: string;
}

export function parsed(messages: ReadMessage[]): RouteEventMessage[] {
  return messages.map((m) => {
    const event = JSON.parse(m.value) as { id: string; subject: string; data: { revision: number } };
    return { key: m.key, id: event.id, revision: event.data.revision, subject: event.subject };
  });
}

/** The distinct revisions that arrived. */
export function revisions(messages: ReadMessage[]): Set<number> {
  return new Set(parsed(messages).map((m) => m.revision));
}

/**
 * Per key, the revisions in arrival order with re-deliveries of revisions already seen removed
 * (what an idempotent consumer applies) must strictly increase. Returns the keys where they do not.
 */
export function orderViolations(messages: ReadMessage[]): string[] {
  const byKey = new Map<string, number[]>();
  for (const m of [...messages].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)))) {
    const event = parsed([m])[0] as RouteEventMessage;
    const seen = byKey.get(m.key) ?? [];
    if (!seen.includes(event.revision)) seen.push(event.revision);
    byKey.set(m.key, seen);
  }
  return [...byKey.entries()].filter(([, revs]) => revs.some((r, i) => i > 0 && r <= (revs[i - 1] as number))).map(([k, revs]) => `${k}: ${revs.join(',')}`);
}

/** Polls `probe` until it returns true. */
export async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not hold within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function metric(app: AppProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

/** Runs the built dlq command (dist/apps/invalidation-worker/dlq.js, what `npm run dlq` runs) with only `env`. */
export function dlqCommand(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(REPO_ROOT, 'dist', 'apps', 'invalidation-worker', 'dlq.js'), ...args],
      { env: { PATH: process.env['PATH'] ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

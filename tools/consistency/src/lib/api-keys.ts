import { TEST_ADMIN_TOKEN } from '@tm/testing';
import { now } from './workload';

const ADMIN = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
/** How long an admin call is retried while the command API cannot answer it (a loaded machine, a fault's recovery). */
const RETRY_FOR_MS = 30_000;

/**
 * One admin call to the command API, retried while it gets no answer or a 5xx; the answer that is
 * not one (its status, body and arrival time), or the last failure as an error.
 */
async function adminCall(commandApi: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: string; at: number; attempts: number }> {
  const deadline = now() + RETRY_FOR_MS;
  for (let attempts = 1; ; attempts++) {
    let failure: string;
    try {
      const res = await fetch(`${commandApi}${path}`, { method, headers: ADMIN, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
      const text = await res.text();
      const at = now();
      if (res.status < 500) return { status: res.status, body: text, at, attempts };
      failure = `${res.status} ${text}`;
    } catch (e) {
      failure = e instanceof Error ? e.message : String(e);
    }
    if (now() > deadline) throw new Error(`${method} ${path}: ${failure}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A stored key created with the admin token: its id and its secret (returned this once). A null tenant: a key that spans tenants. */
export async function createKey(commandApi: string, name: string, tenant: string | null, scopes: string[]): Promise<{ id: string; key: string }> {
  const res = await adminCall(commandApi, 'POST', '/v1/api-keys', { name, ...(tenant === null ? {} : { tenant }), scopes });
  if (res.status !== 201) throw new Error(`creating a key for ${tenant ?? 'every tenant'}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as { id: string; key: string };
}

/** Creates a tenant with the admin token (one that exists already is fine). */
export async function createTenant(commandApi: string, slug: string): Promise<void> {
  const res = await adminCall(commandApi, 'POST', '/v1/tenants', { slug });
  if (res.status !== 201 && res.status !== 409) throw new Error(`creating tenant ${slug}: ${res.status} ${res.body}`);
}

/**
 * Revokes a stored key (DELETE /v1/api-keys/{id}); when its 2xx answer arrived. A 404 after an
 * attempt whose answer was lost is that attempt's revocation: it committed before this answer.
 */
export async function revokeKey(commandApi: string, id: string): Promise<number> {
  const res = await adminCall(commandApi, 'DELETE', `/v1/api-keys/${id}`);
  if (res.status === 204 || (res.status === 404 && res.attempts > 1)) return res.at;
  throw new Error(`revoking key ${id}: ${res.status} ${res.body}`);
}

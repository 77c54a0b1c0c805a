import type { Tenant, TenantUpdate, TrafficManagerClient } from '@traffic-manager/client';
import { arity, NotFound, out, UsageError, type Config } from './io';

/** `tm tenant T`: the tenant; with `--dns on|off` or `--display-name NAME`, changed first (admin). */

/** `--dns on|off` as the flag's value; undefined when not given. */
export function dnsFlag(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on') return true;
  if (value === 'off') return false;
  throw new UsageError('--dns must be on or off');
}

/** `acme "Acme Corporation" dns on created <time> updated <time>`. */
export function tenantLine(t: Tenant): string {
  const name = t.displayName === null ? '(no display name)' : JSON.stringify(t.displayName);
  return `${t.slug} ${name} dns ${t.dns ? 'on' : 'off'} created ${t.createdAt} updated ${t.updatedAt}`;
}

export async function tenantCommand(client: TrafficManagerClient, args: string[], config: Config): Promise<void> {
  arity(args, 1, 1, 'tenant T [--dns on|off] [--display-name NAME]');
  const slug = args[0] as string;
  const update: TenantUpdate = {};
  if (config.dns !== undefined) update.dns = config.dns;
  // An empty name clears it (the API's null).
  if (config.displayName !== undefined) update.displayName = config.displayName === '' ? null : config.displayName;
  // An unknown tenant: null from a read; the SDK's not_found from an update (exit 3 too).
  const changing = update.dns !== undefined || update.displayName !== undefined;
  const found = changing ? await client.updateTenant(slug, update) : await client.tenant(slug);
  if (found === null) throw new NotFound(`${slug}: no such tenant`);
  out(config.json ? JSON.stringify(found) : tenantLine(found));
}

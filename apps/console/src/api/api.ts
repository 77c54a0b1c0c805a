import createClient, { type Client, type Middleware } from 'openapi-fetch';
import { asTrafficManagerError, httpError, TrafficManagerError } from '@traffic-manager/client/errors';
import type { paths as CommandPaths } from './command-api.gen';
import type { paths as ResolverPaths } from './resolver.gen';

export { TrafficManagerError };
export type { CommandPaths, ResolverPaths };
export type CommandApi = Client<CommandPaths>;
export type ResolverApi = Client<ResolverPaths>;

/** Where the console finds the APIs: `/console/config.json`, served by the command API with the bundle. */
export interface ConsoleConfig {
  /** The command API's base URL; null: the origin that served the console. */
  commandApiUrl: string | null;
  /** The resolver's base URL as this browser reaches it (the watch, health, whoami). */
  resolverUrl: string | null;
}

export async function loadConfig(): Promise<ConsoleConfig> {
  const res = await fetch(`${import.meta.env.BASE_URL}config.json`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`the console's configuration (config.json) could not be read: ${res.status} ${res.statusText}`);
  const body = (await res.json()) as Partial<ConsoleConfig>;
  return { commandApiUrl: body.commandApiUrl ?? null, resolverUrl: body.resolverUrl ?? null };
}

/**
 * Every answer that is not a success becomes the SDK's TrafficManagerError (the same codes, the
 * problem, its field errors and conflicts, Retry-After), thrown; fetch's own failures too.
 */
function errorsAsExceptions(what: string): Middleware {
  return {
    async onResponse({ response }) {
      if (response.ok) return undefined;
      const body = await response.clone().text();
      throw httpError(response.status, response.statusText, body, response.headers.get('retry-after'));
    },
    onError({ error }) {
      throw error instanceof TrafficManagerError ? error : asTrafficManagerError(error, what);
    },
  };
}

function bearer(key: string): Middleware {
  return {
    onRequest({ request }) {
      request.headers.set('authorization', `Bearer ${key}`);
      return request;
    },
  };
}

/** The two APIs, with the signed-in key on every request. */
export interface Apis {
  command: CommandApi;
  /** Null when the console was given no resolver URL. */
  resolver: ResolverApi | null;
  config: ConsoleConfig;
  key: string;
}

export function apisFor(config: ConsoleConfig, key: string): Apis {
  const command = createClient<CommandPaths>({ baseUrl: config.commandApiUrl ?? window.location.origin });
  command.use(bearer(key), errorsAsExceptions('the command API'));
  let resolver: ResolverApi | null = null;
  if (config.resolverUrl) {
    resolver = createClient<ResolverPaths>({ baseUrl: config.resolverUrl });
    resolver.use(bearer(key), errorsAsExceptions('the resolver'));
  }
  return { command, resolver, config, key };
}

/** The data of an openapi-fetch call whose errors were thrown by the middleware. */
export async function data<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, response } = await call;
  if (!response.ok) throw httpError(response.status, response.statusText, '', response.headers.get('retry-after'));
  return data as T;
}

import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { isValidName, parseRevision, WatchEvents } from '@tm/contracts';
import { TrafficManagerClient } from '../lib/client';
import { getRoute, listRoutes, putRoute, deleteRoute, type Route, type RouteBody } from '../lib/commands';
import { httpError, TrafficManagerError } from '../lib/errors';
import { Deadline, exchange, headersOf } from '../lib/http';
import { baseUrl } from '../lib/options';
import { parseRoute, routePath } from '../lib/route';
import { SseParser } from '../lib/sse';
import { parseBookmark, parseChange } from '../lib/watch';

const USAGE = `Usage: tm [options] <command> [arguments]

Commands:
  put T/S/E URL     create or update a route (command API)
  put T/S/E --file F   the same with a traffic policy from a JSON file ({"endpoints": [...], "healthCheck": {...}}; - reads stdin)
  health T/S/E      each endpoint's health, since when, and the last probe error (resolver)
  get T/S/E         read a route from the database (command API)
  delete T/S/E      delete a route (command API)
  ls [T]            list routes, every page (command API)
  resolve T/S/E     which URL to call (resolver)
  watch [T]         follow changes: one line per event (resolver; no T: every route the key may read)

Options:
  --command-url URL   command API (env TM_COMMAND_URL, default http://127.0.0.1:3000)
  --resolver-url URL  resolver (env TM_RESOLVER_URL, default http://127.0.0.1:3001)
  --api-key KEY       API key (env TM_API_KEY)
  --min-revision N    resolve: the answer reflects every write <= N
  --strong            resolve: read the database (?consistency=strong)
  --affinity S        resolve: a pick among the route's endpoints that is stable for S
  --file F            put: the route's body as JSON (a policy, or {"url"})
  --json              print JSON (watch: each event's data, one per line)
  --timeout-ms N      per request (default 5000)
  -h, --help          this text

Exit codes: 0 done, 1 failure, 2 usage error, 3 not found.
`;

const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3 } as const;

class UsageError extends Error {}
class NotFound extends Error {}

interface Config {
  commandUrl: string;
  resolverUrl: string;
  apiKey: string | undefined;
  timeoutMs: number;
  json: boolean;
  minRevision: number | undefined;
  strong: boolean;
  affinity: string | undefined;
  file: string | undefined;
}

function out(line: string): void {
  process.stdout.write(`${line}\n`);
}

function routeLine(route: Route): string {
  const more = route.endpoints && route.endpoints.length > 1 ? ` (${route.endpoints.length} endpoints)` : '';
  return `${routePath(route)} ${route.url}${more} rev ${route.revision}`;
}

/** The body of `put --file`: JSON from the file (or stdin for -). */
async function bodyFromFile(file: string): Promise<RouteBody> {
  let text: string;
  try {
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${file.slice(0, 200)}: ${e instanceof Error ? e.message : String(e)}`);
  }
  try {
    return JSON.parse(text) as RouteBody;
  } catch {
    throw new UsageError(`${file.slice(0, 200)} is not JSON`);
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

interface HealthAnswer {
  endpoints: { id: string; url: string; state: string; health: string; since: string | null; lastError: { message: string; at: string; prober: string } | null }[];
  probed: boolean;
}

function arity(args: string[], min: number, max: number, usage: string): void {
  if (args.length < min || args.length > max) throw new UsageError(`usage: tm ${usage}`);
}

function routeArg(value: string): ReturnType<typeof parseRoute> {
  try {
    return parseRoute(value);
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}

function tenantArg(value: string | undefined): string | undefined {
  if (value !== undefined && !isValidName(value)) throw new UsageError(`not a tenant name: ${value.slice(0, 100)}`);
  return value;
}

async function run(command: string, args: string[], config: Config): Promise<void> {
  const deadline = (): Deadline => new Deadline(config.timeoutMs, undefined);
  switch (command) {
    case 'put': {
      if (config.file !== undefined) arity(args, 1, 1, 'put T/S/E --file policy.json');
      else arity(args, 2, 2, 'put T/S/E URL');
      const id = routeArg(args[0] as string);
      const body: RouteBody = config.file !== undefined ? await bodyFromFile(config.file) : { url: args[1] as string };
      const { route, created } = await putRoute(config, id, body, {}, deadline());
      out(config.json ? JSON.stringify(route) : `${created ? 'created' : 'updated'} ${routeLine(route)}`);
      return;
    }
    case 'get': {
      arity(args, 1, 1, 'get T/S/E');
      const id = routeArg(args[0] as string);
      const route = await getRoute(config, id, deadline());
      if (!route) throw new NotFound(`${routePath(id)}: no such route`);
      out(config.json ? JSON.stringify(route) : routeLine(route));
      return;
    }
    case 'delete': {
      arity(args, 1, 1, 'delete T/S/E');
      const id = routeArg(args[0] as string);
      const revision = await deleteRoute(config, id, {}, deadline());
      if (revision === undefined) throw new NotFound(`${routePath(id)}: no such route`);
      out(config.json ? JSON.stringify({ ...id, revision }) : `deleted ${routePath(id)} rev ${revision}`);
      return;
    }
    case 'ls': {
      arity(args, 0, 1, 'ls [T]');
      const tenant = tenantArg(args[0]);
      let cursor: string | undefined;
      do {
        const page = await listRoutes(config, tenant, cursor, deadline());
        for (const route of page.items) out(config.json ? JSON.stringify(route) : routeLine(route));
        cursor = page.nextCursor ?? undefined;
      } while (cursor !== undefined);
      return;
    }
    case 'resolve': {
      arity(args, 1, 1, 'resolve T/S/E');
      const id = routeArg(args[0] as string);
      const client = new TrafficManagerClient({ resolverUrl: config.resolverUrl, apiKey: config.apiKey, watch: false, timeoutMs: config.timeoutMs });
      const answer = await client.resolve(id, {
        ...(config.minRevision !== undefined ? { minRevision: config.minRevision } : {}),
        consistency: config.strong ? 'strong' : 'default',
        ...(config.affinity !== undefined ? { affinity: config.affinity } : {}),
      });
      await client.close();
      if (!answer) throw new NotFound(`${routePath(id)}: no such route`);
      out(
        config.json
          ? JSON.stringify(answer)
          : `${answer.url} rev ${answer.revision} as-of ${answer.asOf} age ${Math.round(answer.ageMs / 1000)}s${answer.failOpen ? ' fail-open (every candidate unhealthy)' : ''}`,
      );
      return;
    }
    case 'health': {
      arity(args, 1, 1, 'health T/S/E');
      const id = routeArg(args[0] as string);
      const answer = await exchange(`${config.resolverUrl}/v1/routes/${routePath(id)}/health`, { headers: headersOf(config.apiKey) }, deadline(), `health ${routePath(id)}`);
      if (answer.status === 404) throw new NotFound(`${routePath(id)}: no such route`);
      if (answer.status !== 200) throw httpError(answer.status, answer.statusText, answer.body, answer.headers.get('retry-after'));
      if (config.json) {
        out(answer.body);
        return;
      }
      const health = JSON.parse(answer.body) as HealthAnswer;
      if (!health.probed) out(`${routePath(id)}: no health check (every endpoint unknown)`);
      for (const e of health.endpoints) {
        const error = e.lastError ? ` last error ${e.lastError.at} (${e.lastError.prober}): ${oneLine(e.lastError.message)}` : '';
        out(`${e.id} ${e.url} ${e.state} ${e.health}${e.since ? ` since ${e.since}` : ''}${error}`);
      }
      return;
    }
    case 'watch': {
      arity(args, 0, 1, 'watch [T]');
      await watch(tenantArg(args[0]), config);
      return;
    }
    default:
      throw new UsageError(`unknown command: ${command.slice(0, 100)}`);
  }
}

/** Follows the watch until the stream ends (exit 1) or the user stops it (exit 0). */
function watch(tenant: string | undefined, config: Config): Promise<void> {
  const url = new URL(`${config.resolverUrl}/v1/watch${tenant === undefined ? '' : `/${tenant}`}`);
  const headers: Record<string, string> = { accept: 'text/event-stream' };
  if (config.apiKey !== undefined) headers['authorization'] = `Bearer ${config.apiKey}`;
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, { headers });
    const connectTimer = setTimeout(() => req.destroy(new Error(`no answer within ${config.timeoutMs} ms`)), config.timeoutMs);
    req.on('error', (e) => reject(e instanceof TrafficManagerError ? e : new TrafficManagerError('network', `watch: ${e.message}`, { cause: e })));
    req.on('response', (res: IncomingMessage) => {
      clearTimeout(connectTimer);
      res.setEncoding('utf8');
      if (res.statusCode !== 200) {
        let body = '';
        res.on('data', (chunk: string) => (body += chunk.slice(0, 16_384)));
        res.on('end', () => {
          const retryAfter = res.headers['retry-after'];
          reject(httpError(res.statusCode ?? 0, res.statusMessage ?? '', body, typeof retryAfter === 'string' ? retryAfter : undefined));
        });
        return;
      }
      const parser = new SseParser((event) => {
        if (config.json) {
          out(event.data.replace(/\n/g, ' '));
          return;
        }
        const id = event.id === undefined ? undefined : parseRevision(event.id);
        if (event.event === WatchEvents.put || event.event === WatchEvents.delete) {
          const change = parseChange(event.data);
          if (!change) return;
          const rev = `rev ${change.revision}`;
          out(event.event === WatchEvents.put ? `put ${routePath(change)} ${change.url ?? ''} ${rev}` : `delete ${routePath(change)} ${rev}`);
        } else if (event.event === WatchEvents.bookmark) {
          const bookmark = parseBookmark(event.data);
          if (bookmark) out(`bookmark ${bookmark.revision}${bookmark.snapshot ? ' snapshot' : ''}`);
        } else {
          out(`${event.event}${id === undefined ? '' : ` ${id}`} ${event.data.replace(/\n/g, ' ')}`);
        }
      });
      res.on('data', (chunk: string) => parser.push(chunk));
      res.on('end', () => reject(new TrafficManagerError('network', 'watch: the stream ended')));
      res.on('error', (e) => reject(new TrafficManagerError('network', `watch: ${e.message}`, { cause: e })));
    });
    process.once('SIGINT', () => {
      req.destroy();
      resolve();
    });
    req.end();
  });
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = parseRevision(value);
  if (n === undefined) throw new UsageError(`--${name} must be a whole number`);
  return n;
}

function configOf(values: Record<string, string | boolean | undefined>): Config {
  const text = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  try {
    const timeoutMs = positiveInt('timeout-ms', text('timeout-ms')) ?? 5000;
    if (timeoutMs === 0) throw new UsageError('--timeout-ms must be above 0');
    const apiKey = text('api-key') ?? process.env['TM_API_KEY'];
    return {
      commandUrl: baseUrl('--command-url (TM_COMMAND_URL)', text('command-url') ?? process.env['TM_COMMAND_URL'] ?? 'http://127.0.0.1:3000'),
      resolverUrl: baseUrl('--resolver-url (TM_RESOLVER_URL)', text('resolver-url') ?? process.env['TM_RESOLVER_URL'] ?? 'http://127.0.0.1:3001'),
      apiKey: apiKey === '' ? undefined : apiKey,
      timeoutMs,
      json: values['json'] === true,
      minRevision: positiveInt('min-revision', text('min-revision')),
      strong: values['strong'] === true,
      affinity: text('affinity'),
      file: text('file'),
    };
  } catch (e) {
    if (e instanceof TrafficManagerError) throw new UsageError(e.message);
    throw e;
  }
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

export async function main(argv: string[]): Promise<number> {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        'command-url': { type: 'string' },
        'resolver-url': { type: 'string' },
        'api-key': { type: 'string' },
        'min-revision': { type: 'string' },
        'timeout-ms': { type: 'string' },
        strong: { type: 'boolean' },
        affinity: { type: 'string' },
        json: { type: 'boolean' },
        file: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return EXIT.ok;
    }
    const [command, ...args] = positionals;
    if (command === undefined) throw new UsageError('a command is needed');
    await run(command, args, configOf(values));
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TypeError && 'code' in e && String(e.code).startsWith('ERR_PARSE_ARGS'))) {
      process.stderr.write(`tm: ${oneLine(e.message)} (tm --help)\n`);
      return EXIT.usage;
    }
    if (e instanceof NotFound) {
      process.stderr.write(`tm: ${oneLine(e.message)}\n`);
      return EXIT.notFound;
    }
    if (e instanceof TrafficManagerError) {
      process.stderr.write(`tm: ${oneLine(e.message)}\n`);
      if (e.code === 'invalid_argument' || e.code === 'invalid_route' || e.code === 'invalid_config') return EXIT.usage;
      return e.code === 'not_found' ? EXIT.notFound : EXIT.failure;
    }
    process.stderr.write(`tm: ${oneLine(e instanceof Error ? e.message : String(e))}\n`);
    return EXIT.failure;
  }
}

if (require.main === module) {
  // `tm ls | head`: a closed stdout ends the program quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}

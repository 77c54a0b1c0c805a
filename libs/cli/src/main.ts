import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { TrafficManagerClient, TrafficManagerError, type FollowEvent, type Route, type RouteBody } from '@traffic-manager/client';
import { apply, diff } from './apply/apply';
import { conflictLine, history, propagationLine, revert, rollback, status } from './changes';
import { dnsFlag, tenantCommand } from './tenant';
import { arity, EXIT, ExitWith, Failure, NotFound, oneLine, out, UsageError, warn, type Config } from './io';

const SDK = '@traffic-manager/client';

/** Set at build time (libs/cli/build.mjs) from libs/cli/package.json. */
declare const __TM_CLI_VERSION__: string | undefined;

const USAGE = `Usage: tm [options] <command> [arguments]

Commands:
  put T/S/E URL     create or update a route (command API)
  put T/S/E --file F   the same with a traffic policy from a JSON file ({"endpoints": [...], "healthCheck": {...}}; - reads stdin)
  health T/S/E      each endpoint's health, since when, and the last probe error (resolver)
  get T/S/E         read a route from the database (command API)
  delete T/S/E      delete a route (command API)
  ls [T]            list routes, every page (command API)
  resolve T/S/E     which URL to call (resolver)
  watch [T]         follow changes: one line per event, reconnecting and resuming after the
                    last revision seen, until Ctrl-C (resolver; no T: every route the key may read)
  history T/S/E     a route's versions, newest first: who, when, why (--limit N, default 20)
  rollback T/S/E --to R   make the route what it was as of revision R, in a new change set
                    (--if-match REV: only if the route is at REV now)
  revert R          undo the change set at revision R, in a new change set (a route changed
                    since: nothing is applied)
  status R          whether revision R is in sync: on Kafka, in the cache, in every live
                    resolver (--wait: until it is, or --wait-timeout-ms; exit 1 if not)
  apply -f FILE     make the routes of FILE (YAML or JSON: {routes: [{route, url | endpoints,
                    healthCheck?}], description?}) so, in ONE change set planned against the
                    routes as they are; a route changed meanwhile aborts it whole
                    (--prune: also delete the routes of FILE's tenants it does not list;
                    --dry-run: print the plan only)
  diff -f FILE      the plan of apply, field by field (--exit-code: exit 4 when not empty)
  whoami            what the key may do: its name, id, tenant and scopes
  tenant T          a tenant: its display name, whether DNS answers it, created, updated
  tenant T --dns on|off   open or close the tenant to DNS (admin; closed by default; the
                    resolver learns it within its AUTH_CACHE_TTL_MS), then print it
                    (--display-name NAME: set its display name; '' clears it)

Options:
  --command-url URL   command API (env TM_COMMAND_URL, default http://127.0.0.1:3000)
  --resolver-url URL  resolver (env TM_RESOLVER_URL, default http://127.0.0.1:3001)
  --api-key-file F    read the API key from file F (trimmed); else env TM_API_KEY
  --api-key KEY       the key on the command line: visible to every user in the process
                      list (ps), so tm warns; prefer TM_API_KEY or --api-key-file
  --min-revision N    resolve: the answer reflects every write <= N
  --strong            resolve: read the database (?consistency=strong)
  --affinity S        resolve: a pick among the route's endpoints that is stable for S
  -f, --file F        put: the route's body as JSON (a policy, or {"url"}); apply, diff: the routes
  --wait              put, apply, rollback, revert: answer once the write is in sync everywhere
                      (still pending after the wait: committed all the same, exit 0, a warning);
                      status: ask until it is
  --wait-timeout-ms N how long --wait waits (default 5000; writes: at most 30000)
  --limit N           history: how many versions (default 20)
  --to R              rollback: the revision to go back to
  --if-match REV      rollback: only if the route is at REV now
  --prune             apply, diff: delete the routes of the file's tenants that it does not list
  --dry-run           apply: print the plan, apply nothing
  --exit-code         diff: exit 4 when the plan is not empty
  --dns on|off        tenant: open or close the tenant to DNS
  --display-name NAME tenant: its display name ('' clears it)
  --json              print JSON (watch: each event's data, one per line)
  --timeout-ms N      per request (default 5000)
  -h, --help          this text
  -v, --version       tm's version and the SDK's

Exit codes: 0 done, 1 failure, 2 usage error (a bad file too), 3 not found,
4 (diff --exit-code) the plan is not empty.
`;

function routeLine(route: Route): string {
  const more = route.endpoints && route.endpoints.length > 1 ? ` (${route.endpoints.length} endpoints)` : '';
  return `${route.tenant}/${route.service}/${route.environment} ${route.url}${more} rev ${route.revision}`;
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

/** A client of the SDK for one command (no watches: each command is one call); a bad URL is a usage error naming its flag. */
function clientOf(config: Config): TrafficManagerClient {
  try {
    return new TrafficManagerClient({ resolverUrl: config.resolverUrl, commandUrl: config.commandUrl, apiKey: config.apiKey, watch: false, timeoutMs: config.timeoutMs });
  } catch (e) {
    if (!(e instanceof TrafficManagerError)) throw e;
    throw new UsageError(e.message.replace(/^resolverUrl/, '--resolver-url (TM_RESOLVER_URL)').replace(/^commandUrl/, '--command-url (TM_COMMAND_URL)'));
  }
}

async function run(command: string, args: string[], config: Config): Promise<void> {
  const client = clientOf(config);
  try {
    await runWith(client, command, args, config);
  } finally {
    await client.close();
  }
}

async function runWith(client: TrafficManagerClient, command: string, args: string[], config: Config): Promise<void> {
  switch (command) {
    case 'put': {
      if (config.file !== undefined) arity(args, 1, 1, 'put T/S/E --file policy.json');
      else arity(args, 2, 2, 'put T/S/E URL');
      const body: RouteBody = config.file !== undefined ? await bodyFromFile(config.file) : { url: args[1] as string };
      const { created, propagation, ...route } = await client.put(args[0] as string, body, { wait: config.wait, waitTimeoutMs: config.waitTimeoutMs });
      out(config.json ? JSON.stringify(propagation ? { ...route, propagation } : route) : `${created ? 'created' : 'updated'} ${routeLine(route)}`);
      if (propagation && !config.json) out(propagationLine(propagation));
      if (propagation?.status === 'pending') warn(`revision ${route.revision} is committed but not yet in sync everywhere (tm status ${route.revision} --wait)`);
      return;
    }
    case 'get': {
      arity(args, 1, 1, 'get T/S/E');
      const route = await client.get(args[0] as string);
      if (!route) throw new NotFound(`${args[0]}: no such route`);
      out(config.json ? JSON.stringify(route) : routeLine(route));
      return;
    }
    case 'delete': {
      arity(args, 1, 1, 'delete T/S/E');
      const path = args[0] as string;
      // A session of its own: its revision after the call is the deletion's.
      const session = client.session();
      if (!(await session.delete(path))) throw new NotFound(`${path}: no such route`);
      const [tenant, service, environment] = path.split('/');
      out(config.json ? JSON.stringify({ tenant, service, environment, revision: session.revision }) : `deleted ${path} rev ${session.revision}`);
      return;
    }
    case 'ls': {
      arity(args, 0, 1, 'ls [T]');
      let cursor: string | null = null;
      do {
        const page = await client.list({ tenant: args[0], cursor });
        for (const route of page.items) out(config.json ? JSON.stringify(route) : routeLine(route));
        cursor = page.nextCursor;
      } while (cursor !== null && cursor !== undefined);
      return;
    }
    case 'resolve': {
      arity(args, 1, 1, 'resolve T/S/E');
      const answer = await client.resolve(args[0] as string, { minRevision: config.minRevision, consistency: config.strong ? 'strong' : 'default', affinity: config.affinity });
      if (!answer) throw new NotFound(`${args[0]}: no such route`);
      out(
        config.json
          ? JSON.stringify(answer)
          : `${answer.url} rev ${answer.revision} as-of ${answer.asOf} age ${Math.round(answer.ageMs / 1000)}s${answer.failOpen ? ' fail-open (every candidate unhealthy)' : ''}`,
      );
      return;
    }
    case 'health': {
      arity(args, 1, 1, 'health T/S/E');
      const path = args[0] as string;
      const health = await client.health(path);
      if (!health) throw new NotFound(`${path}: no such route`);
      if (config.json) {
        out(JSON.stringify(health));
        return;
      }
      if (!health.probed) out(`${path}: no health check (every endpoint unknown)`);
      for (const e of health.endpoints) {
        const error = e.lastError ? ` last error ${e.lastError.at} (${e.lastError.prober}): ${oneLine(e.lastError.message)}` : '';
        out(`${e.id} ${e.url} ${e.state} ${e.health}${e.since ? ` since ${e.since}` : ''}${error}`);
      }
      return;
    }
    case 'watch': {
      arity(args, 0, 1, 'watch [T]');
      await watch(client, args[0], config);
      return;
    }
    case 'history':
      return history(client, args, config);
    case 'rollback':
      return rollback(client, args, config);
    case 'revert':
      return revert(client, args, config);
    case 'status':
      return status(client, args, config);
    case 'whoami': {
      arity(args, 0, 0, 'whoami');
      const me = await client.whoami();
      if (config.json) out(JSON.stringify(me));
      else out(me.admin ? 'the admin token: every tenant, every scope' : `key ${me.name} (${me.keyId}), ${me.tenant ? `tenant ${me.tenant}` : 'every tenant'}: ${me.scopes.join(', ')}`);
      return;
    }
    case 'tenant':
      return tenantCommand(client, args, config);
    case 'apply':
      return apply(client, args, config);
    case 'diff':
      return diff(client, args, config);
    default:
      throw new UsageError(`unknown command: ${command.slice(0, 100)}`);
  }
}

/** The line `tm watch` prints for an event of the watch (undefined: none). */
export function watchLine(event: FollowEvent, json: boolean): string | undefined {
  switch (event.type) {
    case 'put':
      return json ? oneLine(event.data) : `put ${event.route} ${event.url} rev ${event.revision}`;
    case 'delete':
      return json ? oneLine(event.data) : `delete ${event.route} rev ${event.revision}`;
    case 'bookmark':
      return json ? oneLine(event.data) : `bookmark ${event.revision}${event.snapshot ? ' snapshot' : ''}`;
    case 'down':
    case 'reset':
      return undefined;
  }
}

/**
 * Follows the watch with the SDK (resume after the last revision, backoff, a new snapshot after a
 * 410) until SIGINT (exit 0). A failure before the first stream opened (a refused port, a wrong
 * key) ends it at once (exit 1); after that each drop is one line on stderr and a reconnect.
 */
function watch(client: TrafficManagerClient, tenant: string | undefined, config: Config): Promise<void> {
  return new Promise((resolve, reject) => {
    const following = client.follow({ tenant }, (event) => {
      const line = watchLine(event, config.json);
      if (line !== undefined) out(line);
      if (event.type === 'down') {
        if (!event.wasUp) return finish(event.error);
        warn(`${oneLine(event.error.message)}; reconnecting in ${event.retryInMs} ms`);
      } else if (event.type === 'reset') {
        warn(`${oneLine(event.error.message)}; taking a new snapshot`);
      }
    });
    // The SDK's watch never keeps a process alive; this command is meant to, until Ctrl-C.
    const alive = setInterval(() => undefined, 1 << 30);
    function finish(error?: TrafficManagerError): void {
      clearInterval(alive);
      following.close();
      process.removeListener('SIGINT', stop).removeListener('SIGTERM', stop);
      if (error) reject(error);
      else resolve();
    }
    function stop(): void {
      finish();
    }
    process.once('SIGINT', stop).once('SIGTERM', stop);
  });
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{1,15}$/.test(value)) throw new UsageError(`--${name} must be a whole number`);
  return Number(value);
}

/** The key: --api-key (warned about), --api-key-file, or TM_API_KEY; never required. */
function apiKeyOf(values: Record<string, string | boolean | undefined>): string | undefined {
  const inline = typeof values['api-key'] === 'string' ? values['api-key'] : undefined;
  const file = typeof values['api-key-file'] === 'string' ? values['api-key-file'] : undefined;
  if (inline !== undefined && file !== undefined) throw new UsageError('--api-key and --api-key-file: give one');
  if (inline !== undefined) {
    warn('warning: --api-key shows the key to every user of this machine (ps); use TM_API_KEY or --api-key-file');
    return inline === '' ? undefined : inline;
  }
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`--api-key-file: cannot read ${file.slice(0, 200)}: ${e instanceof Error ? e.message : String(e)}`);
    }
    const key = text.trim();
    if (key === '') throw new UsageError(`--api-key-file: ${file.slice(0, 200)} is empty`);
    if (/[\r\n]/.test(key)) throw new UsageError(`--api-key-file: ${file.slice(0, 200)} holds more than one line`);
    return key;
  }
  const env = process.env['TM_API_KEY'];
  return env === undefined || env === '' ? undefined : env;
}

function configOf(values: Record<string, string | boolean | undefined>): Config {
  const text = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === 'string' ? v : undefined;
  };
  const timeoutMs = positiveInt('timeout-ms', text('timeout-ms')) ?? 5000;
  if (timeoutMs === 0 || timeoutMs > 600_000) throw new UsageError('--timeout-ms must be from 1 to 600000');
  return {
    commandUrl: text('command-url') ?? process.env['TM_COMMAND_URL'] ?? 'http://127.0.0.1:3000',
    resolverUrl: text('resolver-url') ?? process.env['TM_RESOLVER_URL'] ?? 'http://127.0.0.1:3001',
    apiKey: apiKeyOf(values),
    timeoutMs,
    json: values['json'] === true,
    minRevision: positiveInt('min-revision', text('min-revision')),
    strong: values['strong'] === true,
    affinity: text('affinity'),
    file: text('file'),
    limit: positiveInt('limit', text('limit')),
    to: positiveInt('to', text('to')),
    ifMatch: positiveInt('if-match', text('if-match')),
    wait: values['wait'] === true,
    waitTimeoutMs: positiveInt('wait-timeout-ms', text('wait-timeout-ms')),
    prune: values['prune'] === true,
    dryRun: values['dry-run'] === true,
    exitCode: values['exit-code'] === true,
    dns: dnsFlag(text('dns')),
    displayName: text('display-name'),
  };
}

/** `tm 0.2.0 (@traffic-manager/client 0.2.0)`: the CLI's version and the SDK's it runs with. */
export function versionLine(): string {
  const cli = typeof __TM_CLI_VERSION__ === 'string' ? __TM_CLI_VERSION__ : 'development';
  let sdk = 'unknown';
  try {
    // The SDK's real path (a symbolic link resolved): its package.json lies beside its entry.
    const manifest = JSON.parse(readFileSync(join(dirname(require.resolve(SDK)), 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
    if (manifest.name === '@traffic-manager/client' && typeof manifest.version === 'string') sdk = manifest.version;
  } catch {
    // From the sources (tests): no manifest beside the entry.
  }
  return `tm ${cli} (@traffic-manager/client ${sdk})`;
}

/** An error of parseArgs, by its code: under jest it is another realm's TypeError (not `instanceof TypeError`). */
function isParseArgsError(e: unknown): e is { code: string; message: string } {
  const { code, message } = (typeof e === 'object' && e !== null ? e : {}) as { code?: unknown; message?: unknown };
  return typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS') && typeof message === 'string';
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
        'api-key-file': { type: 'string' },
        'min-revision': { type: 'string' },
        'timeout-ms': { type: 'string' },
        strong: { type: 'boolean' },
        affinity: { type: 'string' },
        json: { type: 'boolean' },
        file: { type: 'string', short: 'f' },
        limit: { type: 'string' },
        to: { type: 'string' },
        'if-match': { type: 'string' },
        wait: { type: 'boolean' },
        'wait-timeout-ms': { type: 'string' },
        prune: { type: 'boolean' },
        'dry-run': { type: 'boolean' },
        'exit-code': { type: 'boolean' },
        dns: { type: 'string' },
        'display-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
    if (values.help) {
      process.stdout.write(USAGE);
      return EXIT.ok;
    }
    if (values.version) {
      out(versionLine());
      return EXIT.ok;
    }
    const [command, ...args] = positionals;
    if (command === undefined) throw new UsageError('a command is needed');
    await run(command, args, configOf(values));
    return EXIT.ok;
  } catch (e) {
    if (e instanceof ExitWith) return e.code;
    if (e instanceof Failure) {
      process.stderr.write(`tm: ${e.message}\n`);
      return EXIT.failure;
    }
    if (e instanceof UsageError && e.message.includes('\n')) {
      // A file's problems: one per line, as they are.
      process.stderr.write(`${e.message}\n`);
      return EXIT.usage;
    }
    if (e instanceof UsageError || isParseArgsError(e)) {
      process.stderr.write(`tm: ${oneLine(e.message)} (tm --help)\n`);
      return EXIT.usage;
    }
    if (e instanceof NotFound) {
      process.stderr.write(`tm: ${oneLine(e.message)}\n`);
      return EXIT.notFound;
    }
    if (e instanceof TrafficManagerError) {
      for (const c of e.conflicts ?? []) process.stderr.write(`tm: ${conflictLine(c)}\n`);
      const oldest = e.code === 'history_gone' ? e.problem?.['oldestRevision'] : undefined;
      process.stderr.write(`tm: ${oneLine(e.message)}${typeof oldest === 'number' ? ` (the oldest revision kept: ${oldest})` : ''}\n`);
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

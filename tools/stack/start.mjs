// `npm start`: the whole system on this machine, in the foreground. Ctrl-C stops what it started.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  dataDir,
  ensureDataDir,
  ensureDependencies,
  ensureKafka,
  ensurePostgres,
  ensureRedis,
  envValue,
  masked,
  repo,
  run,
  say,
  SetupError,
  stopRunning,
  tcpOpen,
} from './infra.mjs';
import { APPS, PROBERS } from './deployables.mjs';
import { lineRenderer, logFormat } from './log-format.mjs';

/** The name of the stored key npm start makes for its probers (replaced on every start). */
const PROBER_KEY_NAME = 'health-prober (npm start)';
const lockFile = join(dataDir, 'stack.pid');
/** What to undo, in reverse order, when stopping. */
const cleanups = [];
const children = new Map();
let stopping;
let signals = 0;
/** How an app's line is printed (JSON as written, or rendered; see log-format.mjs). */
let render = (line) => line;

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** One `npm start` at a time: an exclusive pid file, taken over only from a dead owner. */
function takeLock() {
  ensureDataDir();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lockFile, String(process.pid), { flag: 'wx' });
      cleanups.push(async () => rmSync(lockFile, { force: true }));
      return;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const owner = Number(readFileSync(lockFile, 'utf8'));
      if (owner && alive(owner)) {
        throw new SetupError(`Traffic Manager is already running (npm start, pid ${owner}); stop it with Ctrl-C in its terminal or "kill ${owner}"`);
      }
      rmSync(lockFile, { force: true });
    }
  }
  throw new SetupError(`could not take ${lockFile}`);
}

async function waitReady(app, port, child) {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (stopping) return;
    if (child.exitCode !== null) throw new SetupError(`${app} exited while starting (exit ${child.exitCode}); its lines are above`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new SetupError(`${app} was not ready on port ${port} within 60 s`);
}

/**
 * A stored key for the probers: routes:read on every tenant (no tenant bound), as production gives
 * them. The one an earlier npm start made is revoked first, so keys do not pile up.
 */
async function proberApiKey(commandApi, adminToken) {
  const headers = { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' };
  const list = await fetch(`${commandApi}/v1/api-keys`, { headers, signal: AbortSignal.timeout(10_000) });
  if (list.ok) {
    const body = await list.json();
    const items = Array.isArray(body) ? body : (body.items ?? []);
    for (const key of items.filter((k) => k.name === PROBER_KEY_NAME && !k.revokedAt)) {
      await fetch(`${commandApi}/v1/api-keys/${key.id}`, { method: 'DELETE', headers: { authorization: headers.authorization }, signal: AbortSignal.timeout(10_000) });
    }
  }
  const res = await fetch(`${commandApi}/v1/api-keys`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ name: PROBER_KEY_NAME, scopes: ['routes:read'] }),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 201) throw new SetupError(`could not create the probers' API key: the command API answered ${res.status}`);
  return (await res.json()).key;
}

function startApp(app, env) {
  const child = spawn(process.execPath, [join(repo, 'dist', 'apps', app.name, 'main.js')], {
    cwd: repo,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const label = app.label ?? app.name;
  const pad = label.padEnd(19);
  const relay = (stream) => {
    let rest = '';
    stream.on('data', (chunk) => {
      const lines = (rest + chunk.toString('utf8')).split('\n');
      rest = lines.pop();
      for (const line of lines) process.stdout.write(`${pad} | ${render(line)}\n`);
    });
  };
  relay(child.stdout);
  relay(child.stderr);
  child.once('exit', (code, signal) => {
    children.delete(label);
    if (!stopping) {
      say(`${label} exited (${signal ?? `exit ${code}`}); stopping everything`);
      void shutdown(1);
    }
  });
  children.set(label, child);
  return child;
}

function stopChildren() {
  return Promise.all(
    [...children.values()].map(
      (child) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

/** Stops the apps, then undoes what this run set up. Runs once, whatever asks for it. */
function shutdown(code) {
  stopping ??= (async () => {
    say('stopping');
    await Promise.all([stopRunning(), stopChildren()]);
    for (const cleanup of [...cleanups].reverse()) {
      try {
        await cleanup();
      } catch (e) {
        say(`cleanup failed: ${e.message}`);
      }
    }
    say('stopped');
    process.exit(code);
  })();
  return stopping;
}

/** First Ctrl-C: stop in order. Another one: kill the apps at once; Kafka and Redis are still stopped. */
function onSignal() {
  signals += 1;
  if (signals === 1) return void shutdown(0);
  say('stopping harder: killing the apps');
  for (const child of children.values()) child.kill('SIGKILL');
}

async function main() {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let format;
  try {
    format = logFormat(process.env, process.stdout.isTTY === true);
  } catch (e) {
    throw new SetupError(e.message);
  }
  takeLock();
  const dns = APPS.flatMap((app) => (app.dns ? [app.dns] : []));
  for (const app of [...APPS, ...PROBERS, ...dns]) {
    const port = Number(envValue(process.env, app.portVar) ?? app.port);
    if (port === 0) continue;
    if (await tcpOpen('127.0.0.1', port, 300)) {
      throw new SetupError(`port ${port} (${app.portVar}) is in use: is Traffic Manager already running? Set ${app.portVar} to use another port`);
    }
  }
  await ensureDependencies();
  render = await lineRenderer(format);
  const databaseUrl = await ensurePostgres(process.env, 'traffic_manager');
  const redis = await ensureRedis(process.env);
  cleanups.push(redis.stop);
  const kafka = await ensureKafka(process.env, (stop) => cleanups.push(stop));
  // A stop asked for during the setup ends it here (the step that was running has been stopped).
  if (stopping) return;
  say('building the apps and the console (cached after the first time)');
  await run('npx', ['nx', 'run-many', '-t', 'build', '--projects=command-api,console,resolver,outbox-relay,invalidation-worker,health-prober,migrations', '--output-style=static']);
  if (stopping) return;
  say('migrating the database');
  await run(process.execPath, [join(repo, 'dist', 'migrations', 'main.js')], { env: { ...process.env, DATABASE_URL: databaseUrl } });
  const adminToken = envValue(process.env, 'TM_ADMIN_TOKEN') ?? `tm_admin_${randomBytes(24).toString('base64url')}`;
  const env = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    KAFKA_BROKERS: kafka.brokers,
    TM_ADMIN_TOKEN: adminToken,
  };
  if (stopping) return;
  const ports = APPS.map((app) => Number(envValue(process.env, app.portVar) ?? app.port));
  // The console: served by the command API (APPS[0]) at /console/, it calls the resolver (APPS[1])
  // from either name of this machine; both APIs allow those two origins unless the user chose others.
  const consoleOrigins = `http://127.0.0.1:${ports[0]},http://localhost:${ports[0]}`;
  env.CORS_ALLOWED_ORIGINS = envValue(process.env, 'CORS_ALLOWED_ORIGINS') ?? consoleOrigins;
  const consoleEnv = { CONSOLE_RESOLVER_URL: envValue(process.env, 'CONSOLE_RESOLVER_URL') ?? `http://127.0.0.1:${ports[1]}` };
  const started = APPS.map((app, i) => {
    const port = ports[i];
    return { app, port, child: startApp(app, { ...env, ...(i === 0 ? consoleEnv : {}), [app.portVar]: String(port) }) };
  });
  await Promise.all(started.map(({ app, port, child }) => waitReady(app.label ?? app.name, port, child)));
  if (stopping) return;
  const commandApi = `http://127.0.0.1:${started[0].port}`;
  const proberKey = envValue(process.env, 'PROBER_API_KEY') ?? (await proberApiKey(commandApi, adminToken));
  const resolverUrl = `http://127.0.0.1:${started[1].port}`;
  // Development: endpoints on this machine (127.0.0.1, localhost) may be probed. Production keeps it off.
  const allowLoopback = envValue(process.env, 'PROBE_ALLOW_LOOPBACK') ?? 'true';
  say(`the probers ${allowLoopback.trim().toLowerCase() === 'true' ? 'probe' : 'refuse'} loopback addresses (PROBE_ALLOW_LOOPBACK=${allowLoopback}; production leaves it off)`);
  const probers = PROBERS.map((app) => {
    const port = Number(envValue(process.env, app.portVar) ?? app.port);
    const proberEnv = {
      ...env,
      HEALTH_PROBER_PORT: String(port),
      RESOLVER_URL: resolverUrl,
      PROBER_API_KEY: proberKey,
      PROBER_ID: app.label,
      PROBE_ALLOW_LOOPBACK: allowLoopback,
    };
    return { app, port, child: startApp(app, proberEnv) };
  });
  await Promise.all(probers.map(({ app, port, child }) => waitReady(app.label, port, child)));
  started.push(...probers);
  if (stopping) return;
  const lines = [
    '',
    'Traffic Manager is up.',
    ...started.map(({ app, port }) => `  ${(app.label ?? app.name).padEnd(20)} http://127.0.0.1:${port}   ${app.what}`),
    `  ${'console'.padEnd(20)} http://127.0.0.1:${started[0].port}/console/   web console (sign in with the admin token or an API key)`,
    dnsLine(),
    `  ${'PostgreSQL'.padEnd(20)} ${masked(databaseUrl)}`,
    `  ${'Redis'.padEnd(20)} ${masked(redis.url)}`,
    `  ${'Kafka'.padEnd(20)} ${kafka.brokers}${kafka.started ? ' (started by npm start)' : ''}`,
    `  ${'Admin token'.padEnd(20)} ${adminToken}${envValue(process.env, 'TM_ADMIN_TOKEN') ? ' (TM_ADMIN_TOKEN)' : ' (generated; set TM_ADMIN_TOKEN to choose it)'}`,
    '  Every app answers /health/live, /health/ready and /metrics. Ctrl-C stops everything npm start started.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

/** The resolver's DNS (RESOLVER_DNS_PORT; 0: off): where to ask, with an example. */
function dnsLine() {
  const dns = APPS[1].dns;
  if (!dns) return '';
  const port = Number(envValue(process.env, dns.portVar) ?? dns.port);
  const zone = (envValue(process.env, 'DNS_ZONE') ?? 'tm.internal.').replace(/\.?$/, '.');
  if (port === 0) return `  ${'dns'.padEnd(20)} off (${dns.portVar}=0)`;
  return `  ${'dns'.padEnd(20)} udp+tcp 127.0.0.1:${port}   ${dns.what}; zone ${zone} (dig @127.0.0.1 -p ${port} <environment>.<service>.<tenant>.${zone})`;
}

main().catch((e) => {
  if (!stopping) process.stderr.write(`npm start: ${e instanceof SetupError ? e.message : e.stack}\n`);
  void shutdown(1);
});

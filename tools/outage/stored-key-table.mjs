// The outage table for a stored key: a resolver verifies a tenant-scoped key and caches a route,
// PostgreSQL is cut (a proxy of this script's own refuses every connection), and the key's answers
// are read at +1, +6 and +20 s on that replica and on one started during the cut. Default settings
// (CACHE_TTL_SECONDS 60, AUTH_CACHE_TTL_MS 5000, AUTH_STALE_GRACE_SECONDS 3600).
//
//   npx nx run-many -t build -p resolver && node tools/outage/stored-key-table.mjs
//
// Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379; creates and drops a database of its own.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(repo, 'package.json'));
const { Client } = require('pg');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const admin = 'outage-table-admin-token-0123456789';
const dbName = `tm_outage_${Date.now().toString(36)}`;
const base = process.env.TM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const dbUrl = base.replace(/\/[^/]*$/, `/${dbName}`);
const prefix = `tm:outage:${Date.now().toString(36)}:`;

// A proxy in front of PostgreSQL: `cut` drops every connection and refuses new ones.
let cut = false;
const sockets = new Set();
const proxy = createServer((client) => {
  if (cut) return void client.destroy();
  const upstream = connect({ host: '127.0.0.1', port: 5432 });
  for (const s of [client, upstream]) {
    sockets.add(s);
    s.on('error', () => s.destroy());
    s.once('close', () => (sockets.delete(s), client.destroy(), upstream.destroy()));
  }
  client.pipe(upstream);
  upstream.pipe(client);
});
await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
const proxied = dbUrl.replace('127.0.0.1:5432', `127.0.0.1:${proxy.address().port}`);

const maintenance = new Client({ connectionString: base });
await maintenance.connect();
await maintenance.query(`CREATE DATABASE ${dbName}`);
const children = [];
try {
  const migrated = spawnSync(process.execPath, [join(repo, 'tools/stack/migrate.mjs')], { env: { ...process.env, DATABASE_URL: dbUrl }, stdio: 'ignore' });
  if (migrated.status !== 0) throw new Error('migration failed');
  const db = new Client({ connectionString: dbUrl });
  await db.connect();
  const lookup = randomBytes(10).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const key = `tm_${lookup}_${secret}`;
  await db.query("INSERT INTO tenants (slug) VALUES ('acme')");
  await db.query(
    "INSERT INTO api_keys (lookup, secret_hash, name, tenant_id, scopes) SELECT $1, $2, 'reader', id, '{routes:read}' FROM tenants WHERE slug = 'acme'",
    [lookup, createHash('sha256').update(secret).digest()],
  );
  await db.query("INSERT INTO services (tenant_id, name) SELECT id, 'web' FROM tenants WHERE slug = 'acme'");
  await db.query("UPDATE store_revision SET revision = revision + 1");
  await db.query(
    "INSERT INTO endpoints (service_id, environment, url, revision, updated_at) SELECT id, 'prod', 'https://web.acme.internal/', 1, now() FROM services",
  );
  await db.end();

  const start = async (port) => {
    const child = spawn(process.execPath, [join(repo, 'dist/apps/resolver/main.js')], {
      env: { PATH: process.env.PATH, RESOLVER_PORT: String(port), DATABASE_URL: proxied, REDIS_URL: 'redis://127.0.0.1:6379', CACHE_KEY_PREFIX: prefix, TM_ADMIN_TOKEN: admin, LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    children.push(child);
    for (;;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/health/live`)).ok) return `http://127.0.0.1:${port}`;
      } catch {
        await sleep(100);
      }
    }
  };
  const resolve = async (url, route = 'acme/web/prod') => {
    const res = await fetch(`${url}/v1/resolve/${route}`, { headers: { authorization: `Bearer ${key}` } });
    return `${res.status} ${res.headers.get('x-cache') ?? '-'}`;
  };
  const a = await start(31_900 + Math.floor(Math.random() * 50));
  for (let i = 0; i < 50 && !(await fetch(`${a}/health/ready`)).ok; i++) await sleep(200);
  console.log(`before the cut, replica A: ${await resolve(a)} then ${await resolve(a)}`);
  cut = true;
  for (const s of sockets) s.destroy();
  const t0 = Date.now();
  const b = await start(31_960 + Math.floor(Math.random() * 30));
  const rows = [];
  for (const at of [1, 6, 20]) {
    await sleep(t0 + at * 1000 - Date.now());
    rows.push(`| +${at} s | ${await resolve(a)} | ${await resolve(b)} | ${await resolve(a, 'acme/web/never-cached')} |`);
  }
  console.log('| since the cut | replica A (verified the key) | replica B (started during the cut) | an uncached route (A) |');
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
} finally {
  for (const child of children) child.kill('SIGTERM');
  await sleep(1_000);
  proxy.close();
  await maintenance.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  await maintenance.end();
  const redis = spawnSync('redis-cli', ['--scan', '--pattern', `${prefix}*`], { encoding: 'utf8' });
  for (const k of redis.stdout.split('\n').filter(Boolean)) spawnSync('redis-cli', ['DEL', k]);
}

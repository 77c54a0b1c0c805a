// The bench's baseline: a bare Fastify server answering GET /v1/resolve/{tenant}/{service}/{environment}
// with the JSON body and headers the resolver gave for a cache hit, after the same check of the
// Authorization header, as libs/auth does it: BENCH_TOKENS (comma-separated) are the tokens the load
// presents, the admin token (the presented token and it compared by SHA-256, timingSafeEqual) or
// stored keys `tm_<lookup>_<secret>` as POST /v1/api-keys answered them (the presented token parsed,
// its lookup found, the SHA-256 of its secret compared with the stored hash, timingSafeEqual). A
// token that passed is then trusted from a Map, as the resolver's ApiKeyVerifier trusts a verified
// key from its cache: per request, the same check the resolver makes. No Nest, no logs, no Redis:
// the practical ceiling of a Node HTTP service here.
// Run by tools/bench/run.mjs in a process of its own:
//   BENCH_TOKENS=... BENCH_ANSWERS=answers.json node tools/bench/baseline.mjs
// prints {"port": N} once listening (PORT, default 0: any free port), stops on SIGTERM or SIGINT.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** @typedef {import('./report.cjs').Json} Json */

const require = createRequire(import.meta.url);
const Fastify = require('fastify');

const tokens = (process.env.BENCH_TOKENS ?? '').split(',').filter(Boolean);
if (tokens.length === 0) throw new Error('baseline: BENCH_TOKENS is required');
/** "tenant/service/environment" -> { body, headers } as the resolver answered a hit. */
const answersFile = process.env.BENCH_ANSWERS;
if (!answersFile) throw new Error('baseline: BENCH_ANSWERS is required');
const answers = new Map(Object.entries(JSON.parse(readFileSync(answersFile, 'utf8'))));

/** @param {string} s */
const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest();
const bearer = /^Bearer +([^\s]+) *$/i;
/** libs/auth's stored key format: tm_<lookup>_<secret>. */
const KEY_FORMAT = /^tm_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;
/** What is kept of the expected tokens: stored keys' secret hashes by lookup, and the admin tokens' hashes. */
const storedKeys = new Map();
/** @type {Buffer[]} */
const adminHashes = [];
for (const token of tokens) {
  const stored = KEY_FORMAT.exec(token);
  if (stored) storedKeys.set(stored[1], sha256(stored[2]));
  else adminHashes.push(sha256(token));
}
/** Tokens that passed the check once, trusted from then on (the resolver's verified-key cache). */
const trusted = new Set();

/**
 * The same check as the resolver's for the tokens the bench presents.
 * @param {string} presented
 */
function verify(presented) {
  if (trusted.has(presented)) return true;
  const hash = sha256(presented);
  let ok = adminHashes.some((h) => timingSafeEqual(hash, h));
  const key = KEY_FORMAT.exec(presented);
  const storedHash = key ? storedKeys.get(key[1]) : undefined;
  if (key && storedHash) ok = timingSafeEqual(sha256(key[2]), storedHash);
  if (ok) trusted.add(presented);
  return ok;
}

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.get('/v1/resolve/:tenant/:service/:environment', (request, reply) => {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? bearer.exec(header) : null;
  if (!match || !verify(match[1])) {
    return reply.code(401).header('www-authenticate', 'Bearer realm="traffic-manager"').send({ status: 401 });
  }
  const { tenant, service, environment } = /** @type {{ tenant: string, service: string, environment: string }} */ (request.params);
  const answer = answers.get(`${tenant}/${service}/${environment}`);
  if (!answer) return reply.code(404).send({ status: 404 });
  // The resolver's whole body (endpoints and failOpen included), serialised on every answer as it is.
  return reply.headers(answer.headers).send({ ...answer.body, tenant, service, environment });
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.stdout.write(`${JSON.stringify({ port: /** @type {import('node:net').AddressInfo} */ (app.server.address()).port })}\n`);
const stop = () => app.close().then(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

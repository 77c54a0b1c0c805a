// The bench's baseline: a bare Fastify server answering GET /v1/resolve/{tenant}/{service}/{environment}
// with the JSON body and headers the resolver gave for a cache hit, after the same check of the
// Authorization header, as libs/auth does it: BENCH_TOKEN is the admin token (the presented token and
// it compared by SHA-256, timingSafeEqual) or a stored key's `tm_<lookup>_<secret>` as
// POST /v1/api-keys answered it (the presented token parsed, its lookup matched, the SHA-256 of its
// secret compared with the stored hash, timingSafeEqual): the check of the admin token or of a stored
// `routes:read` key, whichever the load presents to the resolver. No Nest, no logs, no Redis: the
// practical ceiling of a Node HTTP service here.
// Run by tools/bench/run.mjs in a process of its own:
//   BENCH_TOKEN=... BENCH_ANSWERS=answers.json node tools/bench/baseline.mjs
// prints {"port": N} once listening (PORT, default 0: any free port), stops on SIGTERM or SIGINT.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/** @typedef {import('./report.cjs').Json} Json */

const require = createRequire(import.meta.url);
const Fastify = require('fastify');

const token = process.env.BENCH_TOKEN;
if (!token) throw new Error('baseline: BENCH_TOKEN is required');
/** "tenant/service/environment" -> { body, headers } as the resolver answered a hit. */
const answersFile = process.env.BENCH_ANSWERS;
if (!answersFile) throw new Error('baseline: BENCH_ANSWERS is required');
const answers = new Map(Object.entries(JSON.parse(readFileSync(answersFile, 'utf8'))));

/** @param {string} s */
const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest();
const bearer = /^Bearer +([^\s]+) *$/i;
/** libs/auth's stored key format: tm_<lookup>_<secret>. */
const KEY_FORMAT = /^tm_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;
const stored = KEY_FORMAT.exec(token);
/** What is kept of the expected token: a stored key's lookup and secret hash, or the admin token's hash. */
const expected = stored ? { lookup: stored[1], hash: sha256(stored[2]) } : { lookup: null, hash: sha256(token) };

/**
 * The same check as the resolver's for the token the bench presents.
 * @param {string} presented
 */
function verify(presented) {
  if (expected.lookup === null) return timingSafeEqual(sha256(presented), expected.hash);
  const key = KEY_FORMAT.exec(presented);
  return key !== null && key[1] === expected.lookup && timingSafeEqual(sha256(key[2]), expected.hash);
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

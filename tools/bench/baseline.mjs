// The bench's baseline: a bare Fastify server answering GET /v1/resolve/{tenant}/{service}/{environment}
// with the JSON body and headers the resolver gave for a cache hit, after the same check of the
// Authorization header (a bearer token compared with the admin token as libs/auth does: SHA-256 of
// both, timingSafeEqual). No Nest, no logs, no Redis: the practical ceiling of a Node HTTP service here.
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

const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
app.get('/v1/resolve/:tenant/:service/:environment', (request, reply) => {
  const header = request.headers.authorization;
  const match = typeof header === 'string' ? bearer.exec(header) : null;
  if (!match || !timingSafeEqual(sha256(match[1]), sha256(token))) {
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

// The bench's floor: Node's own `http.createServer` answering every request with one constant JSON
// body, the size of the resolver's answer for a cache hit (the first route's in BENCH_ANSWERS, the
// file the baseline reads), and nothing else: no routing, no check, no framework. What one Node
// process answers on this machine at most; the bench shows the generator reaches it (this process
// at a whole core).
// Run by tools/bench/run.mjs in a process of its own:
//   BENCH_ANSWERS=answers.json node tools/bench/floor.mjs
// prints {"port": N, "bytes": N} once listening (PORT, default 0: any free port), stops on SIGTERM or SIGINT.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const answersFile = process.env.BENCH_ANSWERS;
if (!answersFile) throw new Error('floor: BENCH_ANSWERS is required');
/** @type {Record<string, { body: unknown }>} */
const answers = JSON.parse(readFileSync(answersFile, 'utf8'));
const first = Object.values(answers)[0];
if (!first) throw new Error(`floor: ${answersFile} holds no answer`);
const body = Buffer.from(JSON.stringify(first.body), 'utf8');
const headers = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(body.length) };

const server = createServer((_req, res) => {
  res.writeHead(200, headers).end(body);
});
server.keepAliveTimeout = 65_000;
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  process.stdout.write(`${JSON.stringify({ port, bytes: body.length })}\n`);
});
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);

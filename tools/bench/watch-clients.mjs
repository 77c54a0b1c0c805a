// The bench's watch clients, in a process of their own (so that parsing the streams does not share
// an event loop with the bench's writes): opens `--streams` watch streams on one resolver, spread
// over `--tenants` tenants, and records when each change event arrives on each stream. At most
// OPENING streams wait for their snapshot at once (each is a PostgreSQL read in the resolver: 10,000
// at once would be refused as overloaded); a stream refused with 503 or 429 is opened again after
// its Retry-After.
// Talks to the bench over IPC: sends {ready} once every stream has its snapshot's bookmark, and on
// {collect} sends {arrivals: {<revision>: [ms since the epoch, ...]}} and exits.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { opener } from './lib.mjs';
import { sseReader } from './sse.mjs';

const { values } = parseArgs({
  options: { resolver: { type: 'string' }, token: { type: 'string' }, tenants: { type: 'string' }, streams: { type: 'string' } },
});
const tenants = (values.tenants ?? '').split(',');
const streams = Number(values.streams);
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
/** Streams waiting for their snapshot at once, at most. */
const OPENING = 100;
const now = () => performance.timeOrigin + performance.now();
/** revision -> arrival times, one per stream that got it. */
const arrivals = new Map();
let synced = 0;
/** @type {import('node:http').IncomingMessage[]} */
const responses = [];

/**
 * @param {string} tenant
 * @param {import('./lib.mjs').Opening} opening
 */
function open(tenant, opening) {
  const req = request(`${values.resolver}/v1/watch/${tenant}`, { agent, headers: { authorization: `Bearer ${values.token}`, accept: 'text/event-stream' } }, (res) => {
    if (res.statusCode === 503 || res.statusCode === 429) {
      res.resume();
      opening.retry(Number(res.headers['retry-after'] ?? 1) * 1000);
      return;
    }
    if (res.statusCode !== 200) {
      process.send?.({ error: `watch ${tenant}: ${res.statusCode}` });
      return;
    }
    responses.push(res);
    res.setEncoding('utf8');
    let snapshotDone = false;
    let at = 0;
    const read = sseReader((event, id) => {
      if (event === 'bookmark') {
        if (!snapshotDone) {
          snapshotDone = true;
          opening.done();
          if (++synced === streams) process.send?.({ ready: true });
        }
        return;
      }
      if ((event !== 'put' && event !== 'delete') || id === undefined) return;
      const list = arrivals.get(id) ?? [];
      list.push(at);
      arrivals.set(id, list);
    });
    res.on('data', (chunk) => {
      at = now();
      read(chunk);
    });
  });
  req.on('error', (e) => process.send?.({ error: `watch ${tenant}: ${e.message}` }));
  req.end();
}

const opens = opener(OPENING);
for (let i = 0; i < streams; i++) opens.add((opening) => open(tenants[i % tenants.length], opening));

process.on('message', (/** @type {{ collect?: boolean } | undefined} */ m) => {
  if (m?.collect) {
    for (const res of responses) res.destroy();
    process.send?.({ arrivals: Object.fromEntries(arrivals) }, undefined, {}, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

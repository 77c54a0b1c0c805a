// The bench's watch clients, in a process of their own (so that parsing the streams does not share
// an event loop with the bench's writes): opens `--streams` watch streams on one resolver, spread
// over `--tenants` tenants, and records when each change event arrives on each stream.
// Talks to the bench over IPC: sends {ready} once every stream has its snapshot's bookmark, and on
// {collect} sends {arrivals: {<revision>: [ms since the epoch, ...]}} and exits.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { sseReader } from './sse.mjs';

const { values } = parseArgs({
  options: { resolver: { type: 'string' }, token: { type: 'string' }, tenants: { type: 'string' }, streams: { type: 'string' } },
});
const tenants = (values.tenants ?? '').split(',');
const streams = Number(values.streams);
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
const now = () => performance.timeOrigin + performance.now();
/** revision -> arrival times, one per stream that got it. */
const arrivals = new Map();
let synced = 0;
/** @type {import('node:http').IncomingMessage[]} */
const responses = [];

/** @param {string} tenant */
function open(tenant) {
  const req = request(`${values.resolver}/v1/watch/${tenant}`, { agent, headers: { authorization: `Bearer ${values.token}`, accept: 'text/event-stream' } }, (res) => {
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

for (let i = 0; i < streams; i++) open(tenants[i % tenants.length]);

process.on('message', (/** @type {{ collect?: boolean } | undefined} */ m) => {
  if (m?.collect) {
    for (const res of responses) res.destroy();
    process.send?.({ arrivals: Object.fromEntries(arrivals) }, undefined, {}, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

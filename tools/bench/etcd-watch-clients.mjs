// etcd's watch clients, in a process of their own, as watch-clients.mjs is for the resolver's
// streams: opens `--streams` watches over etcd's JSON gateway (`POST /v3/watch`, one HTTP request
// and so one gRPC watch stream each), spread over `--prefixes` (each watch a range: the prefix and
// every key under it), and records when each event arrives on each watch. At most OPENING watches
// wait to be created at once, as watch-clients.mjs opens the resolver's streams.
// Talks to the bench over IPC: sends {ready} once every watch is created, and on {collect} sends
// {arrivals: {<mod_revision>: [ms since the epoch, ...]}} and exits.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';
import { opener } from './lib.mjs';

const { values } = parseArgs({ options: { url: { type: 'string' }, prefixes: { type: 'string' }, streams: { type: 'string' } } });
const prefixes = (values.prefixes ?? '').split(',');
const streams = Number(values.streams);
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
/** Watches waiting to be created at once, at most (as the resolver's streams wait for their snapshots). */
const OPENING = 100;
const now = () => performance.timeOrigin + performance.now();
/** @param {string} s */
const b64 = (s) => Buffer.from(s, 'utf8').toString('base64');
/**
 * The end of a prefix's range: the prefix with its last byte raised by one.
 * @param {string} prefix
 */
const rangeEnd = (prefix) => {
  const bytes = Buffer.from(prefix, 'utf8');
  bytes[bytes.length - 1] += 1;
  return bytes.toString('base64');
};
/** mod_revision -> arrival times, one per watch that got it. */
const arrivals = new Map();
let created = 0;
/** @type {import('node:http').IncomingMessage[]} */
const responses = [];

/**
 * @param {string} prefix
 * @param {import('./lib.mjs').Opening} opening
 */
function open(prefix, opening) {
  const body = JSON.stringify({ create_request: { key: b64(prefix), range_end: rangeEnd(prefix) } });
  const req = request(`${values.url}/v3/watch`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
    if (res.statusCode !== 200) {
      process.send?.({ error: `etcd watch ${prefix}: ${res.statusCode}` });
      return;
    }
    responses.push(res);
    res.setEncoding('utf8');
    let pending = '';
    res.on('data', (chunk) => {
      const at = now();
      pending += chunk;
      // The gateway writes one JSON message a line.
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.trim()) continue;
        /** @type {{ result?: { created?: boolean, events?: Array<{ kv?: { mod_revision?: string } }> }, error?: unknown }} */
        const message = JSON.parse(line);
        if (message.error) {
          process.send?.({ error: `etcd watch ${prefix}: ${JSON.stringify(message.error)}` });
          continue;
        }
        const result = message.result;
        if (result?.created) {
          opening.done();
          if (++created === streams) process.send?.({ ready: true });
        }
        for (const event of result?.events ?? []) {
          const revision = event.kv?.mod_revision;
          if (revision === undefined) continue;
          const list = arrivals.get(revision) ?? [];
          list.push(at);
          arrivals.set(revision, list);
        }
      }
    });
  });
  req.on('error', (e) => process.send?.({ error: `etcd watch ${prefix}: ${e.message}` }));
  req.end(body);
}

const opens = opener(OPENING);
for (let i = 0; i < streams; i++) opens.add((opening) => open(prefixes[i % prefixes.length], opening));

process.on('message', (/** @type {{ collect?: boolean } | undefined} */ m) => {
  if (m?.collect) {
    for (const res of responses) res.destroy();
    process.send?.({ arrivals: Object.fromEntries(arrivals) }, undefined, {}, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

// The bench's watch clients, in a process of their own (so that parsing the streams does not share
// an event loop with the bench's writes): opens `--streams` watch streams on one resolver, spread
// over `--tenants` tenants, and records when each change event arrives on each stream.
// Talks to the bench over IPC: sends {ready} once every stream has its snapshot's bookmark, and on
// {collect} sends {arrivals: {<revision>: [ms since the epoch, ...]}} and exits.
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { resolver: { type: 'string' }, token: { type: 'string' }, tenants: { type: 'string' }, streams: { type: 'string' } },
});
const tenants = values.tenants.split(',');
const streams = Number(values.streams);
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
const now = () => performance.timeOrigin + performance.now();
/** revision -> arrival times, one per stream that got it. */
const arrivals = new Map();
let synced = 0;
const responses = [];

function open(tenant) {
  const req = request(`${values.resolver}/v1/watch/${tenant}`, { agent, headers: { authorization: `Bearer ${values.token}`, accept: 'text/event-stream' } }, (res) => {
    if (res.statusCode !== 200) {
      process.send?.({ error: `watch ${tenant}: ${res.statusCode}` });
      return;
    }
    responses.push(res);
    res.setEncoding('utf8');
    let buffer = '';
    let snapshotDone = false;
    res.on('data', (chunk) => {
      const at = now();
      buffer += chunk;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.startsWith('event: bookmark')) {
          if (!snapshotDone) {
            snapshotDone = true;
            if (++synced === streams) process.send?.({ ready: true });
          }
          continue;
        }
        if (!block.startsWith('event: put') && !block.startsWith('event: delete')) continue;
        const id = /\nid: (\d+)/.exec(block);
        if (!id) continue;
        const list = arrivals.get(id[1]) ?? [];
        list.push(at);
        arrivals.set(id[1], list);
      }
    });
  });
  req.on('error', (e) => process.send?.({ error: `watch ${tenant}: ${e.message}` }));
  req.end();
}

for (let i = 0; i < streams; i++) open(tenants[i % tenants.length]);

process.on('message', (m) => {
  if (m?.collect) {
    for (const res of responses) res.destroy();
    process.send?.({ arrivals: Object.fromEntries(arrivals) }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

// The watch soak's clients (tools/bench/soak.mjs), in a process of their own so that parsing
// thousands of streams does not share an event loop with the bench's writes:
//   - readers: watch streams read as they come; each change event is timed against its write's
//     answer (sent by the bench); a reader that is cut resumes from its last id;
//   - non-readers: raw sockets that send the watch request and never read a byte (paused before they
//     connect, so nothing is ever read from the kernel). The resolver cuts one whose client took
//     nothing for WATCH_MAX_CONGESTED_MS; a paused socket cannot see that, so the clients look at the
//     kernel's view of the resolver's side of each connection (/proc/net/tcp, the same machine): no
//     longer ESTABLISHED means cut. The client then closes it (its unread bytes make the close a
//     reset, freeing both sides) and opens a new one, so as many non-readers stay open throughout.
// IPC with the bench: {open} -> {readers} once every reader has its snapshot's bookmark;
// {openNonReaders} -> {nonReaders} once every non-reader is connected; {answers: [[revision, tenant
// index, answered at (ms since the epoch)], ...]}; {stats} -> {stats} (the deliveries since the last
// one); {finish} -> {final} and exit.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { summarizeLatencies } from './report.cjs';
import { sleep } from './processes.mjs';
import { sseReader } from './sse.mjs';

/** @typedef {{ slug: string, key: string }} SoakTenant A tenant of the soak and its stored key (routes:read). */
/** @typedef {{ resolver: string, tenants: SoakTenant[], readersPerTenant: number, nonReadersPerTenant: number, graceMs: number }} Config What the bench sends with {open}. */
/** @typedef {[revision: number, tenant: number, at: number]} Answered A write's answer: its revision, its tenant's index and when (ms since the epoch). */
/** @typedef {{ open?: Config, openNonReaders?: boolean, answers?: Answered[], stats?: boolean, finish?: boolean }} Request A message from the bench. */
/** @typedef {{ tenant: number, lastId: string | undefined, res: import('node:http').IncomingMessage | undefined, synced: boolean }} Reader */
/** @typedef {{ tenant: number, socket?: import('node:net').Socket, port?: number, connectedAt?: number }} NonReader */
/** @typedef {ReturnType<typeof stats>} Stats The clients' counts and the deliveries since the last {stats}. */
/** @typedef {Stats & { ms: ReturnType<typeof summarizeLatencies>['latencyMs'] }} Final The counts and every delivery's latency, on {finish}. */

const now = () => performance.timeOrigin + performance.now();
const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
/** Readers opening at once (each needs a snapshot: the resolver reads PostgreSQL for it). */
const OPENING = 100;
const SCAN_MS = 2_000;
/** Non-readers reopened per scan at most (the rest at the next one). */
const REOPEN_PER_SCAN = 200;

/** @type {Config} set by {open}, the bench's first message */
let config;
let finishing = false;
/** @type {Reader[]} */
const readers = [];
/** @type {NonReader[]} */
const nonReaders = [];
let readersSynced = 0;
let readersReady = false;
/** @type {{ count: number, queue: Reader[] }} */
const opening = { count: 0, queue: [] };
const counts = { readerReconnects: 0, readerRefused: 0, readerErrors: 0, cuts: 0, reopens: 0, nonReaderErrors: 0, missing: 0, late: 0, unanswered: 0 };
/**
 * revision -> arrival times (ms since the epoch), one per reader that got it.
 * @type {Map<string, number[]>}
 */
const arrivals = new Map();
/**
 * revision -> { tenant, at }: writes answered, waiting for their deliveries.
 * @type {Map<string, { tenant: number, at: number }>}
 */
const answers = new Map();
/**
 * Revisions whose deliveries were counted, the oldest first (the last few minutes' only): a delivery of one now is late.
 * @type {Set<string>}
 */
const counted = new Set();
let deltas = new Float64Array(1 << 20);
let deltaCount = 0;
/** @type {number[]} */
let windowDeltas = [];
let windowMissing = 0;
let unread = { client: 0, server: 0 };

/** @param {{ readers: number } | { nonReaders: number } | { stats: Stats }} message */
function send(message) {
  process.send?.(message);
}

// ------------------------------------------------------------------------------------------------
// Readers

function pumpOpens() {
  while (opening.count < OPENING) {
    const reader = opening.queue.shift();
    if (!reader) return;
    openReader(reader);
  }
}

/**
 * @param {Reader} reader
 * @param {number} delayMs
 */
function reopenReader(reader, delayMs) {
  if (finishing) return;
  setTimeout(() => {
    opening.queue.push(reader);
    pumpOpens();
  }, delayMs).unref();
}

/** @param {Reader} reader */
function openReader(reader) {
  const tenant = config.tenants[reader.tenant];
  /** @type {Record<string, string>} */
  const headers = { authorization: `Bearer ${tenant.key}`, accept: 'text/event-stream' };
  if (reader.lastId !== undefined) headers['last-event-id'] = reader.lastId;
  opening.count++;
  let opened = true;
  let ended = false;
  const settle = () => {
    if (!opened) return;
    opened = false;
    opening.count--;
    pumpOpens();
  };
  /** @param {number} delayMs */
  const end = (delayMs) => {
    settle();
    if (ended) return;
    ended = true;
    reader.res = undefined;
    if (reader.synced) {
      reader.synced = false;
      readersSynced--;
    }
    if (!finishing) {
      counts.readerReconnects++;
      reopenReader(reader, delayMs);
    }
  };
  const req = request(`${config.resolver}/v1/watch/${tenant.slug}`, { agent, headers }, (res) => {
    if (res.statusCode !== 200) {
      counts.readerRefused++;
      res.resume();
      end(Number(res.headers['retry-after'] ?? 1) * 1000);
      return;
    }
    reader.res = res;
    res.setEncoding('utf8');
    let at = 0;
    const read = sseReader((event, id) => {
      if (id !== undefined) reader.lastId = id;
      if (event === 'bookmark') {
        if (!reader.synced) {
          reader.synced = true;
          readersSynced++;
          settle();
          if (!readersReady && readersSynced === readers.length) {
            readersReady = true;
            send({ readers: readersSynced });
          }
        }
        return;
      }
      if ((event === 'put' || event === 'delete') && id !== undefined) {
        const list = arrivals.get(id);
        if (list) list.push(at);
        else arrivals.set(id, [at]);
      }
    });
    res.on('data', (chunk) => {
      at = now();
      read(chunk);
    });
    res.on('close', () => end(1_000));
  });
  req.on('error', () => {
    counts.readerErrors++;
    end(1_000);
  });
  req.end();
}

// ------------------------------------------------------------------------------------------------
// Non-readers

/** @param {NonReader} n */
function openNonReader(n) {
  const tenant = config.tenants[n.tenant];
  const { hostname, port } = new URL(config.resolver);
  const socket = connect({ host: hostname, port: Number(port) });
  // Before it connects: the socket never starts reading, so every byte stays in the kernel.
  socket.pause();
  n.socket = socket;
  n.port = undefined;
  n.connectedAt = undefined;
  socket.once('connect', () => {
    n.port = socket.localPort;
    n.connectedAt = Date.now();
  });
  socket.on('error', () => {
    if (n.socket === socket) counts.nonReaderErrors++;
  });
  socket.once('close', () => {
    if (n.socket !== socket || finishing) return;
    // Closed under it (an error): open another at the next scan.
    n.socket = undefined;
  });
  socket.write(`GET /v1/watch/${tenant.slug} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nauthorization: Bearer ${tenant.key}\r\naccept: text/event-stream\r\n\r\n`);
}

/**
 * The kernel's TCP sockets: the resolver's side of each connection by the client's port, and each client socket's unread bytes.
 * @param {number} resolverPort
 */
function tcpTable(resolverPort) {
  /** @type {Map<number, { state: string, unsent: number }>} the state in hex ('01': ESTABLISHED) and the bytes not yet sent */
  const server = new Map();
  /** @type {Map<number, number>} */
  const clientUnread = new Map();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const lines = text.split('\n');
    for (let i = 1; i < lines.length; i++) {
      const f = lines[i].trim().split(/\s+/);
      if (f.length < 5) continue;
      const localPort = parseInt(f[1].slice(f[1].lastIndexOf(':') + 1), 16);
      const remotePort = parseInt(f[2].slice(f[2].lastIndexOf(':') + 1), 16);
      const [tx, rx] = f[4].split(':').map((h) => parseInt(h, 16));
      if (localPort === resolverPort) {
        // A port may show twice (an old connection's leftover): an ESTABLISHED one wins.
        if (server.get(remotePort)?.state !== '01') server.set(remotePort, { state: f[3], unsent: tx });
      } else if (remotePort === resolverPort) clientUnread.set(localPort, rx);
    }
  }
  return { server, clientUnread };
}

/** Finds the non-readers the resolver cut, closes them and opens new ones; sums their unread bytes. */
function scan() {
  const { server, clientUnread } = tcpTable(Number(new URL(config.resolver).port));
  const next = { client: 0, server: 0 };
  let reopened = 0;
  const settled = Date.now() - SCAN_MS;
  for (const n of nonReaders) {
    if (n.socket === undefined) {
      if (reopened++ < REOPEN_PER_SCAN) {
        counts.reopens++;
        openNonReader(n);
      }
      continue;
    }
    if (n.port === undefined || n.connectedAt === undefined || n.connectedAt > settled) continue;
    const side = server.get(n.port);
    if (side?.state === '01') {
      next.client += clientUnread.get(n.port) ?? 0;
      next.server += side.unsent;
      continue;
    }
    counts.cuts++;
    const socket = n.socket;
    n.socket = undefined;
    socket.destroy();
    if (reopened++ < REOPEN_PER_SCAN) {
      counts.reopens++;
      openNonReader(n);
    }
  }
  unread = next;
}

// ------------------------------------------------------------------------------------------------
// Deliveries

/** @param {number} d */
function pushDelta(d) {
  if (deltaCount === deltas.length) {
    const grown = new Float64Array(deltas.length * 2);
    grown.set(deltas);
    deltas = grown;
  }
  deltas[deltaCount++] = d;
  windowDeltas.push(d);
}

/** Counts the deliveries of every write answered more than the grace ago (or of every write: `all`). */
function sweep(all = false) {
  const t = now();
  for (const [revision, answer] of answers) {
    if (!all && t - answer.at < config.graceMs) continue;
    const got = arrivals.get(revision) ?? [];
    for (const at of got) pushDelta(at - answer.at);
    const missing = Math.max(0, config.readersPerTenant - got.length);
    counts.missing += missing;
    windowMissing += missing;
    answers.delete(revision);
    arrivals.delete(revision);
    counted.add(revision);
  }
  // A delivery of a write already counted is late (it was counted missing); the events of a write
  // whose answer never came (its PUT failed at the client, yet committed) are unanswered.
  for (const [revision, list] of arrivals) {
    if (counted.has(revision)) counts.late += list.length;
    else if (answers.has(revision) || (!all && t - list[0] < 2 * config.graceMs)) continue;
    else counts.unanswered += list.length;
    arrivals.delete(revision);
  }
  for (const revision of counted) {
    if (counted.size <= 100_000) break;
    counted.delete(revision);
  }
}

function stats() {
  const window = summarizeLatencies(windowDeltas);
  const s = {
    readersOpen: readersSynced,
    nonReadersOpen: nonReaders.filter((n) => n.socket !== undefined).length,
    ...counts,
    unreadClientBytes: unread.client,
    unreadServerBytes: unread.server,
    deliveries: deltaCount,
    window: { deliveries: window.samples, missing: windowMissing, ...window.latencyMs },
  };
  windowDeltas = [];
  windowMissing = 0;
  return s;
}

// ------------------------------------------------------------------------------------------------

process.on('message', (/** @type {Request | undefined} */ m) => {
  if (m?.open) {
    config = m.open;
    for (let t = 0; t < config.tenants.length; t++) {
      for (let i = 0; i < config.readersPerTenant; i++) readers.push({ tenant: t, lastId: undefined, res: undefined, synced: false });
    }
    opening.queue.push(...readers);
    pumpOpens();
    setInterval(() => sweep(), 1_000).unref();
  } else if (m?.openNonReaders) {
    void (async () => {
      for (let t = 0; t < config.tenants.length; t++) for (let i = 0; i < config.nonReadersPerTenant; i++) nonReaders.push({ tenant: t });
      for (let i = 0; i < nonReaders.length; i++) {
        openNonReader(nonReaders[i]);
        if (i % 100 === 99) await sleep(50);
      }
      while (nonReaders.some((n) => n.socket !== undefined && n.port === undefined)) await sleep(50);
      send({ nonReaders: nonReaders.filter((n) => n.port !== undefined).length });
      setInterval(scan, SCAN_MS).unref();
    })();
  } else if (m?.answers) {
    for (const [revision, tenant, at] of m.answers) answers.set(String(revision), { tenant, at });
  } else if (m?.stats) {
    send({ stats: stats() });
  } else if (m?.finish) {
    finishing = true;
    sweep(true);
    const summary = summarizeLatencies(deltas.subarray(0, deltaCount));
    /** @type {Final} */
    const final = { ...stats(), ms: summary.latencyMs };
    for (const r of readers) r.res?.destroy();
    for (const n of nonReaders) n.socket?.destroy();
    process.send?.({ final }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

// Tenant A of the noisy-neighbour phase (tools/bench/noisy.mjs), in a process of its own so that its
// flood does not share an event loop with the bench timing tenant B:
//   - watch streams that never read: raw sockets that send the request, read the answer's first
//     bytes (its status line) and then never read again (paused), on several of A's keys up to the
//     per-key and per-tenant quotas; then one more stream on each key at a quota, read whole (the
//     refusal's status and problem code);
//   - a flood of resolves with one of A's keys at a steady rate well above RATE_LIMIT_PER_KEY: a
//     tick every 10 ms sends its share on keep-alive connections; a tick that finds more requests
//     waiting for a connection than a second's worth sends none (counted as skipped: the resolver
//     fell behind). Every answer is counted by status and, when not 200, by its problem code.
// IPC with the bench: {streams: {resolver, tenant, keys: [{key, streams}], overQuota: [key, ...]}}
// -> {streams: {opened, statuses, codes, overQuota: [{status, code}]}}; {flood: {resolver, key,
// path, rate, connections}} -> {flooding}; {count} -> {count} (the flood's totals so far); {stop}
// -> {stopped} (the same, final) and exit.
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { sleep } from './processes.mjs';

/** @typedef {{ resolver: string, tenant: string, keys: Array<{ key: string, streams: number }>, overQuota: string[] }} StreamsRequest */
/** @typedef {{ resolver: string, key: string, path: string, rate: number, connections: number }} FloodRequest */
/** @typedef {{ status: number, code?: string }} Refusal A watch request's answer: its status (0: none) and, when refused, the problem's code. */
/** @typedef {{ opened: number, statuses: Tally, codes: Tally, overQuota: Refusal[] }} Streams What A's streams were answered. */
/** @typedef {ReturnType<typeof totals>} FloodTotals The flood's counts so far. */
/** @typedef {Record<string, number>} Tally Counts by status or code. */
/** @typedef {{ streams?: StreamsRequest, flood?: FloodRequest, count?: boolean, stop?: boolean }} Request A message from the bench. */

/** Streams of one key opening at once, and opened per second at most (well under the key's rate limit). */
const OPEN_BATCH = 50;
const OPENS_PER_SECOND = 400;
const TICK_MS = 10;

/**
 * The sockets of A's streams, kept paused (never read) until the bench stops A.
 * @type {import('node:net').Socket[]}
 */
const sockets = [];

/**
 * @param {Tally} map
 * @param {string | number} key
 */
const count = (map, key) => {
  map[key] = (map[key] ?? 0) + 1;
};

/**
 * The problem `code` in the start of a body, if any.
 * @param {string} text
 */
const codeIn = (text) => /"code"\s*:\s*"([^"]+)"/.exec(text)?.[1];

/**
 * A stream that never reads: the request sent on a raw socket, the first bytes of the answer read
 * (its status line), then paused for good. Resolves with the status (0: no answer) and, when not
 * 200, the problem's code (the socket is then closed).
 * @param {string} resolver
 * @param {string} tenant
 * @param {string} key
 * @returns {Promise<Refusal>}
 */
function neverReads(resolver, tenant, key) {
  const { hostname, port } = new URL(resolver);
  return new Promise((resolve) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let settled = false;
    /**
     * @param {number} status
     * @param {string} [code]
     */
    const settle = (status, code) => {
      if (settled) return;
      settled = true;
      resolve({ status, code });
    };
    socket.setTimeout(30_000, () => {
      socket.destroy();
      settle(0, 'no answer within 30 s');
    });
    socket.on('error', (/** @type {NodeJS.ErrnoException} */ e) => settle(0, e.code ?? e.message));
    socket.on('close', () => settle(0, 'closed before an answer'));
    socket.once('data', (chunk) => {
      socket.pause();
      socket.setTimeout(0);
      const text = chunk.toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      if (status === 200) {
        sockets.push(socket);
        settle(200);
      } else {
        settle(status, codeIn(text));
        socket.destroy();
      }
    });
    socket.write(`GET /v1/watch/${tenant} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nauthorization: Bearer ${key}\r\naccept: text/event-stream\r\n\r\n`);
  });
}

/**
 * A watch request read whole when refused: { status, code }; a stream that opens is closed at once.
 * @param {string} resolver
 * @param {string} tenant
 * @param {string} key
 * @returns {Promise<Refusal>}
 */
function watchOnce(resolver, tenant, key) {
  return new Promise((resolve) => {
    const req = request(`${resolver}/v1/watch/${tenant}`, { headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream' }, timeout: 30_000 }, (res) => {
      if (res.statusCode === 200) {
        res.destroy();
        return resolve({ status: 200 });
      }
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      // A client's response always has a status code (the type allows none for a server's request).
      res.on('end', () => resolve({ status: res.statusCode ?? 0, code: codeIn(body) }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, code: codeIn(body) }));
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
    req.on('error', (e) => resolve({ status: 0, code: e.message }));
    req.end();
  });
}

/**
 * Each key's streams (the keys at once, each at most OPENS_PER_SECOND), then the over-quota attempts.
 * @param {StreamsRequest} request
 * @returns {Promise<Streams>}
 */
async function openStreams({ resolver, tenant, keys, overQuota }) {
  /** @type {Tally} */
  const statuses = {};
  /** @type {Tally} */
  const codes = {};
  await Promise.all(
    keys.map(async ({ key, streams }) => {
      for (let i = 0; i < streams; i += OPEN_BATCH) {
        const began = performance.now();
        const answers = await Promise.all(Array.from({ length: Math.min(OPEN_BATCH, streams - i) }, () => neverReads(resolver, tenant, key)));
        for (const a of answers) {
          count(statuses, a.status);
          if (a.code) count(codes, a.code);
        }
        await sleep(Math.max(0, (OPEN_BATCH * 1000) / OPENS_PER_SECOND - (performance.now() - began)));
      }
    }),
  );
  /** @type {Refusal[]} */
  const over = [];
  for (const key of overQuota) over.push(await watchOnce(resolver, tenant, key));
  return { opened: statuses[200] ?? 0, statuses, codes, overQuota: over };
}

// ------------------------------------------------------------------------------------------------
// The flood

/**
 * The flood's counts: requests sent, answered, skipped (the resolver a second behind) and failed;
 * answers by status and by problem code; one refusal as the client saw it.
 * @type {{ sent: number, answered: number, skipped: number, errors: number, firstError: string | undefined, statuses: Tally, codes: Tally, refusal: FloodRefusal | undefined, startedAt: number, waiting: number }}
 */
const flood = { sent: 0, answered: 0, skipped: 0, errors: 0, firstError: undefined, statuses: {}, codes: {}, refusal: undefined, startedAt: 0, waiting: 0 };
/** @typedef {{ status: number, code: string, retryAfter?: string, rateLimit?: string | string[], rateLimitPolicy?: string | string[] }} FloodRefusal */
/** @type {NodeJS.Timeout | undefined} */
let ticker;
/** @type {Agent | undefined} */
let agent;

/** @param {FloodRequest} request */
function floodOne({ resolver, key, path }) {
  flood.sent++;
  flood.waiting++;
  let answered = false;
  const req = request(`${resolver}${path}`, { agent, headers: { authorization: `Bearer ${key}` }, timeout: 10_000 }, (res) => {
    answered = true;
    flood.waiting--;
    const status = res.statusCode ?? 0;
    if (status === 200) {
      res.resume();
      res.on('end', () => {
        flood.answered++;
        count(flood.statuses, status);
      });
      return;
    }
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c) => (body += c));
    res.on('end', () => {
      flood.answered++;
      count(flood.statuses, status);
      const code = codeIn(body) ?? '(none)';
      count(flood.codes, code);
      // One refusal as the client saw it: its code and the rate limit's headers.
      flood.refusal ??= { status, code, retryAfter: res.headers['retry-after'], rateLimit: res.headers['ratelimit'], rateLimitPolicy: res.headers['ratelimit-policy'] };
    });
  });
  let failed = false;
  /** @param {Error} e */
  const fail = (e) => {
    if (failed) return;
    failed = true;
    flood.waiting--;
    flood.errors++;
    flood.firstError ??= e.message;
  };
  req.on('timeout', () => req.destroy(new Error('no answer within 10 s')));
  req.on('error', (e) => {
    // An error after the answer began is not a second failure of the request.
    if (answered) return;
    fail(e);
  });
  req.end();
}

/** @param {FloodRequest} options */
function startFlood(options) {
  agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  flood.startedAt = performance.now();
  const perTick = options.rate / (1000 / TICK_MS);
  let due = 0;
  ticker = setInterval(() => {
    // As many as the schedule says by now (a late tick catches up), never more than a second's worth waiting.
    const target = Math.floor(((performance.now() - flood.startedAt) / TICK_MS) * perTick);
    const n = target - due;
    due = target;
    if (flood.waiting > options.rate) {
      flood.skipped += n;
      return;
    }
    for (let i = 0; i < n; i++) floodOne(options);
  }, TICK_MS);
}

const totals = () => {
  const { startedAt: _s, waiting: _w, ...rest } = flood;
  return { ...rest, seconds: Math.round(((performance.now() - flood.startedAt) / 1000) * 10) / 10, statuses: { ...flood.statuses }, codes: { ...flood.codes } };
};

process.on('message', (/** @type {Request | undefined} */ m) => {
  if (m?.streams) {
    openStreams(m.streams).then(
      (streams) => process.send?.({ streams }),
      (e) => process.send?.({ error: `A's streams: ${e.message}` }),
    );
  } else if (m?.flood) {
    startFlood(m.flood);
    process.send?.({ flooding: true });
  } else if (m?.count) {
    process.send?.({ count: totals() });
  } else if (m?.stop) {
    clearInterval(ticker);
    const stopped = totals();
    agent?.destroy();
    for (const s of sockets) s.destroy();
    process.send?.({ stopped }, () => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

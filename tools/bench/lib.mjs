// Shared by the bench scripts: a tiny HTTP client for the command API and histogram quantiles.

/** @typedef {Array<[number, number]>} Buckets A histogram's cumulative buckets: [le, count] pairs. */
/** @typedef {Record<string, number>} Counters Sums by a label's value. */
/** @typedef {(line: string) => void} Say How a phase prints a line of its progress. */

/**
 * @param {string} base
 * @param {string} token
 * @returns {(path: string, url: string) => Promise<number>}
 */
export function client(base, token) {
  return async function put(path, url) {
    const res = await fetch(`${base}${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ url }),
    });
    if (res.status >= 300) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
    return Number(res.headers.get('x-route-revision'));
  };
}

/**
 * Runs `work(i)` for i in [0, n) with `concurrency` workers.
 * @param {number} n
 * @param {number} concurrency
 * @param {(i: number) => Promise<unknown>} work
 */
export async function pool(n, concurrency, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

/**
 * Cumulative buckets of a Prometheus histogram: [[le, count], ...].
 * @param {string} metricsUrl
 * @param {string} name
 * @returns {Promise<Buckets>}
 */
export async function histogram(metricsUrl, name) {
  return histogramOf(await (await fetch(metricsUrl)).text(), name);
}

/**
 * Cumulative buckets of a histogram in Prometheus text already scraped.
 * @param {string} text
 * @param {string} name
 * @returns {Buckets}
 */
export function histogramOf(text, name) {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket{`))
    .map((l) => [Number((/le="([^"]+)"/.exec(l)?.[1] ?? 'NaN').replace('+Inf', 'Infinity')), Number(l.split(' ').pop())]);
}

/**
 * Quantile of the observations between two scrapes, interpolated within buckets (like histogram_quantile).
 * @param {Buckets} before
 * @param {Buckets} after
 * @param {number} q
 */
export function quantile(before, after, q) {
  const counts = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, c] of counts) {
    if (c >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, c - prevCount);
    }
    prevLe = le;
    prevCount = c;
  }
  return prevLe;
}

/**
 * The samples of a metric, labelled or not: [{ labels: {name: value}, value }].
 * @param {string} text
 * @param {string} name
 */
export function samplesOf(text, name) {
  /** @type {Array<{ labels: Record<string, string>, value: number }>} */
  const out = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith(`${name} `) && !l.startsWith(`${name}{`)) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    for (const [, k, v] of l.slice(name.length).matchAll(/(\w+)="([^"]*)"/g)) labels[k] = v;
    out.push({ labels, value: Number(l.split(' ').pop()) });
  }
  return out;
}

/**
 * Sum of a Prometheus counter's samples by one label: { [value]: total }.
 * @param {string} text
 * @param {string} name
 * @param {string} label
 */
export function countersBy(text, name, label) {
  /** @type {Counters} */
  const sums = {};
  for (const l of text.split('\n')) {
    if (!l.startsWith(`${name}{`)) continue;
    const value = new RegExp(`${label}="([^"]*)"`).exec(l)?.[1] ?? '';
    sums[value] = (sums[value] ?? 0) + Number(l.split(' ').pop());
  }
  return sums;
}

/**
 * Sum of every sample of a metric, labelled or not (0 when absent); the apps label every sample with `app`.
 * @param {string} text
 * @param {string} name
 */
export function sumOf(text, name) {
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

/**
 * `after - before` for each key of two `countersBy` results.
 * @param {Counters} before
 * @param {Counters} after
 * @returns {Counters}
 */
export function delta(before, after) {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/**
 * The first sample of a metric (a gauge), NaN when absent.
 * @param {string} text
 * @param {string} name
 */
export function gaugeOf(text, name) {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? NaN : Number(line.split(' ').pop());
}

/**
 * A Node app's memory from its /metrics: resident (the process) and used heap (V8).
 * @param {string} text
 */
export function processMemory(text) {
  return { residentBytes: gaugeOf(text, 'tm_process_resident_memory_bytes'), heapBytes: gaugeOf(text, 'tm_nodejs_heap_size_used_bytes') };
}

/**
 * Open loop: calls `start(i)` at a steady `rate` per second (each on its schedule, whatever the
 * earlier ones do; `start` must not wait for its work) while `more(i)` holds. Resolves with the calls
 * made and those that began more than one interval late (the caller could not keep the pace).
 * @param {number} rate
 * @param {(i: number) => boolean} more
 * @param {(i: number) => void} start
 */
export async function steadyRate(rate, more, start) {
  const began = performance.now();
  let late = 0;
  let i = 0;
  for (; more(i); i++) {
    const wait = began + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    else if (wait < -1000 / rate) late++;
    start(i);
  }
  return { calls: i, late };
}

/**
 * One opening under way: `done()` once it is open (its place goes to the next), `retry(ms)` to try it
 * again after `ms` (its place is given back meanwhile).
 * @typedef {{ done: () => void, retry: (ms: number) => void }} Opening
 */

/**
 * Opens things (streams, watches) with at most `most` openings under way at once: `add(start)` queues
 * one; `start(opening)` begins it and calls `opening.done()` once it is open, or
 * `opening.retry(ms)` to be started again after `ms`.
 * @param {number} most
 */
export function opener(most) {
  /** @type {Array<(opening: Opening) => void>} */
  const queue = [];
  let running = 0;
  const pump = () => {
    while (running < most && queue.length) {
      const start = /** @type {(opening: Opening) => void} */ (queue.shift());
      running++;
      let settled = false;
      const settle = () => {
        if (settled) return false;
        settled = true;
        running--;
        return true;
      };
      start({
        done: () => {
          if (settle()) pump();
        },
        retry: (ms) => {
          if (!settle()) return;
          setTimeout(() => {
            queue.push(start);
            pump();
          }, ms);
          pump();
        },
      });
    }
  };
  return {
    /** @param {(opening: Opening) => void} start */
    add(start) {
      queue.push(start);
      pump();
    },
  };
}

// Shared by the bench scripts: a tiny HTTP client for the command API and histogram quantiles.
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

/** Runs `work(i)` for i in [0, n) with `concurrency` workers. */
export async function pool(n, concurrency, work) {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) await work(next++);
    }),
  );
}

/** Cumulative buckets of a Prometheus histogram: [[le, count], ...]. */
export async function histogram(metricsUrl, name) {
  const text = await (await fetch(metricsUrl)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}_bucket{`))
    .map((l) => [Number(/le="([^"]+)"/.exec(l)[1].replace('+Inf', 'Infinity')), Number(l.split(' ').pop())]);
}

/** Quantile of the observations between two scrapes, interpolated within buckets (like histogram_quantile). */
export function quantile(before, after, q) {
  const counts = after.map(([le, c], i) => [le, c - (before[i]?.[1] ?? 0)]);
  const total = counts[counts.length - 1][1];
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

import { createApiKey, TEST_ADMIN_TOKEN, TestStack } from '@tm/testing';
import { TrafficManagerClient, TrafficManagerError } from '@traffic-manager/client';
import { eventually, metric } from './support';

const RATE = 20;

/**
 * The SDK against the real servers' tenancy limits (docs/guarantees.md, "Tenancy"): their 429s reach
 * it with their codes, and it honours Retry-After. A key of its own tenant, as a service holds one.
 */
describe('the client SDK at the tenancy limits of the real servers', () => {
  let stack: TestStack;
  let key: string;
  const clients: TrafficManagerClient[] = [];
  const client = (options: Partial<ConstructorParameters<typeof TrafficManagerClient>[0]> = {}) => {
    const c = new TrafficManagerClient({ resolverUrl: stack.app('resolver').url, commandUrl: stack.app('command-api').url, apiKey: key, timeoutMs: 5_000, ...options });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    stack = await TestStack.start({ apps: ['command-api', 'resolver'], env: { RATE_LIMIT_PER_KEY: String(RATE), WATCH_MAX_STREAMS_PER_KEY: '1' } });
    const api = stack.app('command-api').url;
    const admin = { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' };
    await fetch(`${api}/v1/tenants`, { method: 'POST', headers: admin, body: JSON.stringify({ slug: 'lim' }) });
    key = await createApiKey(api, { name: 'sdk-limits', tenant: 'lim', scopes: ['routes:write'] });
    await fetch(`${api}/v1/routes/lim/web/prod`, { method: 'PUT', headers: admin, body: JSON.stringify({ url: 'https://web.lim.example' }) });
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await stack?.stop();
  });

  it('rate_limited: past RATE_LIMIT_PER_KEY a lookup throws it (with retryAfterMs) when Retry-After does not fit its deadline, and waits it out when it does', async () => {
    // A deadline below any Retry-After the limiter gives (at least 1 s), and far above an answer's
    // time on a loaded machine.
    const hurried = client({ watch: false, timeoutMs: 900 });
    // The key verified and the connections open first, so that the burst measures the limiter only.
    await eventually(async () => (await client({ watch: false }).resolve('lim/web/prod', { consistency: 'strong' }))?.url === 'https://web.lim.example', 15_000, 'a first lookup');
    const outcomes = await Promise.all(
      Array.from({ length: RATE * 3 }, () =>
        hurried.resolve('lim/web/prod', { consistency: 'strong' }).then(
          (r) => r?.url,
          (e: unknown) => e,
        ),
      ),
    );
    const refused = outcomes.filter((o): o is TrafficManagerError => o instanceof TrafficManagerError);
    // On a loaded machine a lookup may also run out of its 900 ms before any answer: that is the
    // deadline doing its job, not the limiter; every other refusal is the limiter's, with its code.
    const limited = refused.filter((e) => e.code !== 'timeout');
    expect(limited.length).toBeGreaterThan(0);
    for (const e of limited) expect(e).toMatchObject({ code: 'rate_limited', status: 429, problem: { code: 'rate_limited' } });
    expect(Math.min(...limited.map((e) => e.retryAfterMs ?? 0))).toBeGreaterThanOrEqual(1_000);
    expect(outcomes.filter((o) => !(o instanceof TrafficManagerError)).every((o) => o === 'https://web.lim.example')).toBe(true);

    // A lookup with time to wait, in a second whose requests are spent: refused at first, it retries
    // after Retry-After and gets the answer. (Tried until its first request did land in a spent second.)
    const patient = client({ watch: false, timeoutMs: 5_000 });
    const refusals = async () => (await metric(stack.app('resolver'), 'tm_quota_refusals_total')) ?? 0;
    let waitedOut = false;
    for (let attempt = 0; attempt < 5 && !waitedOut; attempt++) {
      // A second is spent by RATE + 1 lookups at once (one alone at a time could never spend it on a slow machine).
      const spend = async () =>
        (await Promise.all(Array.from({ length: RATE + 1 }, () => hurried.resolve('lim/web/prod', { consistency: 'strong' }).then(() => false, (e: unknown) => (e as TrafficManagerError).code === 'rate_limited')))).some(Boolean);
      await eventually(spend, 10_000, 'a spent second');
      const before = await refusals();
      const answer = await patient.resolve('lim/web/prod', { consistency: 'strong' });
      expect(answer?.url).toBe('https://web.lim.example');
      waitedOut = (await refusals()) > before;
    }
    expect(waitedOut).toBe(true);
  });

  it("watch_stream_quota: a second watch of a key at its streams' quota is refused with its code, and lookups go on through the resolver", async () => {
    const first = client();
    await eventually(async () => (await first.resolve('lim/web/prod'))?.source === 'memory', 15_000, "the first client's watch");
    const second = client({ watchWaitMs: 200 });
    const errors: unknown[] = [];
    second.on('error', (e) => errors.push(e));
    const answer = await second.resolve('lim/web/prod');
    expect(answer?.url).toBe('https://web.lim.example');
    await eventually(() => errors.length > 0, 15_000, "the second client's watch refused");
    expect(errors[0]).toMatchObject({ code: 'watch_stream_quota', status: 429, problem: { code: 'watch_stream_quota' } });
    expect((errors[0] as TrafficManagerError).retryAfterMs).toBeGreaterThanOrEqual(1_000);
    expect((await second.resolve('lim/web/prod'))?.source).not.toBe('memory');
  });
});

import { MAX_URL_LENGTH } from '@tm/contracts';
import { decodePolicy, PARSED_POLICY_BUDGET, parsedPolicyCacheSize } from './entry';

/** The largest policy a route may have: 16 endpoints of 2,048-character URLs (about 34 K of JSON). */
function largestPolicy(n: number): string {
  const endpoints = Array.from({ length: 16 }, (_, e) => {
    const base = `https://e${e}-${n}.example/`;
    return { id: `e${e}`, url: base + 'x'.repeat(MAX_URL_LENGTH - base.length), priority: 1, weight: 1, state: 'enabled', healthRevision: n };
  });
  return JSON.stringify({ endpoints, healthCheck: null });
}

describe('the parsed-policy cache', () => {
  it('holds at most PARSED_POLICY_BUDGET characters of policy JSON, the newest first, however large the policies', () => {
    const texts = Array.from({ length: 600 }, (_, n) => largestPolicy(n));
    const size = texts[0]?.length ?? 0;
    expect(size).toBeGreaterThan(33_000);
    // 600 of them are about 20 MB of JSON, well over the budget.
    const first = texts.map((t) => {
      const policy = decodePolicy(t, 'unused', 1);
      expect(parsedPolicyCacheSize().chars).toBeLessThanOrEqual(PARSED_POLICY_BUDGET);
      return policy;
    });
    // What is still cached answers with the very object parsed first (a lookup, no parse): count
    // from the newest back to the first one parsed again.
    let held = 0;
    for (let n = texts.length - 1; n >= 0 && decodePolicy(texts[n], 'unused', 1) === first[n]; n--) held++;
    expect(held * size).toBeLessThanOrEqual(PARSED_POLICY_BUDGET);
    // And the budget is used: all but less than one policy of it.
    expect(held * size).toBeGreaterThan(PARSED_POLICY_BUDGET - size);
    expect(parsedPolicyCacheSize().chars).toBeLessThanOrEqual(PARSED_POLICY_BUDGET);
  });

  it('does not keep a policy larger than the whole budget, and answers it all the same', () => {
    const huge = JSON.stringify({ endpoints: [{ id: 'a', url: 'https://a.example/', priority: 1, weight: 1, state: 'enabled', healthRevision: 1 }], healthCheck: null, pad: 'x'.repeat(PARSED_POLICY_BUDGET) });
    const before = parsedPolicyCacheSize();
    const policy = decodePolicy(huge, 'unused', 1);
    expect(policy?.endpoints).toHaveLength(1);
    expect(decodePolicy(huge, 'unused', 1)).not.toBe(policy);
    expect(parsedPolicyCacheSize()).toEqual(before);
  });

  it('small policies: the same object on every hit', () => {
    const text = JSON.stringify({ endpoints: [{ id: 'a', url: 'https://a.example/', priority: 1, weight: 1, state: 'enabled', healthRevision: 3 }], healthCheck: null });
    const policy = decodePolicy(text, 'unused', 3);
    expect(policy?.endpoints[0]?.url).toBe('https://a.example/');
    expect(decodePolicy(text, 'unused', 3)).toBe(policy);
  });
});

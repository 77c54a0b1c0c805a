import { ResponseRateLimiter } from './rrl';

describe('response rate limiting per source', () => {
  it('answers up to the rate, then slips one answer in two and drops the others, and refills with time', () => {
    let now = 0;
    const limiter = new ResponseRateLimiter(3, () => now);
    expect([1, 2, 3].map(() => limiter.check('192.0.2.1'))).toEqual(['answer', 'answer', 'answer']);
    expect([1, 2, 3, 4].map(() => limiter.check('192.0.2.1'))).toEqual(['slip', 'drop', 'slip', 'drop']);
    // Another source has its own bucket.
    expect(limiter.check('192.0.2.2')).toBe('answer');
    now += 1_000;
    expect([1, 2, 3].map(() => limiter.check('192.0.2.1'))).toEqual(['answer', 'answer', 'answer']);
    now += 334;
    expect(limiter.check('192.0.2.1')).toBe('answer');
    expect(limiter.check('192.0.2.1')).not.toBe('answer');
  });
});

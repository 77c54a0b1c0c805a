import { CircuitBreaker } from './breaker';

describe('CircuitBreaker', () => {
  let now = 0;
  const breaker = () => new CircuitBreaker(3, 1_000, () => now);

  beforeEach(() => {
    now = 0;
  });

  it('opens after the threshold of consecutive failures, then lets one trial through', () => {
    const b = breaker();
    b.failed();
    b.failed();
    expect(b.allows()).toBe(true);
    b.failed();
    expect(b.isOpen).toBe(true);
    expect(b.allows()).toBe(false);
    now = 1_001;
    expect(b.allows()).toBe(true);
    expect(b.allows()).toBe(false);
    b.failed();
    expect(b.allows()).toBe(false);
    now = 2_002;
    expect(b.allows()).toBe(true);
    b.succeeded();
    expect(b.allows()).toBe(true);
    expect(b.isOpen).toBe(false);
  });

  it('a success resets the count', () => {
    const b = breaker();
    b.failed();
    b.failed();
    b.succeeded();
    b.failed();
    b.failed();
    expect(b.allows()).toBe(true);
  });
});

import { describe, expect, it } from '@jest/globals';
import { httpError, TrafficManagerError } from '@traffic-manager/client/errors';
import { describeError } from './describe-error';

const problem = (status: number, extra: Record<string, unknown> = {}) => JSON.stringify({ type: 'about:blank', title: 't', status, detail: `detail ${status}`, ...extra });

/** Errors as people read them (the console's one mapping from the SDK's codes to words). */
describe('describeError', () => {
  const now = 1_000_000;

  it('401: sign in again', () => {
    expect(describeError(httpError(401, 'Unauthorized', problem(401)), now)).toMatchObject({ title: 'Sign in again' });
  });

  it('403: what is missing, in the server’s words', () => {
    const d = describeError(httpError(403, 'Forbidden', problem(403, { detail: 'the key lacks routes:write on acme' })), now);
    expect(d.title).toBe('Not allowed with this key');
    expect(d.detail).toContain('the key lacks routes:write on acme');
  });

  it('429 and 503: when to try again, from Retry-After', () => {
    const limited = describeError(httpError(429, 'Too Many Requests', problem(429, { code: 'rate_limited' }), '3'), now);
    expect(limited).toMatchObject({ title: 'Too many requests', retryAt: now + 3000 });
    const down = describeError(httpError(503, 'Service Unavailable', problem(503), '7'), now);
    expect(down).toMatchObject({ title: 'Unavailable for now', retryAt: now + 7000 });
    // Without Retry-After: a second.
    expect(describeError(httpError(503, 'Service Unavailable', problem(503)), now).retryAt).toBe(now + 1000);
  });

  it('400: every field with its message', () => {
    const d = describeError(
      httpError(400, 'Bad Request', problem(400, { errors: [{ field: 'endpoints.0.weight', message: 'weight must not be greater than 1000' }] })),
      now,
    );
    expect(d).toMatchObject({ title: 'Refused as invalid', detail: 'endpoints.0.weight: weight must not be greater than 1000' });
  });

  it('a network failure and anything else', () => {
    expect(describeError(new TrafficManagerError('network', 'the resolver: fetch failed'), now)).toMatchObject({ title: 'Could not reach the server' });
    expect(describeError(new Error('boom'), now)).toEqual({ title: 'Something went wrong', detail: 'boom' });
  });
});

import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { SseParser } from '@tm/watch';
import type { LoggedChange } from './change-log';
import { StreamLimits } from './stream-limits';
import { WatchStream, type CloseReason, type Proof, type StreamOptions } from './watch-stream';

/** A response whose socket the test fills and drains: write() answers false while `full`. */
class FakeResponse extends EventEmitter {
  readonly written: string[] = [];
  full = false;
  ended: 'end' | 'destroy' | undefined;
  write(chunk: string): boolean {
    this.written.push(chunk);
    return !this.full;
  }
  drain(): void {
    this.full = false;
    this.emit('drain');
  }
  end(): void {
    this.ended = 'end';
  }
  destroy(): void {
    this.ended = 'destroy';
  }
}

function change(revision: number, tenant = 'acme', tenantId: string | null = 'id-1'): LoggedChange {
  return { revision, tenant, tenantId, service: 'web', frame: `event: put\nid: ${revision}\ndata: {}\n\n`, at: 0 };
}

/** The options a stream of setUp was made with (for another stream on the same kind of response). */
function optionsOf(stream: WatchStream): StreamOptions {
  return (stream as unknown as { options: StreamOptions }).options;
}

function setUp(options: { tenant?: string | null; tenantId?: string | null; maxBuffered?: number } = {}) {
  let now = 1_000;
  const response = new FakeResponse();
  const closed: CloseReason[] = [];
  const limits = new StreamLimits({ total: 10, perKey: 10, perTenant: 10 });
  const stream = new WatchStream(
    response as unknown as ServerResponse,
    {
      tenant: options.tenant === undefined ? 'acme' : options.tenant,
      tenantId: options.tenantId === undefined ? 'id-1' : options.tenantId,
      service: null,
      health: false,
      keyId: 'k1',
      maxBuffered: options.maxBuffered ?? 100,
      clock: () => now,
      ticket: limits.admit({ keyId: 'k1', tenant: 'acme' }),
    },
    (_s, reason) => closed.push(reason),
  );
  return { stream, response, closed, limits, advance: (ms: number) => (now += ms), now: () => now };
}

const bookmarks = (response: FakeResponse) => response.written.filter((f) => f.startsWith('event: bookmark'));
/** A bookmark frame's ageMs, read as a client reads it. */
function ageOf(frame: string): number {
  let data = '{}';
  new SseParser((e) => (data = e.data)).push(frame);
  return (JSON.parse(data) as { ageMs: number }).ageMs;
}

describe('WatchStream', () => {
  it('skips bookmarks while congested, and the next one, once drained, carries its age when written', () => {
    const { stream, response, advance, now } = setUp();
    const proof: Proof = { revision: 5, knownCurrentAt: 0, establishedAt: now() };
    expect(stream.offer(change(5))).toBe(true);
    response.full = true;
    expect(stream.offer(change(6))).toBe(true);
    expect(stream.congestedSince).toBe(now());
    // Congested: no bookmark is written (it would wait behind what the client has not read, and age unseen).
    const later: Proof = { revision: 6, knownCurrentAt: 0, establishedAt: now() };
    expect(stream.bookmark(later, now(), 0)).toBe(false);
    advance(30_000);
    expect(stream.bookmark(later, now(), 0)).toBe(false);
    expect(bookmarks(response)).toEqual([]);
    response.drain();
    expect(stream.congestedSince).toBeUndefined();
    expect(stream.bookmark(later, now(), 0)).toBe(true);
    expect(bookmarks(response).map(ageOf)).toEqual([30_000]);
    expect(proof.revision).toBe(5);
  });

  it('is cut as slow when more than maxBuffered events wait, bookmarks not counted', () => {
    const { stream, response, closed } = setUp({ maxBuffered: 3 });
    response.full = true;
    for (let r = 1; r <= 4; r++) expect(stream.offer(change(r))).toBe(true);
    expect(closed).toEqual([]);
    expect(stream.offer(change(5))).toBe(false);
    expect(closed).toEqual(['slow']);
    expect(response.ended).toBe('destroy');
  });

  it('ends rather than send a change of its slug under another tenant id; learns the id when it had none', () => {
    const bound = setUp();
    expect(bound.stream.offer(change(1, 'acme', 'id-1'))).toBe(true);
    expect(bound.stream.offer(change(2, 'acme', 'id-2'))).toBe(false);
    expect(bound.closed).toEqual(['tenant-gone']);
    expect(bound.response.written.join('')).not.toContain('id: 2');
    // A change written before events carried the id cannot be told apart: it is sent.
    const unbound = setUp({ tenantId: null });
    expect(unbound.stream.offer(change(1, 'acme', null))).toBe(true);
    expect(unbound.stream.offer(change(2, 'acme', 'id-7'))).toBe(true);
    expect(unbound.stream.tenantId).toBe('id-7');
    expect(unbound.stream.offer(change(3, 'acme', 'id-8'))).toBe(false);
    expect(unbound.closed).toEqual(['tenant-gone']);
    // A stream of every tenant has no tenant to lose.
    const all = setUp({ tenant: null, tenantId: null });
    expect(all.stream.offer(change(1, 'acme', 'id-1'))).toBe(true);
    expect(all.stream.offer(change(2, 'acme', 'id-2'))).toBe(true);
    expect(all.closed).toEqual([]);
  });

  it("sends its share of a revision together, the id line only on the share's last frame", () => {
    const set = (['api', 'web', 'web', 'zed'] as const).map((service, i) => ({ ...change(7), service, frame: `event: put\nid: 7\ndata: {"n":${i}}\n\n` }));
    const { stream, response } = setUp();
    expect(stream.offerRevision(set)).toBe(4);
    expect(response.written).toEqual(['event: put\ndata: {"n":0}\n\n', 'event: put\ndata: {"n":1}\n\n', 'event: put\ndata: {"n":2}\n\n', 'event: put\nid: 7\ndata: {"n":3}\n\n']);
    expect(stream.covered).toBe(7);
    // Once sent, the revision is not sent again.
    expect(stream.offerRevision(set)).toBe(0);
    // A stream of one service: its share, with the id on the last of it.
    const web = setUp();
    const filtered = new WatchStream(web.response as unknown as ServerResponse, { ...optionsOf(web.stream), service: 'web' }, () => undefined);
    expect(filtered.offerRevision(set)).toBe(2);
    expect(web.response.written).toEqual(['event: put\ndata: {"n":1}\n\n', 'event: put\nid: 7\ndata: {"n":2}\n\n']);
  });

  it('counts a revision whole toward maxBuffered, and is never cut for one revision alone', () => {
    const { stream, response, closed } = setUp({ maxBuffered: 3 });
    response.full = true;
    expect(stream.offer(change(1))).toBe(true);
    // Congested, nothing waiting: a revision of 10 (over the limit by itself) is written whole.
    expect(stream.offerRevision(Array.from({ length: 10 }, () => change(2)))).toBe(10);
    expect(closed).toEqual([]);
    // Something waits and the next revision would pass the limit: cut before any of its frames.
    const before = response.written.length;
    expect(stream.offerRevision([change(3), change(3)])).toBe(0);
    expect(closed).toEqual(['slow']);
    expect(response.written).toHaveLength(before);
  });

  it('gives its place back once, whatever ends it', () => {
    const { stream, limits, response } = setUp();
    expect(limits.open).toBe(1);
    stream.close('revoked');
    response.emit('close');
    stream.close('client');
    expect(limits.open).toBe(0);
    expect(response.ended).toBe('end');
  });
});

describe('StreamLimits', () => {
  it('counts from admission: per replica (503), per key and per tenant (429 watch_stream_quota); the admin token only toward the replica', () => {
    const refused: string[] = [];
    const limits = new StreamLimits({ total: 5, perKey: 2, perTenant: 3 }, (limit, owner) => refused.push(`${limit}:${owner.tenant ?? '-'}`));
    const a1 = limits.admit({ keyId: 'a', tenant: 'acme' });
    limits.admit({ keyId: 'a', tenant: 'acme' });
    expect(() => limits.admit({ keyId: 'a', tenant: 'acme' })).toThrow(expect.objectContaining({ status: 429, extra: expect.objectContaining({ code: 'watch_stream_quota' }) }));
    limits.admit({ keyId: 'b', tenant: 'acme' });
    expect(() => limits.admit({ keyId: 'c', tenant: 'acme' })).toThrow(expect.objectContaining({ status: 429 }));
    // Another tenant's key is not held back by acme's quota; the admin token is not counted per tenant.
    limits.admit({ keyId: 'd', tenant: 'other' });
    limits.admit({ keyId: null, tenant: 'acme' });
    expect(limits.open).toBe(5);
    expect(() => limits.admit({ keyId: 'e', tenant: 'third' })).toThrow(expect.objectContaining({ status: 503, extra: expect.objectContaining({ code: 'watch_streams_exhausted' }) }));
    a1.release();
    a1.release();
    expect(limits.open).toBe(4);
    expect(() => limits.admit({ keyId: 'a', tenant: 'acme' })).not.toThrow();
    expect(refused).toEqual(['watch_streams_per_key:acme', 'watch_streams_per_tenant:acme', 'watch_streams:third']);
    try {
      limits.admit({ keyId: 'a', tenant: 'acme' });
    } catch (e) {
      expect((e as { extra: { headers: Record<string, string> } }).extra.headers['Retry-After']).toMatch(/^\d+$/);
    }
  });
});

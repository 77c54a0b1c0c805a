import type { ServerResponse } from 'node:http';
import { bookmarkFrame, changeFrame, ChunkedBody } from '@tm/testing';
import { refuse, SseServer, stream, until } from './sse-server.test-support';
import { parseRetryAfter, WatchClient, type WatchClientOptions, type WatchFailure, type WatchListener } from './watch-client';

/** Every callback of the watch, as one line each, in order. */
function recorder(extra: WatchListener = {}): { log: string[]; failures: WatchFailure[]; listener: WatchListener } {
  const log: string[] = [];
  const failures: WatchFailure[] = [];
  const listener: WatchListener = {
    connecting: (a) => log.push(`connecting since=${a.since ?? '-'}`),
    open: (s) => log.push(`open interval=${s.bookmarkIntervalMs}`),
    snapshot: (routes, b) => log.push(`snapshot@${b.revision} ${routes.map((r) => `${r.kind} ${r.key}=${r.url ?? 'null'}@${r.revision}`).join(', ')}`),
    change: (c) => log.push(`${c.kind} ${c.key}=${c.url ?? 'null'}@${c.revision} id=${c.id ?? '-'}`),
    bookmark: (b) => log.push(`bookmark ${b.revision}${b.snapshot ? ' snapshot' : ''}`),
    health: (h) => log.push(`health ${h.tenant}/${h.service}/${h.environment} ${h.endpoint} ${h.health}@${h.healthRevision}`),
    reset: (f) => log.push(`reset ${f.kind === 'http' ? f.status : f.kind}`),
    error: (f) => {
      failures.push(f);
      log.push(`error ${f.kind === 'http' ? f.status : f.kind}`);
    },
    state: (s) => log.push(`state ${s}`),
    ...extra,
  };
  return { log, failures, listener };
}

let server: SseServer | undefined;
const clients: WatchClient[] = [];

async function serve(answer: (n: number, res: ServerResponse) => void): Promise<SseServer> {
  server = await SseServer.start(answer);
  return server;
}

function watch(s: SseServer, listener: WatchListener, options: Partial<WatchClientOptions> = {}): WatchClient {
  const client = new WatchClient({ url: `${s.url}/v1/watch/acme?health=true`, apiKey: 'k1', backoffBaseMs: 10, backoffMaxMs: 20, ...options }, listener);
  clients.push(client);
  return client.start();
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = undefined;
});

describe('WatchClient', () => {
  it('sends the watch request, hands over the whole snapshot at its bookmark, then changes, bookmarks and health in order', async () => {
    const s = await serve((_n, res) => {
      stream(res, 1000)
        .change('acme/a/prod', 'https://a', 3)
        .change('acme/b/prod', 'https://b', 4)
        .bookmark(5, true, 20)
        .health('acme/a/prod', 'e1', 'healthy', 3)
        .change('acme/a/prod', 'https://a2', 6, 6)
        .change('acme/b/prod', null, 7, 7)
        .bookmark(7);
    });
    const { log, listener } = recorder();
    const client = watch(s, listener);
    await until(() => log.includes('bookmark 7'), 'bookmark 7');
    expect(log).toEqual([
      'connecting since=-',
      'open interval=1000',
      'snapshot@5 put acme/a/prod=https://a@3, put acme/b/prod=https://b@4',
      'bookmark 5 snapshot',
      'state synced',
      'health acme/a/prod e1 healthy@3',
      'put acme/a/prod=https://a2@6 id=6',
      'delete acme/b/prod=null@7 id=7',
      'bookmark 7',
    ]);
    const [request] = s.taken;
    expect(request?.url).toBe('/v1/watch/acme?health=true');
    expect(request?.headers).toMatchObject({ accept: 'text/event-stream', authorization: 'Bearer k1' });
    expect(request?.headers['last-event-id']).toBeUndefined();
    expect(client.synced).toBe(true);
    expect(client.lastEventId).toBe(7);
    expect(client.bookmark).toMatchObject({ revision: 7, snapshot: false, id: 7 });
  });

  it('resumes with Last-Event-ID after a cut inside a revision: the last id seen, so the revision comes again whole', async () => {
    const s = await serve((n, res) => {
      const out = stream(res);
      if (n === 1) {
        out.bookmark(5, true).change('acme/a/prod', 'https://a6', 6, 6);
        // Revision 7 changes two routes; the stream is cut before its last event (the one with the id).
        out.change('acme/a/prod', 'https://a7', 7);
        setTimeout(() => res.destroy(), 50);
      } else {
        out.change('acme/a/prod', 'https://a7', 7).change('acme/b/prod', 'https://b7', 7, 7).bookmark(7);
      }
    });
    const { log, listener } = recorder();
    watch(s, listener);
    await until(() => log.includes('bookmark 7'), 'the resumed stream');
    expect(s.taken.map((t) => t.headers['last-event-id'])).toEqual([undefined, '6']);
    expect(log).toEqual([
      'connecting since=-',
      'open interval=5000',
      'snapshot@5 ',
      'bookmark 5 snapshot',
      'state synced',
      'put acme/a/prod=https://a6@6 id=6',
      // The part of revision 7 that came before the cut is never handed over.
      'error network',
      'state down',
      'connecting since=6',
      'open interval=5000',
      // A resume is synced as soon as its stream opens.
      'state synced',
      'put acme/a/prod=https://a7@7 id=-',
      'put acme/b/prod=https://b7@7 id=7',
      'bookmark 7',
    ]);
  });

  it('a stream the server ends is resumed the same way', async () => {
    const s = await serve((n, res) => {
      if (n === 1) stream(res).bookmark(9, true).res.end();
      else stream(res).bookmark(10);
    });
    const { log, failures, listener } = recorder();
    watch(s, listener);
    await until(() => log.includes('bookmark 10'), 'the resumed stream');
    expect(failures[0]).toMatchObject({ kind: 'ended', message: 'the stream ended' });
    expect(s.taken[1]?.headers['last-event-id']).toBe('9');
  });

  it('a reconnect during the snapshot asks for a new snapshot; the half one is never handed over', async () => {
    const s = await serve((n, res) => {
      if (n === 1) {
        stream(res).change('acme/half/prod', 'https://half', 3);
        setTimeout(() => res.destroy(), 30);
      } else stream(res).change('acme/whole/prod', 'https://whole', 4).bookmark(6, true);
    });
    const { log, listener } = recorder();
    watch(s, listener);
    await until(() => log.some((l) => l.startsWith('snapshot@6')), 'the second snapshot');
    expect(log.filter((l) => l.startsWith('snapshot'))).toEqual(['snapshot@6 put acme/whole/prod=https://whole@4']);
    expect(s.taken.map((t) => t.headers['last-event-id'])).toEqual([undefined, undefined]);
  });

  it('410 on resume: reset (the caller drops what it holds), then at once a new snapshot without Last-Event-ID', async () => {
    const s = await serve((n, res) => {
      if (n === 1) {
        stream(res).change('acme/old/prod', 'https://old', 3).bookmark(5, true);
        setTimeout(() => res.destroy(), 30);
      } else if (n === 2) refuse(res, 410, 'revision 5 is compacted');
      else stream(res).change('acme/new/prod', 'https://new', 40).bookmark(50, true);
    });
    const { log, failures, listener } = recorder();
    const client = watch(s, listener);
    await until(() => log.some((l) => l.startsWith('snapshot@50')), 'the new snapshot', 3000);
    expect(s.taken.map((t) => t.headers['last-event-id'])).toEqual([undefined, '5', undefined]);
    expect(log.slice(log.indexOf('connecting since=5'))).toEqual([
      'connecting since=5',
      'reset 410',
      'error 410',
      'connecting since=-',
      'open interval=5000',
      'snapshot@50 put acme/new/prod=https://new@40',
      'bookmark 50 snapshot',
      'state synced',
    ]);
    const gone = failures.find((f) => f.kind === 'http');
    expect(gone).toMatchObject({ kind: 'http', status: 410, retryInMs: 0 });
    expect(gone?.kind === 'http' && JSON.parse(gone.body)).toMatchObject({ status: 410, detail: 'revision 5 is compacted' });
    expect(client.lastEventId).toBe(50);
  });

  it('412 and 400 on resume reset too', async () => {
    for (const status of [412, 400]) {
      const s = await serve((n, res) => {
        if (n === 1) {
          stream(res).bookmark(5, true);
          setTimeout(() => res.destroy(), 30);
        } else if (n === 2) refuse(res, status, 'no');
        else stream(res).bookmark(6, true);
      });
      const { log, listener } = recorder();
      const client = watch(s, listener);
      await until(() => log.includes('bookmark 6 snapshot'), `the snapshot after ${status}`);
      expect(log).toContain(`reset ${status}`);
      expect(s.taken.map((t) => t.headers['last-event-id'])).toEqual([undefined, '5', undefined]);
      client.close();
      await s.close();
      server = undefined;
    }
  });

  it('503 and 429 with Retry-After are waited out before the next attempt', async () => {
    const s = await serve((n, res) => {
      if (n === 1) refuse(res, 503, 'PostgreSQL is unavailable', { 'retry-after': '1' });
      else if (n === 2) refuse(res, 429, 'watch streams at their limit', { 'retry-after': '1' });
      else stream(res).bookmark(1, true);
    });
    const { log, failures, listener } = recorder();
    watch(s, listener);
    await until(() => log.includes('state synced'), 'the stream', 6000);
    const [a, b, c] = s.taken.map((t) => t.at);
    expect((b ?? 0) - (a ?? 0)).toBeGreaterThanOrEqual(950);
    expect((c ?? 0) - (b ?? 0)).toBeGreaterThanOrEqual(950);
    expect(failures).toEqual([
      expect.objectContaining({ kind: 'http', status: 503, retryAfter: '1', retryInMs: 1000 }),
      expect.objectContaining({ kind: 'http', status: 429, retryAfter: '1', retryInMs: 1000 }),
    ]);
    expect(log.slice(0, 4)).toEqual(['connecting since=-', 'error 503', 'state down', 'connecting since=-']);
  });

  it('caps Retry-After at maxRetryAfterMs', async () => {
    const s = await serve((n, res) => {
      if (n === 1) refuse(res, 503, 'busy', { 'retry-after': '3600' });
      else stream(res).bookmark(1, true);
    });
    const { log, failures, listener } = recorder();
    watch(s, listener, { maxRetryAfterMs: 50 });
    await until(() => log.includes('state synced'), 'the stream');
    expect(failures[0]).toMatchObject({ status: 503, retryAfter: '3600' });
    expect(failures[0]?.retryInMs).toBeLessThanOrEqual(50);
  });

  it('backs off with full jitter, doubling per failure up to the maximum, and starts again once synced', async () => {
    const random = jest.spyOn(Math, 'random').mockReturnValue(1);
    try {
      const s = await serve((n, res) => {
        if (n <= 4) refuse(res, 401, 'unknown key');
        else if (n === 5) {
          stream(res).bookmark(1, true);
          setTimeout(() => res.destroy(), 20);
        } else stream(res).bookmark(2);
      });
      const { log, failures, listener } = recorder();
      watch(s, listener, { backoffBaseMs: 10, backoffMaxMs: 60 });
      await until(() => log.includes('bookmark 2'), 'the resumed stream');
      expect(failures.map((f) => f.retryInMs)).toEqual([10, 20, 40, 60, 10]);
      expect(failures[0]).toMatchObject({ kind: 'http', status: 401, message: 'the watch answered 401 Unauthorized' });
    } finally {
      random.mockRestore();
    }
  });

  it('a connection refused is a network failure, retried', async () => {
    const s = await serve((_n, res) => stream(res).bookmark(1, true));
    const { log, failures, listener } = recorder();
    const client = watch(s, listener, { url: 'http://127.0.0.1:1/v1/watch/acme' });
    await until(() => failures.length >= 2, 'two failures');
    expect(failures[0]).toMatchObject({ kind: 'network', opened: false });
    expect(log.slice(0, 3)).toEqual(['connecting since=-', 'error network', 'state down']);
    expect(client.state).toBe('down');
  });

  it('a stream silent for 3 bookmark intervals is down and reconnects; any chunk counts as life', async () => {
    let beats: ReturnType<typeof setInterval> | undefined;
    const s = await serve((n, res) => {
      const out = stream(res, 100).bookmark(1, true);
      // The first stream sends a comment every 50 ms for 500 ms: it stays up; then nothing.
      if (n === 1) {
        let left = 10;
        beats = setInterval(() => (left-- > 0 ? out.write(': beat\n\n') : clearInterval(beats)), 50);
      }
    });
    const { log, failures, listener } = recorder();
    const started = performance.now();
    watch(s, listener);
    await until(() => failures.length > 0, 'the silence', 3000);
    clearInterval(beats);
    expect(performance.now() - started).toBeGreaterThanOrEqual(750);
    expect(failures[0]).toMatchObject({ kind: 'silent', silentMs: 300, opened: true, message: 'nothing for 300 ms (3 bookmark intervals)' });
    await until(() => s.taken.length === 2, 'the reconnect');
    expect(s.taken[1]?.headers['last-event-id']).toBe('1');
    expect(log).toContain('state down');
  });

  it('close() from inside a callback ends the stream and every timer: no more callbacks, no reconnect', async () => {
    const s = await serve((_n, res) => stream(res).bookmark(1, true).bookmark(2).bookmark(3));
    const seen: number[] = [];
    const client: WatchClient = watch(s, {
      bookmark: (b) => {
        seen.push(b.revision);
        if (b.revision === 2) client.close();
      },
    });
    await until(() => client.state === 'closed', 'closed');
    await s.taken[0]?.closed;
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen).toEqual([1, 2]);
    expect(s.taken).toHaveLength(1);
  });

  it('an aborted signal closes the client, and the url function is asked before every connection', async () => {
    const s = await serve((n, res) => {
      stream(res).bookmark(n, n === 1);
      setTimeout(() => res.destroy(), 20);
    });
    const abort = new AbortController();
    const urls: string[] = [];
    const { log, listener } = recorder();
    watch(s, listener, {
      signal: abort.signal,
      url: () => {
        urls.push(`${s.url}/v1/watch?n=${urls.length + 1}`);
        return urls[urls.length - 1] ?? '';
      },
    });
    await until(() => s.taken.length >= 3, 'three connections');
    abort.abort();
    expect(log.at(-1)).toBe('state closed');
    expect(s.taken.slice(0, 3).map((t) => t.url)).toEqual(['/v1/watch?n=1', '/v1/watch?n=2', '/v1/watch?n=3']);
  });

  it('staleness is the last bookmark\'s ageMs plus the time since it arrived, on the caller\'s clock', async () => {
    let clock = 1000;
    const s = await serve((_n, res) => stream(res).bookmark(4, true, 250));
    const { log, listener } = recorder();
    const client = watch(s, listener, { now: () => clock });
    expect(client.stalenessMs()).toBe(Infinity);
    await until(() => log.includes('state synced'), 'the snapshot');
    expect(client.bookmark).toMatchObject({ revision: 4, ageMs: 250, receivedAt: 1000 });
    expect(client.stalenessMs()).toBe(250);
    clock = 1600;
    expect(client.stalenessMs()).toBe(850);
    expect(client.stalenessMs(900)).toBe(250);
  });

  it('ignores malformed frames and unknown events, and keeps reading', async () => {
    const s = await serve((_n, res) => {
      stream(res)
        .write('event: put\ndata: {not json\n\n')
        .write('event: put\ndata: {"data":{"tenant":"acme"}}\n\n')
        .write('event: bookmark\ndata: {"revision":"x"}\n\n')
        .write('event: health\ndata: {"tenant":"acme"}\n\n')
        .write('event: later-version\ndata: {}\n\n')
        .change('acme/a/prod', 'https://a', 2)
        .bookmark(2, true);
    });
    const { log, listener } = recorder();
    watch(s, listener);
    await until(() => log.includes('state synced'), 'the snapshot');
    expect(log.filter((l) => !l.startsWith('connecting') && !l.startsWith('open'))).toEqual([
      'snapshot@2 put acme/a/prod=https://a@2',
      'bookmark 2 snapshot',
      'state synced',
    ]);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates (never negative), and nothing else', () => {
    const now = Date.parse('2026-12-06T10:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Sun, 06 Dec 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Sun, 06 Dec 2026 09:00:00 GMT', now)).toBe(0);
    for (const bad of [undefined, null, '', 'soon']) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });
});

describe('WatchClient: a revision of many changes (a change set)', () => {
  it('hands a revision over only when its last frame (the id line) arrives, back to back; the resume point moves only on id lines', async () => {
    const body = new ChunkedBody();
    const { log, listener } = recorder();
    const client = new WatchClient({ url: 'http://resolver.test/v1/watch/acme', fetch: body.fetch }, listener);
    clients.push(client);
    client.start();
    await body.push(changeFrame('acme/a/prod', 'https://a', 1) + bookmarkFrame(1, true));
    expect(client.lastEventId).toBe(1);
    // Two of revision 2's three frames: nothing handed over, the resume point still 1.
    await body.push(changeFrame('acme/a/prod', 'https://a2', 2) + changeFrame('acme/b/prod', 'https://b2', 2));
    expect(log.filter((l) => l.includes('@2'))).toEqual([]);
    expect(client.lastEventId).toBe(1);
    await body.push(changeFrame('acme/c/prod', null, 2, 2));
    expect(log.filter((l) => l.includes('@2'))).toEqual(['put acme/a/prod=https://a2@2 id=-', 'put acme/b/prod=https://b2@2 id=-', 'delete acme/c/prod=null@2 id=2']);
    expect(client.lastEventId).toBe(2);
  });
});

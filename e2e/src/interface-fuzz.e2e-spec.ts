import { Agent, request } from 'node:http';
import { TEST_ADMIN_TOKEN, TestStack, type AppProcess } from '@tm/testing';

/**
 * Generated bad requests against both HTTP APIs, as processes over real sockets (docs/guarantees.md, "HTTP
 * conventions"): bad percent-encodings, overlong paths and path parameters, huge headers, bad
 * JSON, wrong content types, bodies too large, bad query and header values, unknown fields and
 * routes. Whatever the framework or the app answers: never a 5xx; every error is problem+json
 * (type, title, status, detail) with the request id in the X-Request-Id header and in the body;
 * no body is longer than MAX_BODY; none carries back any long piece of the input. The failure
 * message counts the defects by kind of defect and kind of request.
 */

const MAX_BODY = 2048;
/**
 * A piece of input longer than this must never come back (a problem's `instance` is the path when it
 * is at most this long; an unknown field's name is cut at 64 characters).
 */
const ECHO = 256;
const PER_API = 400;

/** A small deterministic generator (mulberry32): the same requests every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ (t + Math.imul(t ^ (t >>> 14), 61 | t));
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Sent {
  kind: string;
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
  /** Long pieces of the input that must not come back. */
  long: string[];
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

type Api = 'command-api' | 'resolver';

function generator(api: Api, seed: number): () => Sent {
  const rnd = random(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  const letters = (n: number) => Array.from({ length: n }, () => pick('abcdefghijklmnopqrstuvwxyz0123456789-'.split(''))).join('');
  const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` };
  const json = { ...auth, 'content-type': 'application/json' };
  const BAD_ESCAPES = ['%zz', '%ED%A0%80', '%', '%C3', '%FF%FE', '%E2%82', '%C0%AF', '%%41', '%G0', `%${letters(1)}`];
  const routeBase = api === 'resolver' ? '/v1/resolve' : '/v1/routes';
  const routePaths = (t: string, s: string, e: string) =>
    api === 'resolver' ? [`${routeBase}/${t}/${s}/${e}`] : [`${routeBase}/${t}/${s}/${e}`, `/v1/tenants/${t}`, `/v1/api-keys/${t}`];
  const names = () => [letters(1 + int(8)), letters(1 + int(8)), letters(1 + int(8))] as const;

  const kinds: (() => Sent)[] = [
    // A bad percent-encoding somewhere in the path (or the query).
    () => {
      const parts = [...names()];
      const at = int(3);
      parts[at] = `${parts[at]}${pick(BAD_ESCAPES)}${letters(int(4))}`;
      const path = pick(routePaths(parts[0], parts[1], parts[2]));
      return { kind: 'bad encoding', method: pick(['GET', 'DELETE']), path, headers: auth, long: [] };
    },
    // A path parameter over the router's limit (and a long path of many short segments).
    () => {
      const [t, s, e] = names();
      const big = letters(101 + int(6000));
      const path = pick([
        ...routePaths(big, s, e),
        ...routePaths(t, s, big),
        `/v1/${Array.from({ length: 20 + int(300) }, () => letters(8)).join('/')}`,
      ]);
      return { kind: 'overlong path', method: 'GET', path, headers: auth, long: [big] };
    },
    // Headers larger than the server takes.
    () => {
      const big = letters(20_000 + int(20_000));
      const [t, s, e] = names();
      return { kind: 'huge header', method: 'GET', path: routePaths(t, s, e)[0] as string, headers: { ...auth, 'x-junk': big }, long: [big] };
    },
    // A query value that is not one.
    () => {
      const [t, s, e] = names();
      const junk = pick([letters(ECHO + 1 + int(900)), '-1', '1e3', '0x10', '99999999999999999999', '', '%zz', 'strong%00']);
      const query =
        api === 'resolver'
          ? pick([`minRevision=${junk}`, `consistency=${junk}`, `minRevision=1&minRevision=2`, `${letters(5)}=${junk}`])
          : pick([`limit=${junk}`, `cursor=${junk}`, `limit=1&limit=2`, `tenant=${junk}`, `${letters(5)}=${junk}`]);
      const path = api === 'resolver' ? `${routeBase}/${t}/${s}/${e}?${query}` : `/v1/routes?${query}`;
      return { kind: 'bad query', method: 'GET', path, headers: auth, long: junk.length > ECHO ? [junk] : [] };
    },
    // A header value that is not one (kept under the server's header limit).
    () => {
      const [t, s, e] = names();
      const junk = letters(ECHO + 1 + int(4000));
      const header = pick(
        api === 'resolver'
          ? [['x-min-revision', junk], ['authorization', `Bearer ${junk}`], ['authorization', junk]]
          : [['if-match', junk], ['if-none-match', junk], ['authorization', `Bearer ${junk}`], ['authorization', `Basic ${junk}`]],
      ) as [string, string];
      const method = api === 'resolver' ? 'GET' : pick(['PUT', 'DELETE']);
      const body = method === 'PUT' ? JSON.stringify({ url: 'https://fuzz.example' }) : undefined;
      const headers = { ...json, [header[0]]: header[1] };
      return { kind: 'bad header', method, path: `${routeBase}/${t}/${s}/${e}`, headers, ...(body ? { body } : {}), long: [junk] };
    },
    // A body that is not JSON, though it says it is.
    () => {
      const [t, s, e] = names();
      const junk = letters(ECHO + 1 + int(2000));
      const body = pick([`{"url": "${junk}`, `{${junk}}`, `[${junk}`, `{"url": "https://x.example",}`, '\u0000\u0001', `"${junk}`, `{"__proto__": {"x": 1}, "url": "${junk}"}`]);
      const path = api === 'resolver' ? `${routeBase}/${t}/${s}/${e}` : pick([`${routeBase}/${t}/${s}/${e}`, '/v1/tenants', '/v1/api-keys']);
      const method = api === 'resolver' ? 'GET' : path.startsWith(routeBase) ? 'PUT' : 'POST';
      return { kind: 'bad json', method, path, headers: json, body, long: [junk] };
    },
    // A body of another content type.
    () => {
      const [t, s, e] = names();
      const junk = letters(ECHO + 1 + int(500));
      const type = pick(['text/plain', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x', 'application/octet-stream', `application/${junk}`, 'application/json-patch+json']);
      const method = api === 'resolver' ? 'GET' : 'PUT';
      return { kind: 'content type', method, path: `${routeBase}/${t}/${s}/${e}`, headers: { ...auth, 'content-type': type }, body: `url=${junk}`, long: [junk] };
    },
    // A body over the limit.
    () => {
      const [t, s, e] = names();
      const method = api === 'resolver' ? 'GET' : pick(['PUT', 'POST']);
      // Over 16 KiB, or over the 64 KiB a route PUT takes.
      const junk = letters((method === 'PUT' ? 66_000 : 17_000) + int(50_000));
      const path = method === 'POST' ? '/v1/tenants' : `${routeBase}/${t}/${s}/${e}`;
      return { kind: 'body too large', method, path, headers: json, body: JSON.stringify({ url: `https://x.example/${junk}` }), long: [junk] };
    },
    // Well-formed JSON with fields nobody asked for, or values of the wrong kind.
    () => {
      const [t, s, e] = names();
      const field = `f${letters(ECHO + 1 + int(200))}`;
      const junk = letters(ECHO + 1 + int(3000));
      const body = pick([
        { url: 'https://x.example', [field]: 1 },
        { url: { nested: junk } },
        { url: [junk] },
        { slug: t, displayName: `${junk}${'❤️'.repeat(int(300))}` },
        { name: junk.repeat(2), scopes: [junk] },
        { [field]: junk },
      ]);
      const path = api === 'resolver' ? `${routeBase}/${t}/${s}/${e}` : pick([`${routeBase}/${t}/${s}/${e}`, '/v1/tenants', '/v1/api-keys']);
      const method = api === 'resolver' ? 'GET' : path.startsWith(routeBase) ? 'PUT' : 'POST';
      return { kind: 'unknown field', method, path, headers: json, body: JSON.stringify(body), long: [field, junk] };
    },
    // Routes and methods that do not exist.
    () => {
      const junk = letters(ECHO + 1 + int(1500));
      const path = pick([`/${junk}`, `/v1/${junk}?${junk}=1`, `/v2/routes/${letters(5)}`, `${routeBase}`, `${routeBase}/a`, '/docs-json/x']);
      const method = pick(['GET', 'POST', 'PATCH', 'PUT', 'DELETE', 'OPTIONS']);
      return { kind: 'unknown route', method, path, headers: auth, long: junk.length > ECHO ? [junk] : [] };
    },
  ];
  return () => pick(kinds)();
}

/** Kept-alive connections; an answer that closes its connection (431, 413) gets one of its own. */
const agent = new Agent({ keepAlive: true, maxSockets: 8 });
const CLOSING = new Set(['huge header', 'body too large']);

function send(app: AppProcess, r: Sent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...r.headers };
    if (r.body !== undefined) headers['content-length'] = Buffer.byteLength(r.body);
    const req = request({ host: '127.0.0.1', port: app.port, method: r.method, path: r.path, headers, agent: CLOSING.has(r.kind) ? false : agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    // A server that refuses early (413, 431) may close before the whole body is written.
    req.on('error', (e: NodeJS.ErrnoException) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? resolve({ status: -1, headers: {}, body: e.code }) : reject(e)));
    req.end(r.body);
  });
}

/** What is wrong with one answer, each as a kind of defect ("" when nothing is). */
function defects(sent: Sent, answer: Answer): string[] {
  const found: string[] = [];
  if (answer.status === -1) return ['connection closed without an answer'];
  if (answer.status >= 500) found.push(`${answer.status} answer`);
  const requestId = answer.headers['x-request-id'];
  if (typeof requestId !== 'string' || requestId === '') found.push('no X-Request-Id header');
  if (answer.body.length > MAX_BODY) found.push(`body over ${MAX_BODY} characters`);
  const echoed = [answer.body, ...Object.values(answer.headers).flat()].join('\n');
  if (sent.long.some((piece) => echoed.includes(piece.slice(0, ECHO + 1)))) found.push('echoes the input');
  if (answer.status >= 400) {
    if (!/^application\/problem\+json/.test(String(answer.headers['content-type']))) found.push('not problem+json');
    else {
      let problem: Record<string, unknown> = {};
      try {
        problem = JSON.parse(answer.body) as Record<string, unknown>;
      } catch {
        found.push('problem that is not JSON');
      }
      for (const member of ['type', 'title', 'detail'] as const) if (typeof problem[member] !== 'string') found.push(`problem without ${member}`);
      if (problem['status'] !== answer.status) found.push('problem status differs');
      if (problem['requestId'] !== requestId) found.push('problem without the request id');
    }
  }
  return found;
}

describe.each(['command-api', 'resolver'] as const)('fuzzing the %s with bad requests', (api) => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await TestStack.start({ apps: [api], env: { LOG_LEVEL: 'warn' } });
  }, 60_000);
  afterAll(async () => {
    agent.destroy();
    await stack.stop();
  });

  it('answers the malformed paths of the issue: 400 for a bad encoding, 414 for a parameter too long', async () => {
    const app = stack.app(api);
    const base = api === 'resolver' ? '/v1/resolve' : '/v1/routes';
    const long = 'x'.repeat(5_000);
    const cases: [string, number][] = [
      [`${base}/a/b/%zz`, 400],
      [`${base}/a/b/%ED%A0%80`, 400],
      [`${base}/a/b/${long}`, 414],
      [`${base}/${long}/b/c`, 414],
      ['/v1/nothing-here', 404],
    ];
    for (const [path, status] of cases) {
      const answer = await send(app, { kind: 'named', method: 'GET', path, headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }, long: [long] });
      expect([path.slice(0, 40), answer.status, defects({ kind: 'named', method: 'GET', path, headers: {}, long: [long] }, answer)]).toEqual([path.slice(0, 40), status, []]);
      expect(JSON.parse(answer.body)).toMatchObject({ status, requestId: answer.headers['x-request-id'] });
    }
  });

  it(`answers ${PER_API} generated bad requests with bounded problems, never a 5xx`, async () => {
    const app = stack.app(api);
    const next = generator(api, api === 'resolver' ? 7 : 11);
    const requests = Array.from({ length: PER_API }, next);
    const byKind = new Map<string, Map<string, number>>();
    const statuses = new Map<string, Set<number>>();
    const examples: string[] = [];
    let index = 0;
    const worker = async () => {
      while (index < requests.length) {
        const sent = requests[index++] as Sent;
        const answer = await send(app, sent);
        statuses.set(sent.kind, (statuses.get(sent.kind) ?? new Set()).add(answer.status));
        for (const defect of defects(sent, answer)) {
          const counts = byKind.get(defect) ?? new Map<string, number>();
          counts.set(sent.kind, (counts.get(sent.kind) ?? 0) + 1);
          byKind.set(defect, counts);
          if (examples.length < 8) examples.push(`${defect}: ${sent.method} ${sent.path.slice(0, 80)} -> ${answer.status} ${answer.body.slice(0, 160)}`);
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const report = [...byKind].map(([defect, counts]) => `${defect}: ${[...counts].map(([k, n]) => `${k} ${n}`).join(', ')}`);
    expect({ defects: report, examples }).toEqual({ defects: [], examples: [] });
    // Every kind was sent, and each got the answers the contract names for it.
    expect(new Set(requests.map((r) => r.kind)).size).toBe(10);
    const expected: Record<string, number[]> = {
      // 404 for a method the path has no route for (the router does not decode the path then).
      'bad encoding': [400, 404],
      'overlong path': [404, 414],
      'huge header': [431],
      // The resolver has only GET routes, whose bodies Fastify does not read.
      ...(api === 'command-api' ? { 'content type': [415], 'body too large': [413] } : {}),
    };
    for (const [kind, allowed] of Object.entries(expected)) {
      expect([kind, [...(statuses.get(kind) ?? [])].filter((s) => !allowed.includes(s))]).toEqual([kind, []]);
    }
  }, 120_000);
});

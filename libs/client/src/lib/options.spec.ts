import { TrafficManagerClient } from './client';
import { TrafficManagerError } from './errors';
import { parseRoute } from './route';
import { decodeToken, encodeToken } from './token';

function configError(make: () => unknown): TrafficManagerError {
  try {
    make();
  } catch (e) {
    if (e instanceof TrafficManagerError) return e;
    throw e;
  }
  throw new Error('no error was thrown');
}

describe('options are checked in the constructor', () => {
  const resolverUrl = 'http://127.0.0.1:1';

  it.each([
    [{ resolverUrl, maxStalenessMs: 60_001 }, 'maxStalenessMs'],
    [{ resolverUrl, maxStalenessMs: 0 }, 'maxStalenessMs'],
    [{ resolverUrl, maxStalenessMs: 1.5 }, 'maxStalenessMs'],
    [{ resolverUrl, staleIfErrorMs: -1 }, 'staleIfErrorMs'],
    [{ resolverUrl, timeoutMs: 0 }, 'timeoutMs'],
    [{ resolverUrl, maxTenants: 0 }, 'maxTenants'],
    [{ resolverUrl: 'ftp://example.com' }, 'resolverUrl'],
    [{ resolverUrl: 'not a url' }, 'resolverUrl'],
    [{ resolverUrl, commandUrl: 'file:///etc' }, 'commandUrl'],
    [{ resolverUrl, apiKey: '' }, 'apiKey'],
  ])('%j is invalid_config naming %s', (options, name) => {
    const error = configError(() => new TrafficManagerClient(options));
    expect(error.code).toBe('invalid_config');
    expect(error.message).toContain(name);
  });

  it('accepts the bound itself and the defaults', async () => {
    const tm = new TrafficManagerClient({ resolverUrl: 'https://resolver.example/', maxStalenessMs: 60_000 });
    expect(tm.stats()).toEqual({ memoryHits: 0, resolverCalls: 0, staleAnswers: 0, watchWaits: 0, watches: [] });
    await tm.close();
  });
});

describe('routes', () => {
  it('takes an object or a t/s/e string', () => {
    expect(parseRoute('acme/api/prod')).toEqual({ tenant: 'acme', service: 'api', environment: 'prod' });
    expect(parseRoute({ tenant: 'acme', service: 'api', environment: 'eu-canary' })).toEqual({ tenant: 'acme', service: 'api', environment: 'eu-canary' });
  });

  it.each(['acme/api', 'Acme/api/prod', 'acme/api/prod/x', 'acme//prod', '-a/b/c'])('%s is invalid_route', (ref) => {
    expect(configError(() => parseRoute(ref)).code).toBe('invalid_route');
  });
});

describe('session tokens', () => {
  it('round-trip a revision as an opaque string', () => {
    const token = encodeToken(123456789);
    expect(token).toMatch(/^tm1\.[A-Za-z0-9_-]+$/);
    expect(decodeToken(token)).toBe(123456789);
    expect(decodeToken(encodeToken(0))).toBe(0);
  });

  it.each(['', 'tm1.', 'tm2.MTI', 'tm1.!!', `tm1.${Buffer.from('-3').toString('base64url')}`, `tm1.${Buffer.from('1e3').toString('base64url')}`])(
    '%j is invalid_token',
    (token) => {
      expect(configError(() => decodeToken(token)).code).toBe('invalid_token');
    },
  );

  it('a client resumes a session from its token, and refuses a bad one', async () => {
    const tm = new TrafficManagerClient({ resolverUrl: 'http://127.0.0.1:1' });
    const s = tm.session(encodeToken(41));
    expect(s.revision).toBe(41);
    expect(tm.session(s.token).revision).toBe(41);
    expect(tm.session().revision).toBe(0);
    expect(configError(() => tm.session('tm1.bad*')).code).toBe('invalid_token');
    await tm.close();
  });
});

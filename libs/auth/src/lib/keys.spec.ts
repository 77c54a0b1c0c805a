import { bearerToken, generateApiKey, hashesEqual, hashSecret, parseApiKey } from './keys';
import { Principal } from './principal';

describe('API keys', () => {
  it('generates keys that parse back and whose secret hash matches', () => {
    const { key, lookup, secretHash } = generateApiKey();
    const parsed = parseApiKey(key);
    expect(parsed?.lookup).toBe(lookup);
    expect(hashesEqual(hashSecret(parsed?.secret ?? ''), secretHash)).toBe(true);
    expect(generateApiKey().key).not.toBe(key);
  });

  it.each(['', 'tm_', 'tm_abc_def', `tm_${'g'.repeat(20)}_${'a'.repeat(43)}`, `xx_${'a'.repeat(20)}_${'a'.repeat(43)}`])(
    'refuses the malformed key %p',
    (key) => {
      expect(parseApiKey(key)).toBeUndefined();
    },
  );

  it('compares secrets of any length through their hashes (how the admin token is checked)', () => {
    expect(hashesEqual(hashSecret('abc'), hashSecret('abc'))).toBe(true);
    expect(hashesEqual(hashSecret('abc'), hashSecret('abcd'))).toBe(false);
  });

  it.each([
    ['Bearer abc', 'abc'],
    ['bearer abc', 'abc'],
    ['Basic abc', undefined],
    ['Bearer', undefined],
    ['Bearer a b', undefined],
    [undefined, undefined],
  ])('reads the bearer token of %p', (header, token) => {
    expect(bearerToken(header)).toBe(token);
  });
});

describe('Principal', () => {
  const reader = new Principal('k1', 'reader', 'acme', new Set(['routes:read']), 'tenant-acme-id');
  const writer = new Principal('k2', 'writer', 'acme', new Set(['routes:write']), 'tenant-acme-id');
  const global = new Principal('k3', 'global', null, new Set(['routes:read']), null);
  const admin = new Principal('admin-token', 'admin', null, new Set(['admin']), null);

  it('binds a key to its tenant', () => {
    expect(() => reader.authorize('routes:read', 'acme')).not.toThrow();
    expect(() => reader.authorize('routes:read', 'globex')).toThrow(/tenant globex/);
    expect(() => global.authorize('routes:read', 'globex')).not.toThrow();
  });

  it('enforces scopes; write includes read; admin includes everything', () => {
    expect(() => reader.authorize('routes:write', 'acme')).toThrow(/routes:write/);
    expect(() => writer.authorize('routes:read', 'acme')).not.toThrow();
    expect(() => writer.authorize('admin')).toThrow(/admin/);
    expect(() => admin.authorize('routes:write', 'anyone')).not.toThrow();
  });
});

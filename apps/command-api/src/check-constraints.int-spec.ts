import { CHECK_CONSTRAINT_FIELDS, INTERNAL_CHECK_CONSTRAINTS } from '@tm/persistence';
import { CommandApiUnderTest } from './command-api.test-support';

/**
 * The DTOs count a length as the database's CHECK (char_length) does, in code points, so that the
 * two agree on every value; a CHECK violation that still reaches the database is a 400 naming the
 * field, never a 500.
 */
describe('lengths and CHECK constraints', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  const HEART = '\u2764\uFE0F'; // "❤️": two code points; validator.js' isLength counts it as one.
  const charLength = async (sql: string, params: unknown[]) => Number((await api.db.query<{ n: string }>(sql, params)).rows[0]?.n);

  it.each([
    ['200 hearts (400 code points)', 400, HEART.repeat(200)],
    ['100 hearts (200 code points)', 201, HEART.repeat(100)],
    ['201 emoji outside the BMP', 400, '\u{1F680}'.repeat(201)],
    ['200 emoji outside the BMP', 201, '\u{1F680}'.repeat(200)],
    ['100 letters with a combining accent (200 code points)', 201, 'e\u0301'.repeat(100)],
    ['100 letters with a combining accent and one more', 400, `${'e\u0301'.repeat(100)}x`],
  ])('a tenant display name of %s is answered %i, as the database counts it', async (_what, status, displayName) => {
    const slug = `len-${Math.random().toString(36).slice(2, 10)}`;
    const res = await api.request('POST', '/v1/tenants', { body: { slug, displayName } });
    expect(res.status).toBe(status);
    if (status === 400) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual(['displayName']);
    } else {
      expect(await charLength('SELECT char_length(display_name) AS n FROM tenants WHERE slug = $1', [slug])).toBe(200);
    }
  });

  it.each([
    ['100 hearts', 400, HEART.repeat(100)],
    ['50 hearts', 201, HEART.repeat(50)],
  ])('an API key name of %s is answered %i, counted the same way', async (_what, status, name) => {
    const res = await api.request('POST', '/v1/api-keys', { body: { name, scopes: ['routes:read'] } });
    expect(res.status).toBe(status);
    if (status === 400) expect(res.json<{ errors: { field: string }[] }>().errors.map((e) => e.field)).toEqual(['name']);
  });

  it('a URL of 2048 code points that are 4096 UTF-16 units is taken, as the database takes it', async () => {
    const url = `https://x.example/${'\u{1F680}'.repeat(2048 - 'https://x.example/'.length)}`;
    const res = await api.request('PUT', '/v1/routes/lengths/astral/prod', { body: { url } });
    expect(res.status).toBe(201);
    expect(await charLength(`SELECT char_length(url) AS n FROM endpoints WHERE environment = 'prod' AND url = $1`, [url])).toBe(2048);
    const over = await api.request('PUT', '/v1/routes/lengths/astral/prod', { body: { url: `${url}x` } });
    expect(over.status).toBe(400);
  });

  it('a CHECK violation the DTO let through is a 400 naming the field, not a 500', async () => {
    // Force it: the test's own database gets a stricter rule under the same constraint name.
    await api.db.query('ALTER TABLE tenants DROP CONSTRAINT tenants_display_name_length');
    await api.db.query('ALTER TABLE tenants ADD CONSTRAINT tenants_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 10) NOT VALID');
    try {
      const res = await api.request('POST', '/v1/tenants', { body: { slug: 'forced-check', displayName: 'longer than ten' } });
      expect(res.status).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = res.json<{ status: number; errors: { field: string }[]; requestId: string }>();
      expect(problem).toMatchObject({ status: 400, errors: [{ field: 'displayName' }] });
      expect(problem.requestId).toBe(res.headers['x-request-id']);
      expect((await api.db.query(`SELECT 1 FROM tenants WHERE slug = 'forced-check'`)).rowCount).toBe(0);
    } finally {
      await api.db.query('ALTER TABLE tenants DROP CONSTRAINT tenants_display_name_length');
      await api.db.query('ALTER TABLE tenants ADD CONSTRAINT tenants_display_name_length CHECK (char_length(display_name) BETWEEN 1 AND 200)');
    }
  });

  it('an unknown CHECK violation is still a 400, without a field', async () => {
    await api.db.query(`ALTER TABLE tenants ADD CONSTRAINT tenants_test_only CHECK (slug <> 'refused-by-check')`);
    try {
      const res = await api.request('POST', '/v1/tenants', { body: { slug: 'refused-by-check' } });
      expect(res.status).toBe(400);
      expect(res.json<{ errors: unknown[] }>().errors).toEqual([]);
    } finally {
      await api.db.query('ALTER TABLE tenants DROP CONSTRAINT tenants_test_only');
    }
  });

  it('every CHECK constraint of the schema is mapped to a field or known to be internal', async () => {
    const { rows } = await api.db.query<{ conname: string }>(
      `SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE contype = 'c' AND nspname = 'public' ORDER BY 1`,
    );
    expect(rows.map((r) => r.conname)).toEqual([...Object.keys(CHECK_CONSTRAINT_FIELDS), ...INTERNAL_CHECK_CONSTRAINTS].sort());
  });
});

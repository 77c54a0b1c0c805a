import { consoleApiTypes } from '@tm/testing';
import { ResolverUnderTest } from './resolver.test-support';

/**
 * The console calls the resolver through types generated from its OpenAPI document
 * (apps/console/src/api/resolver.gen.ts): they must say what the resolver says today.
 */
describe('the console’s resolver types', () => {
  let r: ResolverUnderTest;
  beforeAll(async () => {
    r = await ResolverUnderTest.start();
  });
  afterAll(() => r.stop());

  it('are what openapi-typescript makes of /docs-json (TM_UPDATE_API_TYPES=1 rewrites them)', async () => {
    const res = await r.app.inject({ method: 'GET', url: '/docs-json' });
    expect(res.statusCode).toBe(200);
    const { generated, committed, file } = consoleApiTypes('resolver', res.json());
    expect({ file, upToDate: committed === generated }).toEqual({ file, upToDate: true });
  });
});

import { consoleApiTypes } from '@tm/testing';
import { CommandApiUnderTest } from './command-api.test-support';

/**
 * The console calls the command API through types generated from its OpenAPI document
 * (apps/console/src/api/command-api.gen.ts): they must say what the API says today.
 */
describe('the console’s command API types', () => {
  let api: CommandApiUnderTest;
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
  });
  afterAll(() => api.stop());

  it('are what openapi-typescript makes of /docs-json (TM_UPDATE_API_TYPES=1 rewrites them)', async () => {
    const res = await api.request('GET', '/docs-json', { token: null });
    expect(res.status).toBe(200);
    const { generated, committed, file } = consoleApiTypes('command-api', res.json());
    expect({ file, upToDate: committed === generated }).toEqual({ file, upToDate: true });
  });
});

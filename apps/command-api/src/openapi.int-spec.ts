import { CommandApiUnderTest } from './command-api.test-support';

interface Operation {
  responses: Record<string, { content?: Record<string, unknown> }>;
  security?: unknown[];
}

/** The OpenAPI document describes every endpoint of the contract, its body and its errors. */
describe('OpenAPI document', () => {
  let api: CommandApiUnderTest;
  let doc: { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };
  beforeAll(async () => {
    api = await CommandApiUnderTest.start();
    const res = await api.request('GET', '/docs-json', { token: null });
    expect(res.status).toBe(200);
    doc = res.json();
  });
  afterAll(() => api.stop());

  const endpoints: [string, string, string[]][] = [
    ['put', '/v1/routes/{tenant}/{service}/{environment}', ['200', '201', '400', '401', '403', '409', '412', '413', '415', '429', '503']],
    ['get', '/v1/routes/{tenant}/{service}/{environment}', ['200', '400', '401', '403', '404', '429', '503']],
    ['delete', '/v1/routes/{tenant}/{service}/{environment}', ['204', '400', '401', '403', '404', '412', '429', '503']],
    ['get', '/v1/routes', ['200', '400', '401', '403', '429', '503']],
    ['post', '/v1/tenants', ['201', '400', '401', '403', '409', '429', '503']],
    ['get', '/v1/tenants', ['200', '401', '403', '429', '503']],
    ['get', '/v1/tenants/{tenant}', ['200', '401', '403', '404', '429', '503']],
    ['patch', '/v1/tenants/{tenant}', ['200', '400', '401', '403', '404', '429', '503']],
    ['delete', '/v1/tenants/{tenant}', ['204', '401', '403', '404', '429', '503']],
    ['post', '/v1/api-keys', ['201', '400', '401', '403', '404', '429', '503']],
    ['get', '/v1/api-keys', ['200', '401', '403', '429', '503']],
    ['delete', '/v1/api-keys/{id}', ['204', '400', '401', '403', '404', '429', '503']],
    ['get', '/v1/revisions/{revision}', ['200', '400', '401', '412', '429', '503']],
  ];

  it.each(endpoints)('documents %s %s with its answers', (method, path, statuses) => {
    const operation = doc.paths[path]?.[method];
    expect(operation).toBeDefined();
    expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(statuses));
    for (const status of statuses.filter((s) => Number(s) >= 400)) {
      expect(Object.keys(operation?.responses[status]?.content ?? {})).toEqual(['application/problem+json']);
    }
    expect(operation?.security).toEqual([{ bearer: [] }]);
  });

  it('describes the bodies and the problem shape', () => {
    expect(doc.openapi).toMatch(/^3\./);
    for (const schema of ['PutRouteDto', 'RouteResponse', 'RouteListResponse', 'CreateTenantDto', 'UpdateTenantDto', 'TenantResponse', 'CreateApiKeyDto', 'CreatedApiKeyResponse', 'ProblemDoc']) {
      expect(doc.components.schemas).toHaveProperty(schema);
    }
  });

  it('documents the propagation status, and ?wait=in-sync on route writes (a DELETE that waits answers 200)', () => {
    const schemas = doc.components.schemas as Record<string, { properties?: Record<string, { nullable?: boolean }>; required?: string[] }>;
    expect(Object.keys(schemas['PropagationResponse']?.properties ?? {}).sort()).toEqual(
      ['cacheApplied', 'checkedAt', 'committedAt', 'published', 'resolvers', 'revision', 'status'].sort(),
    );
    expect(schemas['PropagationResponse']?.properties?.['committedAt']?.nullable).toBe(true);
    expect(Object.keys(schemas['RouteWithPropagationResponse']?.properties ?? {})).toContain('propagation');
    const route = doc.paths['/v1/routes/{tenant}/{service}/{environment}'] as Record<string, Operation & { parameters?: { name: string; in: string }[] }>;
    for (const method of ['put', 'delete']) {
      const query = (route[method]?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name);
      expect({ method, query: query.sort() }).toEqual({ method, query: ['wait', 'waitTimeoutMs'] });
    }
    expect(Object.keys(route['delete']?.responses ?? {})).toEqual(expect.arrayContaining(['200', '204']));
  });

  it('documents a tenant\'s dns: in every tenant body, optional on POST, and the PATCH body (displayName nullable)', () => {
    const schemas = doc.components.schemas as Record<string, { properties?: Record<string, { type?: string; nullable?: boolean }>; required?: string[] }>;
    expect(schemas['TenantResponse']?.properties?.['dns']).toMatchObject({ type: 'boolean' });
    expect(schemas['TenantResponse']?.required).toContain('dns');
    expect(schemas['CreateTenantDto']?.properties?.['dns']).toMatchObject({ type: 'boolean' });
    expect(schemas['CreateTenantDto']?.required ?? []).not.toContain('dns');
    expect(Object.keys(schemas['UpdateTenantDto']?.properties ?? {}).sort()).toEqual(['displayName', 'dns']);
    expect(schemas['UpdateTenantDto']?.required ?? []).toEqual([]);
    expect(schemas['UpdateTenantDto']?.properties?.['displayName']?.nullable).toBe(true);
    const patch = doc.paths['/v1/tenants/{tenant}']?.['patch'] as (Operation & { requestBody?: unknown }) | undefined;
    expect(JSON.stringify(patch?.requestBody)).toContain('#/components/schemas/UpdateTenantDto');
    expect(JSON.stringify(patch?.responses['200'])).toContain('#/components/schemas/TenantResponse');
  });

  it('is rendered at /docs', async () => {
    const res = await api.request('GET', '/docs', { token: null });
    expect(res.status).toBe(200);
    expect(String(res.body)).toContain('swagger');
  });
});

import { ValidationPipe, type ArgumentMetadata } from '@nestjs/common';
import { validationPipe } from '@tm/platform';
import { ResolveParamsDto, ResolveQuery } from './resolve.dto';

const fast = validationPipe();
const reference = validationPipe({ fastPaths: false });

async function outcome(pipe: ValidationPipe, value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
  try {
    const result = (await pipe.transform(structuredClone(value), metadata)) as object;
    return { ok: result, type: result.constructor.name };
  } catch (e) {
    return { error: e };
  }
}

const params: ArgumentMetadata = { type: 'param', metatype: ResolveParamsDto };
const query: ArgumentMetadata = { type: 'query', metatype: ResolveQuery };
const name63 = `a${'b'.repeat(61)}c`;

describe('the resolve DTOs: their fast paths agree with their decorators', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([
    { tenant: 'acme', service: 'web', environment: 'prod' },
    { tenant: 'a', service: '0', environment: name63 },
    { tenant: 'a-b', service: 'web', environment: 'eu-canary' },
    { tenant: 'Acme', service: 'web', environment: 'prod' },
    { tenant: '-acme', service: 'web', environment: 'prod' },
    { tenant: 'acme-', service: 'web', environment: 'prod' },
    { tenant: 'acme', service: `${name63}d`, environment: 'prod' },
    { tenant: 'acme', service: 'w_b', environment: 'prod' },
    { tenant: 'acme', service: '', environment: 'prod' },
    { tenant: 'acme', service: 'web' },
    { tenant: 'acme', service: 'web', environment: 'prod', extra: 'x' },
    { tenant: 'acme', service: 'web', environment: 'prod\n' },
  ])('params %p', async (value) => {
    expect(await outcome(fast, value, params)).toStrictEqual(await outcome(reference, value, params));
  });

  it.each([
    {},
    { minRevision: '0' },
    { minRevision: '42' },
    { minRevision: '007' },
    { minRevision: '999999999999999' },
    { minRevision: '9007199254740991' },
    { minRevision: '9007199254740992' },
    { minRevision: '' },
    { minRevision: '-1' },
    { minRevision: '1.5' },
    { minRevision: '1e3' },
    { minRevision: ' 5' },
    { minRevision: 'soon' },
    { minRevision: ['1', '2'] },
    { consistency: 'strong' },
    { consistency: 'eventual' },
    { consistency: 'strong', minRevision: '3' },
    { consistency: ['strong', 'strong'] },
    { other: '1' },
  ])('query %p', async (value) => {
    expect(await outcome(fast, value, query)).toStrictEqual(await outcome(reference, value, query));
  });

  it('plain values take the fast path: class-validator is not run', async () => {
    const full = jest.spyOn(ValidationPipe.prototype, 'transform');
    await fast.transform({ tenant: 'acme', service: 'web', environment: 'prod' }, params);
    await fast.transform({}, query);
    await fast.transform({ minRevision: '12', consistency: 'strong' }, query);
    expect(full).not.toHaveBeenCalled();
    await expect(fast.transform({ tenant: 'ACME', service: 'web', environment: 'prod' }, params)).rejects.toMatchObject({
      status: 400,
      extra: { errors: [{ field: 'tenant', message: expect.stringMatching(/^tenant must be 1 to 63 lowercase/) as unknown }] },
    });
    expect(full).toHaveBeenCalledTimes(1);
  });
});

describe('the fast paths with the objects Fastify really passes', () => {
  it('route params and query strings as Fastify parses them take the fast path', async () => {
    const { fastify } = await import('fastify');
    const app = fastify();
    const seen: unknown[] = [];
    app.get('/v1/resolve/:tenant/:service/:environment', async (request) => {
      seen.push(request.params, request.query);
      return {};
    });
    await app.inject('/v1/resolve/acme/web/prod');
    await app.inject('/v1/resolve/acme/web/prod?minRevision=5&consistency=strong');
    await app.close();
    const full = jest.spyOn(ValidationPipe.prototype, 'transform');
    const [params1, query1, params2, query2] = seen;
    expect(await fast.transform(params1, params)).toStrictEqual(Object.assign(new ResolveParamsDto(), { tenant: 'acme', service: 'web', environment: 'prod' }));
    expect(await fast.transform(query1, query)).toStrictEqual(new ResolveQuery());
    await fast.transform(params2, params);
    expect(await fast.transform(query2, query)).toStrictEqual(Object.assign(new ResolveQuery(), { minRevision: 5, consistency: 'strong' }));
    expect(full).not.toHaveBeenCalled();
  });
});

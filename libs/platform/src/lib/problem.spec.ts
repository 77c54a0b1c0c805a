import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { IsString } from 'class-validator';
import { fastifyAdapter, NEST_APP_OPTIONS } from './bootstrap';
import { ProblemException, ProblemFilter, STORE_ERRORS, UnavailableException, validationPipe, type StoreErrors } from './problem';

class NamedDto {
  @IsString()
  name!: string;
}

@Controller()
class ThrowingController {
  @Get('coded')
  coded(): never {
    throw new ProblemException(404, 'Not Found', 'route a/b/c has no endpoint enabled or draining', { code: 'no_enabled_endpoint', headers: { 'x-consistency-revision': '7' } });
  }

  @Get('uncoded')
  uncoded(): never {
    throw new ProblemException(409, 'Conflict', 'it exists already');
  }

  @Get('unavailable')
  unavailable(): never {
    throw new UnavailableException('PostgreSQL');
  }

  @Get('check')
  check(): never {
    throw Object.assign(new Error('new row violates check constraint'), { driverError: { code: '23514', constraint: 'endpoints_url_check' } });
  }

  @Get('store-down')
  storeDown(): never {
    throw new Error('the store says it is down');
  }

  @Get('socket')
  socket(): never {
    throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' });
  }

  @Post('named')
  @HttpCode(200)
  named(@Body() body: NamedDto): NamedDto {
    return body;
  }
}

/** The store's reading of its errors (@tm/persistence provides the real one, pg-errors.ts): a stand-in by message. */
const storeErrors: StoreErrors = {
  meaning: (e) => {
    const message = (e as Error).message;
    if (message.includes('violates check constraint')) return { kind: 'check_violation', constraint: 'endpoints_url_check', field: 'url' };
    return message.includes('the store says it is down') ? { kind: 'unavailable' } : undefined;
  },
};

@Module({
  controllers: [ThrowingController],
  providers: [
    { provide: APP_PIPE, useFactory: validationPipe },
    { provide: APP_FILTER, useClass: ProblemFilter },
    { provide: STORE_ERRORS, useValue: storeErrors },
  ],
})
class ProblemsModule {}

/** Every problem with a code carries it twice, `code` and `type` (docs/guarantees.md, "HTTP conventions"). */
describe('ProblemFilter', () => {
  let app: NestFastifyApplication;
  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({ imports: [ProblemsModule] }).compile();
    app = moduleRef.createNestApplication<NestFastifyApplication>(fastifyAdapter(), { ...NEST_APP_OPTIONS, logger: false });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
  });
  afterAll(() => app.close());

  const get = async (url: string) => {
    const res = await app.inject({ method: 'GET', url });
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    return { status: res.statusCode, headers: res.headers, body: res.json<Record<string, unknown>>() };
  };

  it('a ProblemException with a code: the code member and the urn type, with its headers', async () => {
    const res = await get('/coded');
    expect(res.status).toBe(404);
    expect(res.body).toMatchObject({ type: 'urn:traffic-manager:problem:no_enabled_endpoint', code: 'no_enabled_endpoint', title: 'Not Found', status: 404 });
    expect(res.headers['x-consistency-revision']).toBe('7');
  });

  it('one without a code: about:blank and no code member', async () => {
    const res = await get('/uncoded');
    expect(res.body).toMatchObject({ type: 'about:blank', status: 409 });
    expect(res.body).not.toHaveProperty('code');
  });

  it('a dependency down, a validation 400 and a CHECK violation carry their codes too', async () => {
    expect((await get('/unavailable')).body).toMatchObject({ type: 'urn:traffic-manager:problem:dependency_unavailable', code: 'dependency_unavailable', status: 503 });
    expect((await get('/check')).body).toMatchObject({ type: 'urn:traffic-manager:problem:validation', code: 'validation', status: 400, errors: [{ field: 'url' }] });
  });

  it("the store's unavailability, as the store reads its errors, and a socket error of any dependency: 503", async () => {
    for (const url of ['/store-down', '/socket']) {
      const res = await get(url);
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'dependency_unavailable', detail: 'a dependency is unavailable; retry later' });
    }
    const invalid = await app.inject({ method: 'POST', url: '/named', payload: { name: 3 } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json()).toMatchObject({ type: 'urn:traffic-manager:problem:validation', code: 'validation', errors: [{ field: 'name' }] });
  });

  it("the framework's own errors have no code", async () => {
    const res = await get('/nowhere');
    expect(res.body).toMatchObject({ type: 'about:blank', status: 404 });
    expect(res.body).not.toHaveProperty('code');
  });
});

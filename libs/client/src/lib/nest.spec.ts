import 'reflect-metadata';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Body, Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { TrafficManagerClient } from './client';
import { FakeServer, resolved } from './fake-server.test-support';

/** NestJS (Fastify adapter, as this project's apps use): `app.use(tm.middleware())` and `app.register(tm.fastifyPlugin())`. */
let resolver: FakeServer;
let downstream: Server;
let downstreamUrl = '';
const seen: (string | undefined)[] = [];
const holder: { tm?: TrafficManagerClient } = {};

@Controller()
class BController {
  @Post('b')
  async b(@Body() _body: unknown): Promise<{ revision: number | undefined; asOf: number | undefined }> {
    const tm = holder.tm as TrafficManagerClient;
    const answer = await tm.resolve('acme/api/prod');
    await (await tm.fetch(`${downstreamUrl}/c`)).text();
    return { revision: tm.currentSession()?.revision, asOf: answer?.asOf };
  }
}

@Module({ controllers: [BController] })
class BModule {}

beforeAll(async () => {
  resolver = await FakeServer.start();
  resolver.on('/v1/resolve/', (req, res) => resolved(res, 'acme/api/prod', 'https://a.example', 3, Number(req.headers['x-min-revision'] ?? 1)));
  downstream = createServer((req, res) => {
    seen.push(req.headers['x-min-revision'] as string | undefined);
    res.end('ok');
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  downstreamUrl = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}`;
  holder.tm = new TrafficManagerClient({ resolverUrl: resolver.url, watch: false });
});

afterAll(async () => {
  await holder.tm?.close();
  await resolver.close();
  downstream.closeAllConnections();
  await new Promise((resolve) => downstream.close(resolve));
});

async function bootAndCall(setup: (app: NestFastifyApplication) => unknown): Promise<unknown> {
  const app = await NestFactory.create<NestFastifyApplication>(BModule, new FastifyAdapter(), { logger: false });
  await setup(app);
  await app.listen(0, '127.0.0.1');
  try {
    const { port } = app.getHttpServer().address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/b`, {
      method: 'POST',
      body: JSON.stringify({ pad: 'z'.repeat(50_000) }),
      headers: { 'content-type': 'application/json', 'x-min-revision': '42' },
    });
    expect(res.status).toBe(201);
    return await res.json();
  } finally {
    await app.close();
  }
}

describe('NestJS', () => {
  it('app.register(tm.fastifyPlugin()): the handler runs in the request session', async () => {
    seen.length = 0;
    expect(await bootAndCall((app) => app.register(tm().fastifyPlugin()))).toEqual({ revision: 42, asOf: 42 });
    expect(seen).toEqual(['42']);
  });

  it('app.use(tm.middleware()): the handler runs in the request session', async () => {
    seen.length = 0;
    expect(await bootAndCall((app) => void app.use(tm().middleware()))).toEqual({ revision: 42, asOf: 42 });
    expect(seen).toEqual(['42']);
  });
});

function tm(): TrafficManagerClient {
  return holder.tm as TrafficManagerClient;
}

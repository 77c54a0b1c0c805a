import 'reflect-metadata';
import type { IncomingMessage } from 'node:http';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, RouteConfig, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { DynamicModule, Type } from '@nestjs/common';
import type { ClassConstructor } from 'class-transformer';
import type { FastifyServerOptions } from 'fastify';
import { Logger } from 'nestjs-pino';
import type { Logger as Pino } from 'pino';
import type { Registry } from 'prom-client';
import { Headers } from '@tm/contracts';
import { ConfigError, validateConfig, type BaseAppConfig } from './config';
import { logRequests, REQUEST_LOG_OPTIONS, requestIdOf, ROOT_LOGGER, type RequestLogOptions } from './logging';
import { clientErrorHandler, frameworkErrors } from './framework-errors';
import { HotCounter, HotHistogram } from './hot-metrics';
import { METRICS_REGISTRY } from './metrics';
import { MAX_PARAM_LENGTH, UnavailableException } from './problem';
import { ProblemDoc } from './problem-docs';
import { frontDoorOf, serverWithFrontDoor } from './front-door';
import { CORS_ALLOWED_ORIGINS, enableCors } from './cors';

/** Requests larger than this are refused with 413 (docs/guarantees.md, "HTTP conventions"). */
export const BODY_LIMIT_BYTES = 16 * 1024;

/** The body limit of a route PUT, which may carry a traffic policy. */
export const ROUTE_PUT_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * A handler that accepts bodies up to `bytes` instead of BODY_LIMIT_BYTES (read by fastifyAdapter's
 * onRoute hook); a name instead of a number is a limit the app's configuration sets (see fastifyAdapter).
 */
export function BodyLimit(bytes: number | string): MethodDecorator {
  return RouteConfig({ bodyLimit: bytes });
}

export interface AppDefinition<C extends BaseAppConfig> {
  /** The app's name in logs, metrics and error lines: `command-api`, `resolver`, ... */
  name: string;
  config: ClassConstructor<C>;
  /** Builds the root module from the validated configuration. */
  module: (config: C) => Type<unknown> | DynamicModule;
  /** The configuration property holding the HTTP port. */
  port: (config: C) => number;
  /** Title and description for the OpenAPI document at /docs-json, rendered at /docs. */
  openApi?: { title: string; description: string };
  /** The body limits the app's handlers name (BodyLimit with a name), from its configuration. */
  bodyLimits?: (config: C) => Record<string, number>;
}

/**
 * Reads and validates the configuration; on a bad value writes one line to stderr and exits 1.
 * Split out so that tests can check the line without starting anything.
 */
export function loadConfigOrExit<C extends object>(name: string, cls: ClassConstructor<C>): C {
  try {
    return validateConfig(cls, process.env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`${name}: invalid configuration: ${e.message}\n`);
    process.exit(1);
  }
}

/**
 * Options for every Nest application: logs buffered until pino takes over, and no body parsers of
 * Nest's own (it would add urlencoded forms): Fastify's JSON parser is the only one.
 */
export const NEST_APP_OPTIONS = { bufferLogs: true, bodyParser: false } as const;

/**
 * The Fastify adapter every app runs on: body limit, request ids, keep-alive, and problem+json for
 * what Fastify and Node refuse before Nest sees the request (a bad URL, a path parameter over
 * MAX_PARAM_LENGTH, headers too large); Nest's own not-found and error handlers send the rest
 * through the ProblemFilter.
 */
export function fastifyAdapter(bodyLimits: Record<string, number> = {}): FastifyAdapter {
  const adapter = new FastifyAdapter({
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors,
    clientErrorHandler,
    genReqId: (req: IncomingMessage) => requestIdOf(req),
    // Node's default keep-alive (5 s) is shorter than most proxies'; avoid resets under load.
    keepAliveTimeout: 65_000,
    // Fastify's own 503 while closing is JSON of another shape: instrument() answers it as a problem.
    return503OnClosing: false,
    // Fastify's own HTTP/1 server, with a front door before Fastify's handler (an app's hot path may answer there).
    serverFactory: serverWithFrontDoor as unknown as FastifyServerOptions['serverFactory'],
  });
  adapter.getInstance().addHook('onRoute', (route) => {
    const limit = (route.config as { bodyLimit?: unknown } | undefined)?.bodyLimit;
    if (typeof limit === 'number') route.bodyLimit = limit;
    else if (typeof limit === 'string') {
      const named = bodyLimits[limit];
      if (named === undefined) throw new Error(`no body limit named ${limit}: give it to fastifyAdapter`);
      route.bodyLimit = named;
    }
  });
  return adapter;
}

/**
 * What every app gets on top of its module: JSON logs, JSON-only bodies, request ids and HTTP
 * metrics, CORS for the origins PlatformModule was given, and the OpenAPI document when it has an
 * HTTP API. Tests call it on a testing module's app.
 */
export function configureApp(app: NestFastifyApplication, openApi?: AppDefinition<BaseAppConfig>['openApi']): void {
  app.useLogger(app.get(Logger));
  enableCors(app, app.get<readonly string[]>(CORS_ALLOWED_ORIGINS));
  // Bodies are JSON or nothing: anything else is a 415 (Fastify would otherwise accept text/plain).
  // An empty body is no body, whatever its content type says (clients send one on DELETE too);
  // anything else goes to Fastify's own JSON parser, with its prototype-poisoning protection.
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeContentTypeParser('text/plain');
  const json = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') return done(null, undefined);
    return json(request, String(body), done);
  });
  instrument(app);
  if (openApi) {
    const document = () => {
      const doc = SwaggerModule.createDocument(
        app,
        new DocumentBuilder()
          .setTitle(openApi.title)
          .setDescription(openApi.description)
          .setVersion('1')
          // Relative: the host and port that serve this document (each deployment has its own).
          .addServer('/', 'the server that serves this document')
          .addBearerAuth()
          .addSecurityRequirements('bearer')
          .build(),
        { extraModels: [ProblemDoc] },
      );
      // package.json's licence; DocumentBuilder.setLicense would add a URL, and there is none.
      doc.info.license = { name: 'UNLICENSED (proprietary)' };
      return doc;
    };
    SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', yamlDocumentUrl: 'docs-yaml' });
  }
}

/** Creates the Nest application on Fastify, configured. */
export async function createApp<C extends BaseAppConfig>(
  def: AppDefinition<C>,
  config: C,
): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(def.module(config), fastifyAdapter(def.bodyLimits?.(config)), {
    ...NEST_APP_OPTIONS,
    abortOnError: false,
  });
  configureApp(app, def.openApi);
  return app;
}

/** Request ids on every response, a log line per request, and a latency histogram per route and status. */
function instrument(app: NestFastifyApplication): void {
  const fastify = app.getHttpAdapter().getInstance();
  const registry = app.get<Registry>(METRICS_REGISTRY);
  // Hot metrics (hot-metrics.ts): every request counts in both; prom-client's own calls cost more than the resolver's answer logic.
  const duration = new HotHistogram({
    name: 'tm_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const total = new HotCounter({
    name: 'tm_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['method', 'route', 'status'],
    registers: [registry],
  });
  // A request that arrives on a kept-alive connection once close() began: 503 problem, Retry-After.
  let closing = false;
  const door = frontDoorOf(fastify);
  fastify.addHook('preClose', (done) => {
    closing = true;
    if (door) door.closing = true;
    done();
  });
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header(Headers.requestId, request.id);
    done(closing ? new UnavailableException('this replica (it is shutting down)', 1) : undefined);
  });
  const accessLine = logRequests(fastify, app.get<Pino>(ROOT_LOGGER), app.get<RequestLogOptions>(REQUEST_LOG_OPTIONS));
  const count = (method: string, route: string, status: number, elapsedMs: number) => {
    const labels = { method, route, status };
    duration.observe(labels, elapsedMs / 1000);
    total.inc(labels);
  };
  fastify.addHook('onResponse', (request, reply, done) => {
    count(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime);
    done();
  });
  // What the hooks above do, for the requests the front door answers.
  if (door) {
    door.answered = (a) => {
      count(a.method, a.route, a.status, a.elapsedMs);
      accessLine(a, a.status, a.elapsedMs);
    };
    const root = app.get<Pino>(ROOT_LOGGER);
    door.failed = (e) => root.error({ err: e instanceof Error ? e.message : String(e) }, 'the front handler failed; the request went on to the framework');
  }
}

/**
 * Starts an app: validates configuration (one line and exit 1 when bad), listens, and on SIGTERM
 * or SIGINT stops taking work, lets in-flight work finish (Nest's shutdown hooks close consumers
 * and pools) and exits 0; exits 1 if that takes longer than SHUTDOWN_TIMEOUT_MS. A signal that
 * arrives while the app is still starting ends it at once (exit 0: nothing was in flight); a
 * second signal while draining changes nothing. A closed stdout (the supervisor is gone) stops
 * the app the same way.
 *
 * Nest's own enableShutdownHooks() re-raises the signal after closing, which makes the exit
 * status 143 instead of the 0 the contract asks for; hence this small handler.
 */
export async function runApp<C extends BaseAppConfig>(def: AppDefinition<C>): Promise<void> {
  const config = loadConfigOrExit(def.name, def.config);
  // Set once created; the signal handlers exist before it does.
  const started: { app?: NestFastifyApplication } = {};
  let stopping = false;
  const stop = (reason: string) => {
    if (stopping) return;
    stopping = true;
    const app = started.app;
    if (!app) process.exit(0);
    const logger = app.get(Logger);
    logger.log(`${reason}: finishing in-flight work`, 'Shutdown');
    setTimeout(() => {
      logger.error(`shutdown took longer than ${config.SHUTDOWN_TIMEOUT_MS} ms; exiting`, undefined, 'Shutdown');
      process.exit(1);
    }, config.SHUTDOWN_TIMEOUT_MS).unref();
    app.close().then(
      () => {
        logger.log('stopped', 'Shutdown');
        process.exit(0);
      },
      (e: unknown) => {
        logger.error(`shutdown failed: ${String(e)}`, undefined, 'Shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM received'));
  process.on('SIGINT', () => stop('SIGINT received'));
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') stop('stdout closed');
  });
  const app = await createApp(def, config);
  started.app = app;
  if (stopping) {
    await app.close();
    process.exit(0);
  }
  const port = def.port(config);
  await app.listen({ port, host: config.HOST });
  app.get(Logger).log(`${def.name} listening on http://${config.HOST}:${port}`, 'Bootstrap');
}

/** The body of every main.ts: run the app; a failure to start is one line on stderr and exit 1. */
export function main<C extends BaseAppConfig>(def: AppDefinition<C>): void {
  runApp(def).catch((e: unknown) => {
    process.stderr.write(`${def.name}: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Logger, PARAMS_PROVIDER_TOKEN, PinoLogger, type Params } from 'nestjs-pino';
import { pino, type DestinationStream, type Logger as Pino, type LoggerOptions } from 'pino';
import { Headers } from '@tm/contracts';
import type { LogLevel } from './config';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's X-Request-Id when it is sane, else a new one. */
export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers[Headers.requestId];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** Paths that are polled by probes and scrapers: not worth a log line each. */
export function isOperationalPath(url: string | undefined): boolean {
  return url !== undefined && (url.startsWith('/health') || url.startsWith('/metrics'));
}

/** The app's root pino logger; every line of the app goes through it. */
export const ROOT_LOGGER = Symbol('ROOT_LOGGER');

/** How an app logs its HTTP requests (PlatformModule.forRoot({ requestLog })). */
export interface RequestLogOptions {
  /**
   * Level of the one line per answered request ("request completed") when the status is below
   * 400. Answers of 400 and above are always logged at `info`. An app whose successful answers
   * are its steady state, counted by its metrics, logs them at `debug` (LOG_LEVEL=debug shows
   * them again). Default `info`.
   */
  successLevel?: 'info' | 'debug';
  /**
   * Whether every line logged while a request is handled carries that request (`req.id`), through
   * AsyncLocalStorage. That costs a hook on every promise the request creates; an app whose
   * request-scoped lines carry the request id themselves can turn it off. Default true.
   */
  bindContext?: boolean;
}

export const REQUEST_LOG_OPTIONS = Symbol('REQUEST_LOG_OPTIONS');

/**
 * JSON logs, one line per event. Every line carries the app name; request lines carry the request
 * id. Anything that looks like a secret is redacted (request headers are never logged).
 */
export function createRootLogger(app: string, level: LogLevel, destination?: DestinationStream): Pino {
  const options: LoggerOptions = {
    level,
    base: { app },
    messageKey: 'msg',
    timestamp: () => `,"time":"${new Date().toISOString()}"`,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["x-api-key"]', '*.password', '*.secret', '*.key', '*.token'],
      censor: '[redacted]',
    },
  };
  return destination ? pino(options, destination) : pino(options);
}

@Global()
@Module({})
class LoggingModule {}

/**
 * The app's logger: nestjs-pino's Logger (Nest's LoggerService) and PinoLogger over one root pino
 * logger, without nestjs-pino's HTTP middleware: requests are logged by Fastify hooks
 * (`logRequests`), which cost far less per request than pino-http behind Nest middleware.
 */
export function loggingModule(app: string, level: LogLevel, requestLog: RequestLogOptions = {}): DynamicModule {
  const root = createRootLogger(app, level);
  const params: Params = { pinoHttp: { logger: root } };
  return {
    module: LoggingModule,
    providers: [
      { provide: ROOT_LOGGER, useValue: root },
      { provide: REQUEST_LOG_OPTIONS, useValue: requestLog },
      { provide: PARAMS_PROVIDER_TOKEN, useValue: params },
      PinoLogger,
      Logger,
    ],
    exports: [ROOT_LOGGER, REQUEST_LOG_OPTIONS, PinoLogger, Logger],
  };
}

/** What an access line says of a request: never its headers (they hold the key). */
function requestOf(request: { id: string; method: string; url: string }): { id: string; method: string; url: string } {
  return { id: request.id, method: request.method, url: request.url };
}

/**
 * One line per answered request ("request completed", with `req.id`, the status and the time it
 * took), except probes and scrapes; when `bindContext`, the request on every line logged while it
 * is handled.
 */
export function logRequests(fastify: FastifyInstance, root: Pino, options: RequestLogOptions): AccessLog {
  const successLevel = options.successLevel ?? 'info';
  if (options.bindContext ?? true) {
    const contextual = new PinoLogger({ pinoHttp: { logger: root } });
    fastify.addHook('onRequest', (request, _reply, done) => {
      if (isOperationalPath(request.url)) return done();
      // Everything the request does from here on runs inside nestjs-pino's logging context, which
      // its PinoLogger reads: every line carries the request.
      contextual.runInContext(done, { bindings: { req: requestOf(request) } });
    });
  }
  const accessLine: AccessLog = (request, statusCode, elapsedMs) => {
    const level = statusCode >= 400 ? 'info' : successLevel;
    if (root.isLevelEnabled(level) && !isOperationalPath(request.url)) {
      root[level]({ req: requestOf(request), res: { statusCode }, responseTime: Math.round(elapsedMs) }, 'request completed');
    }
  };
  fastify.addHook('onResponse', (request: FastifyRequest, reply: FastifyReply, done) => {
    accessLine(request, reply.statusCode, reply.elapsedTime);
    done();
  });
  return accessLine;
}

/** Writes a request's access line (logRequests'), for a request answered outside Fastify's hooks too. */
export type AccessLog = (request: { id: string; method: string; url: string }, statusCode: number, elapsedMs: number) => void;

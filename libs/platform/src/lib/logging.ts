import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import type { DynamicModule } from '@nestjs/common';
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

/**
 * JSON logs, one line per event. Every line carries the app name; request lines carry the request
 * id. The authorization header and anything that looks like a secret are redacted.
 */
export function loggingModule(app: string, level: LogLevel): DynamicModule {
  return LoggerModule.forRoot({
    pinoHttp: {
      level,
      base: { app },
      messageKey: 'msg',
      timestamp: () => `,"time":"${new Date().toISOString()}"`,
      // Fastify assigns the id (from X-Request-Id or new) before middleware runs; see bootstrap.ts.
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const existing = (req as IncomingMessage & { id?: string }).id;
        const id = existing ?? requestIdOf(req);
        if (!res.hasHeader(Headers.requestId)) res.setHeader(Headers.requestId, id);
        return id;
      },
      customAttributeKeys: { reqId: 'requestId' },
      // Middleware sees a rewritten req.url; originalUrl is what the client asked for.
      autoLogging: {
        ignore: (req: IncomingMessage & { originalUrl?: string }) => isOperationalPath(req.originalUrl ?? req.url),
      },
      redact: {
        paths: [
          'req.headers.authorization',
          'req.headers.cookie',
          'req.headers["x-api-key"]',
          '*.password',
          '*.secret',
          '*.key',
          '*.token',
        ],
        censor: '[redacted]',
      },
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
    },
  });
}

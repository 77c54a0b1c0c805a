import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';

/**
 * Answers a request before the framework sees it and says so (true), or leaves it to the framework
 * (false), having done nothing observable: no header set, nothing counted.
 */
export type FrontHandler = (request: IncomingMessage, response: ServerResponse) => boolean;

/** A request the front door answered, for the access log and the HTTP metrics. */
export interface FrontAnswer {
  id: string;
  method: string;
  url: string;
  /** The route's pattern, as Fastify names it in the metrics (`/v1/resolve/:tenant/:service/:environment`). */
  route: string;
  status: number;
  /** From the request's arrival to its answer, ms. */
  elapsedMs: number;
}

/**
 * The door in front of an app's Fastify instance (docs/benchmarks.md, "The hit path's budget"): every
 * request reaches the app's front handler first, when it has one, and Fastify (routing, hooks, Nest)
 * only when the handler leaves it. The resolver's hit path answers there: on this machine Fastify's
 * request and reply objects, hooks and Nest's wrappers cost as much again as the answer itself.
 * What the app's hooks would do for such a request (the X-Request-Id header, the access line, the
 * HTTP metrics) is the handler's to do, with `answered`; while the app closes, every request goes
 * to Fastify, which refuses it as it refuses the rest (503).
 */
export class FrontDoor {
  private handler: FrontHandler | undefined;
  /** Set when the app begins to close. */
  closing = false;
  /**
   * Set when the app answers cross-origin calls (enableCors): a request with an Origin header goes to
   * Fastify, whose hooks add the CORS headers; the others take the front handler as before.
   */
  declineCrossOrigin = false;
  /** What the app's hooks record of an answered request (configureApp sets it). */
  answered: (answer: FrontAnswer) => void = () => undefined;
  /** A front handler threw (configureApp logs it): the request went on to Fastify, or was cut if already answered. */
  failed: (error: unknown) => void = () => undefined;

  constructor(private readonly framework: (request: IncomingMessage, response: ServerResponse) => void) {}

  /** The app's front handler (one; a second replaces the first). */
  use(handler: FrontHandler): void {
    this.handler = handler;
  }

  /** The server's request listener. */
  readonly listener = (request: IncomingMessage, response: ServerResponse): void => {
    const handler = this.handler;
    if (handler === undefined || this.closing || (this.declineCrossOrigin && request.headers.origin !== undefined)) return this.framework(request, response);
    let answered: boolean;
    try {
      answered = handler(request, response);
    } catch (e) {
      this.failed(e);
      // Nothing sent yet: Fastify answers it as it answers the rest. Sent in part: the client sees the connection end.
      if (response.headersSent) response.destroy();
      else this.framework(request, response);
      return;
    }
    if (!answered) this.framework(request, response);
  };
}

const doors = new WeakMap<object, FrontDoor>();

/** The front door of an app's Fastify instance (undefined for one made without fastifyAdapter). */
export function frontDoorOf(fastify: FastifyInstance): FrontDoor | undefined {
  return doors.get(fastify.server);
}

/** What Fastify gives its serverFactory of its options. */
interface ServerOptions {
  keepAliveTimeout?: number;
  requestTimeout?: number;
  connectionTimeout?: number;
  maxRequestsPerSocket?: number | null;
}

/**
 * Fastify's serverFactory: the HTTP/1 server Fastify would make (its timeouts, as Fastify sets them on
 * its own server), with a front door before Fastify's handler.
 */
export function serverWithFrontDoor(handler: (request: IncomingMessage, response: ServerResponse) => void, options: ServerOptions): Server {
  const door = new FrontDoor(handler);
  const server = createServer(door.listener);
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  if (options.requestTimeout !== undefined) server.requestTimeout = options.requestTimeout;
  server.setTimeout(options.connectionTimeout ?? 0);
  if (options.maxRequestsPerSocket) server.maxRequestsPerSocket = options.maxRequestsPerSocket;
  doors.set(server, door);
  return server;
}

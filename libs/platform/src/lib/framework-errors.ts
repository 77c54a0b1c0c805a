import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Headers } from '@tm/contracts';
import { frameworkDetail, instanceOf, TITLES, type ProblemBody } from './problem';

/**
 * Answers to what Fastify refuses before any route, hook or Nest filter runs, in the one problem
 * shape (docs/guarantees.md, "HTTP conventions"): Fastify's own bodies are JSON of another shape, carry no
 * request id, and quote the whole URL back.
 */

const PROBLEM = 'application/problem+json';

/**
 * Fastify's `frameworkErrors` option: a path that is not valid percent-encoded UTF-8 (400,
 * FST_ERR_BAD_URL), a path parameter over `maxParamLength` (414, FST_ERR_MAX_PARAM_LENGTH). The
 * request's hooks have not run: the request id header is set here.
 */
export function frameworkErrors(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = error.code === 'FST_ERR_BAD_URL' ? 400 : error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 414 : 500;
  const requestId = String(request.id);
  const body: ProblemBody = {
    type: 'about:blank',
    title: TITLES[status] ?? 'Error',
    status,
    detail: status === 500 ? 'an unexpected error occurred' : frameworkDetail(status, error.code),
    instance: instanceOf(request.url),
    requestId,
  };
  void reply.status(status).header(Headers.requestId, requestId).type(PROBLEM).send(body);
}

/** What Node's HTTP parser refused, by its error code: headers too large, too slow, or not HTTP. */
function clientStatus(code: string | undefined): number {
  return code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
}

/**
 * Fastify's `clientErrorHandler` option: Node's parser failed on the request itself, so there is
 * no request object; the answer is written to the socket, with a request id of its own, and the
 * connection is closed. The socket is half-closed and drained rather than destroyed at once: closing
 * it with unread input would reset the connection and lose the answer.
 */
export function clientErrorHandler(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = clientStatus(error.code);
  const requestId = randomUUID();
  const detail = frameworkDetail(status, 'HTTP');
  const body = JSON.stringify({ type: 'about:blank', title: TITLES[status] ?? 'Bad Request', status, detail, requestId } satisfies ProblemBody);
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nContent-Type: ${PROBLEM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${Headers.requestId}: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
    socket.resume();
    setTimeout(() => socket.destroy(), 2_000).unref();
  } else {
    socket.destroy();
  }
}

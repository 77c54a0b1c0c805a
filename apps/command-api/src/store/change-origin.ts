import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ADMIN_TOKEN_ID, type Principal } from '@tm/auth';

/** Who made a change, as history and the audit log name them: a stored key, or the admin token. */
export type ChangeAuthor = { keyId: string; keyName: string } | { admin: true };

/** Where a change set comes from: who, in which request, from which address (docs/changes.md). */
export interface ChangeOrigin {
  by: ChangeAuthor;
  requestId: string;
  clientAddress: string;
}

export function authorOf(principal: Principal): ChangeAuthor {
  return principal.id === ADMIN_TOKEN_ID ? { admin: true } : { keyId: principal.id, keyName: principal.name };
}

/** The origin of a request that AuthGuard let through. */
export function originOf(request: FastifyRequest & { principal?: Principal }): ChangeOrigin {
  if (!request.principal) throw new Error('ChangeOriginOf used on a route without AuthGuard');
  return { by: authorOf(request.principal), requestId: String(request.id), clientAddress: request.ip };
}

/** The request's ChangeOrigin, as a controller parameter. */
export const OriginOf = createParamDecorator((_data: unknown, context: ExecutionContext): ChangeOrigin => originOf(context.switchToHttp().getRequest()));

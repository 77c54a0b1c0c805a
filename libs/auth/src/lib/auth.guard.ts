import { createParamDecorator, Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { REQUEST_LIMITER, type RequestLimiter } from '@tm/limits';
import { ProblemException } from '@tm/platform';
import { ADMIN_TOKEN_ID, ApiKeyVerifier } from './api-key-verifier';
import { bearerToken } from './keys';
import type { Principal } from './principal';

type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

function unauthorized(detail: string): ProblemException {
  return new ProblemException(401, 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': 'Bearer realm="traffic-manager"' },
    code: 'unauthorized',
  });
}

/**
 * 401 unless the request carries a valid bearer key; the Principal is then on the request. With a
 * REQUEST_LIMITER in the app, the key's request is counted, and refused (429) over its limit.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    private readonly verifier: ApiKeyVerifier,
    @Optional() @Inject(REQUEST_LIMITER) private readonly limiter?: RequestLimiter,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw unauthorized('an Authorization: Bearer <key> header is required');
    const principal = await this.verifier.verify(token);
    if (!principal) throw unauthorized('the key is unknown or revoked');
    if (this.limiter !== undefined && principal.id !== ADMIN_TOKEN_ID) this.limiter.admit(principal.id, principal.tenant);
    request.principal = principal;
    return true;
  }
}

/** The Principal that AuthGuard put on the request. */
export const CurrentPrincipal = createParamDecorator((_data: unknown, context: ExecutionContext): Principal => {
  const principal = context.switchToHttp().getRequest<AuthenticatedRequest>().principal;
  if (!principal) throw new Error('CurrentPrincipal used on a route without AuthGuard');
  return principal;
});

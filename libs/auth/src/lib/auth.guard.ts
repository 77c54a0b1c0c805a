import { createParamDecorator, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { ProblemException } from '@tm/platform';
import { ApiKeyVerifier } from './api-key-verifier';
import { bearerToken } from './keys';
import type { Principal } from './principal';

type AuthenticatedRequest = FastifyRequest & { principal?: Principal };

function unauthorized(detail: string): ProblemException {
  return new ProblemException(401, 'Unauthorized', detail, {
    headers: { 'WWW-Authenticate': 'Bearer realm="traffic-manager"' },
    code: 'unauthorized',
  });
}

/** 401 unless the request carries a valid bearer key; the Principal is then on the request. */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(private readonly verifier: ApiKeyVerifier) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    if (token === undefined) throw unauthorized('an Authorization: Bearer <key> header is required');
    const principal = await this.verifier.verify(token);
    if (!principal) throw unauthorized('the key is unknown or revoked');
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

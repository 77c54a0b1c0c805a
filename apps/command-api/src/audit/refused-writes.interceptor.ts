import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { catchError, from, mergeMap, type Observable } from 'rxjs';
import type { Principal } from '@tm/auth';
import { ProblemException } from '@tm/platform';
import { originOf } from '../store/change-origin';
import { AuditLog } from './audit-log';

/** The tenant a refused write aimed at: the path's, or the one the refusal names (a change set's). */
function tenantOf(request: FastifyRequest, refusal: ProblemException): string | null {
  const named = refusal.extra.members?.['tenant'];
  if (typeof named === 'string') return named;
  const params = request.params as Record<string, unknown> | undefined;
  return typeof params?.['tenant'] === 'string' ? params['tenant'] : null;
}

/**
 * Records every write refused with 403 in the audit log (`write-refused`, under the key's tenant),
 * then lets the answer go as it was. On the command API's writing handlers (UseInterceptors).
 */
@Injectable()
export class RefusedWrites implements NestInterceptor {
  constructor(private readonly audit: AuditLog) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    return next.handle().pipe(
      catchError((e: unknown) => {
        const request = context.switchToHttp().getRequest<FastifyRequest & { principal?: Principal }>();
        if (!(e instanceof ProblemException) || e.status !== 403 || !request.principal) throw e;
        // Filed under the key's own tenant (none for a key bound to none): the tenant aimed at learns
        // nothing of another tenant's key from its audit log (G9); it is named in the detail.
        const entry = {
          action: 'write-refused' as const,
          tenant: request.principal.tenant,
          tenantId: request.principal.tenantId,
          origin: originOf(request),
          detail: { method: request.method, route: request.routeOptions.url ?? null, target: tenantOf(request, e), reason: e.detail },
        };
        return from(this.audit.record(entry)).pipe(
          mergeMap(() => {
            throw e;
          }),
        );
      }),
    );
  }
}

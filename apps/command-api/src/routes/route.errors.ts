import { ProblemException } from '@tm/platform';
import { routeKey, type RouteId } from '@tm/contracts';

export function routeNotFound(id: RouteId): ProblemException {
  return new ProblemException(404, 'Not Found', `route ${routeKey(id)} does not exist`, { code: 'route_not_found' });
}

export function preconditionFailed(detail: string): ProblemException {
  return new ProblemException(412, 'Precondition Failed', detail, { code: 'precondition_failed' });
}

export function badCursor(): ProblemException {
  return new ProblemException(400, 'Bad Request', 'cursor is not a cursor this API gave out', {
    code: 'validation',
    errors: [{ field: 'cursor', message: 'cursor is not valid' }],
  });
}

export function badPrecondition(header: string, detail: string): ProblemException {
  return new ProblemException(400, 'Bad Request', detail, {
    code: 'validation',
    errors: [{ field: header, message: detail }],
  });
}

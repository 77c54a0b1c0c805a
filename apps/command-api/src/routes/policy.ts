import { healthPathProblem, normalisedPolicy, parseStatusRanges, POLICY_LIMITS, type TrafficPolicy } from '@tm/contracts';
import { ProblemException, type FieldError } from '@tm/platform';
import type { PutRouteDto } from './dto/put-route.dto';

const L = POLICY_LIMITS;

/** The checks across fields that the DTO's decorators cannot make, as field errors; `overCap` apart (see ParsedPolicy). */
function problems(body: PutRouteDto, maxTimeoutSeconds: number): { errors: FieldError[]; overCap?: FieldError } {
  const errors: FieldError[] = [];
  const hasUrl = body.url !== undefined && body.url !== null;
  const hasEndpoints = body.endpoints !== undefined && body.endpoints !== null;
  if (hasUrl === hasEndpoints) {
    errors.push({ field: hasUrl ? 'endpoints' : 'url', message: hasUrl ? 'give url or endpoints, not both' : 'url or endpoints is required' });
  }
  const seen = new Map<string, number>();
  (body.endpoints ?? []).forEach((e, i) => {
    const first = seen.get(e.id);
    if (first !== undefined) errors.push({ field: `endpoints.${i}.id`, message: `id ${e.id} is also the id of endpoints.${first}` });
    else seen.set(e.id, i);
  });
  const hc = body.healthCheck;
  if (hc) {
    const type = hc.type ?? 'http';
    if (type === 'tcp') {
      if (hc.path !== undefined) errors.push({ field: 'healthCheck.path', message: 'path is for http health checks only' });
      if (hc.expectedStatus !== undefined) errors.push({ field: 'healthCheck.expectedStatus', message: 'expectedStatus is for http health checks only' });
    }
    if (hc.path !== undefined) {
      const problem = healthPathProblem(hc.path);
      if (problem) errors.push({ field: 'healthCheck.path', message: `path ${problem}` });
    }
    if (hc.expectedStatus !== undefined && !parseStatusRanges(hc.expectedStatus)) {
      errors.push({ field: 'healthCheck.expectedStatus', message: 'expectedStatus must be status codes (100 to 599) or ranges, separated by commas, such as "200-299,304"' });
    }
    const interval = hc.intervalSeconds ?? L.intervalSeconds.default;
    if (hc.timeoutSeconds !== undefined && hc.timeoutSeconds > interval) {
      errors.push({ field: 'healthCheck.timeoutSeconds', message: `timeoutSeconds must not be above intervalSeconds (${interval})` });
    } else if (hc.timeoutSeconds !== undefined && hc.timeoutSeconds > maxTimeoutSeconds) {
      const overCap = { field: 'healthCheck.timeoutSeconds', message: `timeoutSeconds must not be above ${maxTimeoutSeconds} (PROBE_MAX_TIMEOUT_SECONDS)` };
      return { errors, overCap };
    }
  }
  return { errors };
}

/** A 400 that lists `errors`. */
export function invalidPolicy(errors: FieldError[]): ProblemException {
  return new ProblemException(400, 'Bad Request', 'the request is not valid; see errors', { code: 'validation', errors });
}

/** The policy of a PUT body (see policyOfBody). */
export interface ParsedPolicy {
  policy: TrafficPolicy;
  /**
   * The health check's timeout is above PROBE_MAX_TIMEOUT_SECONDS (within the interval): the write is
   * refused with this field error unless the route already has this very health check (stored
   * before the cap was lowered: it keeps working, and the route's other settings can still change).
   */
  overCap?: FieldError;
}

/**
 * The policy a valid PUT body sets, normalised (every default filled in; the default timeout within
 * `maxTimeoutSeconds`), or a 400 that lists every field that is wrong.
 */
export function policyOfBody(body: PutRouteDto, maxTimeoutSeconds: number): ParsedPolicy {
  const checked = checkPolicy(body, maxTimeoutSeconds);
  if ('errors' in checked) throw invalidPolicy(checked.errors);
  return checked.parsed;
}

/** As policyOfBody, with the field errors returned instead of thrown. */
export function checkPolicy(body: PutRouteDto, maxTimeoutSeconds: number): { parsed: ParsedPolicy } | { errors: FieldError[] } {
  const { errors, overCap } = problems(body, maxTimeoutSeconds);
  if (errors.length > 0) return { errors: overCap ? [...errors, overCap] : errors };
  const policy = normalisedPolicy(body, maxTimeoutSeconds);
  return { parsed: overCap ? { policy, overCap } : { policy } };
}

import { TrafficManagerError } from '@traffic-manager/client/errors';

export interface Described {
  title: string;
  detail: string;
  /** When the request may be tried again (Date.now() ms), for 429 and 503. */
  retryAt?: number;
}

/** An error as people read it (issue: 401 → sign in again; 403 → what is missing; 429/503 → retry later with the time). */
export function describeError(error: unknown, now = Date.now()): Described {
  if (!(error instanceof TrafficManagerError)) return { title: 'Something went wrong', detail: error instanceof Error ? error.message : String(error) };
  const detail = typeof error.problem?.detail === 'string' ? error.problem.detail : error.message;
  switch (error.code) {
    case 'unauthorized':
      return { title: 'Sign in again', detail: 'The key was refused (401): it is unknown or was revoked.' };
    case 'forbidden':
      return { title: 'Not allowed with this key', detail: `${detail} (403: the key lacks the scope or the tenant this needs).` };
    case 'rate_limited':
    case 'watch_stream_quota':
    case 'unavailable': {
      const retryAt = now + (error.retryAfterMs ?? 1000);
      return {
        title: error.code === 'unavailable' ? 'Unavailable for now' : 'Too many requests',
        detail: `${detail} (${error.status ?? ''})`,
        retryAt,
      };
    }
    case 'network':
      return { title: 'Could not reach the server', detail: error.message };
    case 'conflict':
      return { title: 'Conflict', detail };
    case 'not_found':
      return { title: 'Not found', detail };
    case 'bad_request':
      return { title: 'Refused as invalid', detail: error.errors && error.errors.length > 0 ? error.errors.map((e) => `${e.field}: ${e.message}`).join('; ') : detail };
    case 'history_gone':
    case 'no_enabled_endpoint':
    case 'tenant_route_quota':
    case 'tenant_probe_quota':
    case 'http_error':
    case 'timeout':
    case 'aborted':
    case 'closed':
    case 'invalid_argument':
    case 'invalid_config':
    case 'invalid_route':
    case 'invalid_token':
      return { title: `Error ${error.status ?? ''}`.trim(), detail };
  }
}

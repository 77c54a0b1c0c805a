import { parseRevision } from '@tm/contracts';
import { TrafficManagerError } from './errors';

const PREFIX = 'tm1.';

/** A session's token: opaque to its users; `tm1.` and the revision in base64url. */
export function encodeToken(revision: number): string {
  return PREFIX + Buffer.from(String(revision), 'utf8').toString('base64url');
}

export function decodeToken(token: unknown): number {
  if (typeof token === 'string' && token.startsWith(PREFIX) && token.length <= 64) {
    const body = token.slice(PREFIX.length);
    if (/^[A-Za-z0-9_-]+$/.test(body)) {
      const revision = parseRevision(Buffer.from(body, 'base64url').toString('utf8'));
      if (revision !== undefined) return revision;
    }
  }
  throw new TrafficManagerError('invalid_token', 'not a session token of this SDK');
}

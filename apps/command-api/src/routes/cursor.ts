import { isValidName, type RouteId } from '@tm/contracts';
import { badCursor } from './route.errors';

/** An opaque cursor: the key of the last route of a page. */
export function encodeCursor(id: RouteId): string {
  return Buffer.from(JSON.stringify([id.tenant, id.service, id.environment])).toString('base64url');
}

/** Decodes a cursor; a forged or damaged one is a 400. */
export function decodeCursor(cursor: string): RouteId {
  let parts: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    parts = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(parts) || parts.length !== 3 || !parts.every((p) => typeof p === 'string' && isValidName(p))) {
    throw badCursor();
  }
  const [tenant, service, environment] = parts as [string, string, string];
  return { tenant, service, environment };
}

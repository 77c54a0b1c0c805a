import { createHash, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * An API key is `tm_<lookup>_<secret>`: the lookup (20 hex characters) finds the stored key, the
 * secret (43 base64url characters, 256 random bits) proves it. Only SHA-256 of the secret is stored:
 * it is random, not a password, so a slow hash would add nothing.
 */
const KEY_FORMAT = /^tm_([0-9a-f]{20})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedKey {
  key: string;
  lookup: string;
  secretHash: Buffer;
}

/** SHA-256 of a secret (one-shot `crypto.hash`: no Hash object per verification). */
export function hashSecret(secret: string): Buffer {
  return hash('sha256', secret, 'buffer');
}

/**
 * The name a verified token is remembered under outside PostgreSQL (OutageCredentials): SHA-256 of the
 * whole token, apart from the stored secret hash, so the two cannot be matched up.
 */
export function tokenDigest(token: string): string {
  return createHash('sha256').update('traffic-manager outage credentials\0', 'utf8').update(token, 'utf8').digest('hex');
}

export function generateApiKey(): GeneratedKey {
  const lookup = randomBytes(10).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { key: `tm_${lookup}_${secret}`, lookup, secretHash: hashSecret(secret) };
}

export function parseApiKey(key: string): { lookup: string; secret: string } | undefined {
  const match = KEY_FORMAT.exec(key);
  return match ? { lookup: match[1] as string, secret: match[2] as string } : undefined;
}

export function hashesEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  return match?.[1];
}

import { badPrecondition, preconditionFailed } from './route.errors';

interface EntityTag {
  weak: boolean;
  revision: number;
}

/** Conditional-write headers of a PUT or DELETE (RFC 9110, 13.1.1 and 13.1.2). */
export interface Preconditions {
  /** If-Match: `*` (the route must exist) or entity tags, compared strongly. */
  ifMatch?: '*' | EntityTag[];
  /** If-None-Match: `*` (the route must not exist) or entity tags, compared weakly. */
  ifNoneMatch?: '*' | EntityTag[];
}

const ETAG = /^(W\/)?"(\d{1,15})"$/;

export function etag(revision: number): string {
  return `"${revision}"`;
}

function parseTags(header: string, value: string): '*' | EntityTag[] {
  if (value.trim() === '*') return '*';
  return value.split(',').map((raw) => {
    const match = ETAG.exec(raw.trim());
    if (!match) throw badPrecondition(header, `${header} must be * or a list of "<revision>" entity tags`);
    return { weak: match[1] !== undefined, revision: Number(match[2]) };
  });
}

export function parsePreconditions(ifMatch: string | undefined, ifNoneMatch: string | undefined): Preconditions {
  return {
    ...(ifMatch !== undefined ? { ifMatch: parseTags('If-Match', ifMatch) } : {}),
    ...(ifNoneMatch !== undefined ? { ifNoneMatch: parseTags('If-None-Match', ifNoneMatch) } : {}),
  };
}

/** No If-Match and no If-None-Match: the write does not depend on the route's state. */
export function unconditional(p: Preconditions): boolean {
  return p.ifMatch === undefined && p.ifNoneMatch === undefined;
}

/** Throws 412 unless the preconditions hold for a route whose current revision is `revision` (undefined: absent). */
export function checkPreconditions(p: Preconditions, revision: number | undefined): void {
  if (p.ifMatch !== undefined) {
    if (revision === undefined) throw preconditionFailed('the route does not exist (If-Match)');
    // Strong comparison: a weak tag never matches.
    if (p.ifMatch !== '*' && !p.ifMatch.some((t) => !t.weak && t.revision === revision)) {
      throw preconditionFailed(`the route is at revision ${revision} (If-Match)`);
    }
  }
  if (p.ifNoneMatch !== undefined && revision !== undefined) {
    // Weak comparison: W/"n" and "n" both match revision n.
    if (p.ifNoneMatch === '*') throw preconditionFailed('the route exists (If-None-Match: *)');
    if (p.ifNoneMatch.some((t) => t.revision === revision)) {
      throw preconditionFailed(`the route is at revision ${revision} (If-None-Match)`);
    }
  }
}

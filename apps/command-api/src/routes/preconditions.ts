import { badPrecondition, preconditionFailed } from './route.errors';

/** Conditional-write headers of a PUT or DELETE (RFC 9110, 13.1.1 and 13.1.2). */
export interface Preconditions {
  /** If-Match: the route must exist and have one of these revisions; `any` for `*`. */
  ifMatch?: number[] | 'any';
  /** If-None-Match: * : the route must not exist. */
  ifNoneMatchAny?: boolean;
}

const ETAG = /^(?:W\/)?"(\d{1,15})"$/;

export function etag(revision: number): string {
  return `"${revision}"`;
}

export function parsePreconditions(ifMatch: string | undefined, ifNoneMatch: string | undefined): Preconditions {
  const result: Preconditions = {};
  if (ifMatch !== undefined) {
    const value = ifMatch.trim();
    if (value === '*') result.ifMatch = 'any';
    else {
      result.ifMatch = value.split(',').map((tag) => {
        const match = ETAG.exec(tag.trim());
        if (!match) throw badPrecondition('If-Match', 'If-Match must be * or a list of "<revision>" entity tags');
        return Number(match[1]);
      });
    }
  }
  if (ifNoneMatch !== undefined) {
    if (ifNoneMatch.trim() !== '*') throw badPrecondition('If-None-Match', 'only If-None-Match: * is supported on writes');
    result.ifNoneMatchAny = true;
  }
  return result;
}

/** Throws 412 unless the preconditions hold for a route whose current revision is `revision` (undefined: absent). */
export function checkPreconditions(p: Preconditions, revision: number | undefined): void {
  if (p.ifNoneMatchAny && revision !== undefined) throw preconditionFailed('the route exists (If-None-Match: *)');
  if (p.ifMatch === undefined) return;
  if (revision === undefined) throw preconditionFailed('the route does not exist (If-Match)');
  if (p.ifMatch !== 'any' && !p.ifMatch.includes(revision)) {
    throw preconditionFailed(`the route is at revision ${revision}, not ${p.ifMatch.join(' or ')} (If-Match)`);
  }
}

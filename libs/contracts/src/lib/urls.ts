export const MAX_URL_LENGTH = 2048;

/**
 * Why `value` is not an acceptable endpoint URL (docs/guarantees.md, "Words"), or undefined when it is:
 * absolute, http or https, with a host, no user info, no fragment, at most 2048 characters.
 */
export function endpointUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (charLength(value) > MAX_URL_LENGTH) return `must be at most ${MAX_URL_LENGTH} characters`;
  if (!isWellFormed(value)) return 'must be well-formed Unicode';
  if ([...value].some((c) => c.charCodeAt(0) <= 0x20 || c.charCodeAt(0) === 0x7f || /\s/.test(c))) {
    return 'must not contain spaces or control characters';
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  // new URL() accepts "http:host" and "http:/host"; an absolute URL here has an authority.
  if (!/^https?:\/\/[^/?#]/i.test(value) || url.hostname === '') return 'must have a host';
  if (url.username !== '' || url.password !== '' || /^https?:\/\/[^/?#]*@/i.test(value)) return 'must not contain user info';
  if (value.includes('#')) return 'must not have a fragment';
  return undefined;
}

/**
 * The length of a string as PostgreSQL's char_length counts it in a UTF-8 database: in code points.
 * Not UTF-16 units (`value.length` counts 2 for an emoji), nor validator.js' isLength (class-validator's
 * @Length), which also leaves out the variation selectors U+FE0E and U+FE0F: "❤️" is 2 here, 1 there.
 * Every length the database checks is checked with this.
 */
export function charLength(value: string): number {
  let n = 0;
  // A string iterates by code point (a lone surrogate counts one, as it would be refused anyway).
  for (const _ of value) n++;
  return n;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** False for a string with a lone UTF-16 surrogate (which no UTF-8 store can keep). */
export function isWellFormed(value: string): boolean {
  return !LONE_SURROGATE.test(value);
}

/** Why `value` is not acceptable free text (a display name, a key name), or undefined. */
export function plainTextProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (!isWellFormed(value)) return 'must be well-formed Unicode';
  if ([...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return 'must not contain control characters';
  return undefined;
}

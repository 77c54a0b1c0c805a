import { checkPreconditions, parsePreconditions, unconditional } from './preconditions';

function holds(ifMatch: string | undefined, ifNoneMatch: string | undefined, revision: number | undefined): boolean {
  try {
    checkPreconditions(parsePreconditions(ifMatch, ifNoneMatch), revision);
    return true;
  } catch {
    return false;
  }
}

describe('preconditions (RFC 9110)', () => {
  it.each([
    ['"3"', undefined, 3, true],
    ['"2", "3"', undefined, 3, true],
    ['"2"', undefined, 3, false],
    ['W/"3"', undefined, 3, false],
    ['*', undefined, 3, true],
    ['*', undefined, undefined, false],
    ['"3"', undefined, undefined, false],
    [undefined, '*', undefined, true],
    [undefined, '*', 3, false],
    [undefined, '"3"', 3, false],
    [undefined, 'W/"3"', 3, false],
    [undefined, '"2"', 3, true],
    [undefined, '"2"', undefined, true],
    [undefined, undefined, undefined, true],
  ])('If-Match %p, If-None-Match %p, revision %p: holds = %p', (ifMatch, ifNoneMatch, revision, expected) => {
    expect(holds(ifMatch, ifNoneMatch, revision)).toBe(expected);
  });

  it.each(['3', '"abc"', 'W/3', '"3", junk'])('refuses the malformed tag list %p with a 400', (value) => {
    expect(() => parsePreconditions(value, undefined)).toThrow(/entity tags/);
  });

  it.each([
    [undefined, undefined, true],
    ['*', undefined, false],
    [undefined, '*', false],
    ['"1"', 'W/"2"', false],
  ])('If-Match %s, If-None-Match %s: unconditional %s', (ifMatch, ifNoneMatch, expected) => {
    expect(unconditional(parsePreconditions(ifMatch, ifNoneMatch))).toBe(expected);
  });
});

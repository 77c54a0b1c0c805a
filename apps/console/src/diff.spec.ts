import { describe, expect, it } from '@jest/globals';
import { changesOnly, diffRoutes, diffValues, flatten, showLeaf } from './diff';

const blue = { id: 'blue', url: 'https://blue.example', priority: 1, weight: 10, state: 'enabled' };
const green = { id: 'green', url: 'https://green.example', priority: 2, weight: 0, state: 'draining' };
const check = { type: 'http', path: '/healthz', intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 3, expectedStatus: '200-299' };

describe('flatten', () => {
  it('names object members with dots, array items by index, and items with unique ids by id', () => {
    expect([...flatten({ a: { b: 1 }, list: ['x', 'y'], endpoints: [blue] }).entries()]).toEqual([
      ['a.b', 1],
      ['list[0]', 'x'],
      ['list[1]', 'y'],
      ['endpoints[id=blue].id', 'blue'],
      ['endpoints[id=blue].url', 'https://blue.example'],
      ['endpoints[id=blue].priority', 1],
      ['endpoints[id=blue].weight', 10],
      ['endpoints[id=blue].state', 'enabled'],
    ]);
  });

  it('leaves null and undefined out, and falls back to indexes when ids repeat', () => {
    expect([...flatten({ healthCheck: null, x: undefined, e: [{ id: 'a' }, { id: 'a' }] }).keys()]).toEqual(['e[0].id', 'e[1].id']);
  });
});

describe('diffRoutes', () => {
  it('marks changed, added and removed fields, matching endpoints by id wherever they are listed', () => {
    const before = { url: 'https://blue.example', endpoints: [blue, green], healthCheck: null, revision: 4, updatedAt: 'then' };
    const after = { url: 'https://blue.example', endpoints: [{ ...green, weight: 5 }, { ...blue, url: 'https://blue2.example' }], healthCheck: check, revision: 9, updatedAt: 'now' };
    const rows = changesOnly(diffRoutes(before, after));
    expect(rows).toEqual([
      { path: 'endpoints[id=green].weight', kind: 'changed', before: 0, after: 5 },
      { path: 'endpoints[id=blue].url', kind: 'changed', before: 'https://blue.example', after: 'https://blue2.example' },
      ...Object.entries(check).map(([k, v]) => ({ path: `healthCheck.${k}`, kind: 'added', after: v })),
    ]);
    // The revision and the timestamps are not the configuration.
    expect(diffRoutes(before, after).some((r) => r.path === 'revision' || r.path === 'updatedAt')).toBe(false);
  });

  it('diffs a deleted version (null) as every field removed, and a created one as every field added', () => {
    const route = { url: 'https://blue.example', endpoints: [blue], healthCheck: null };
    const removed = diffRoutes(route, null);
    expect(removed.every((r) => r.kind === 'removed')).toBe(true);
    expect(removed.map((r) => r.path)).toEqual(['url', 'endpoints[id=blue].id', 'endpoints[id=blue].url', 'endpoints[id=blue].priority', 'endpoints[id=blue].weight', 'endpoints[id=blue].state']);
    expect(diffRoutes(null, route).every((r) => r.kind === 'added')).toBe(true);
    expect(diffRoutes(null, null)).toEqual([]);
  });

  it('places a removed endpoint where it was, between the rows that surround it', () => {
    const rows = diffRoutes({ endpoints: [blue, green] }, { endpoints: [blue] });
    expect(rows.map((r) => `${r.kind} ${r.path}`)).toEqual([
      'unchanged endpoints[id=blue].id',
      'unchanged endpoints[id=blue].url',
      'unchanged endpoints[id=blue].priority',
      'unchanged endpoints[id=blue].weight',
      'unchanged endpoints[id=blue].state',
      'removed endpoints[id=green].id',
      'removed endpoints[id=green].url',
      'removed endpoints[id=green].priority',
      'removed endpoints[id=green].weight',
      'removed endpoints[id=green].state',
    ]);
  });

  it('finds no difference between equal versions', () => {
    const route = { url: 'u', endpoints: [blue], healthCheck: check };
    expect(changesOnly(diffRoutes(route, structuredClone(route)))).toEqual([]);
  });
});

describe('diffValues and showLeaf', () => {
  it('compares leaves by value and type', () => {
    expect(diffValues({ a: 1 }, { a: '1' })).toEqual([{ path: 'a', kind: 'changed', before: 1, after: '1' }]);
    expect(showLeaf(undefined)).toBe('—');
    expect(showLeaf(false)).toBe('false');
  });
});

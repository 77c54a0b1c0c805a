import { isValidName, parseRouteKey, routeKey } from './names';

describe('names', () => {
  it.each(['a', 'acme', 'eu-canary', 'a1', '0', 'x'.repeat(63)])('accepts %s', (name) => {
    expect(isValidName(name)).toBe(true);
  });

  it.each(['', 'A', '-a', 'a-', 'a_b', 'a.b', 'x'.repeat(64), 'é', 'a/b'])('refuses %p', (name) => {
    expect(isValidName(name)).toBe(false);
  });

  it('round-trips a route key', () => {
    const route = { tenant: 'acme', service: 'billing', environment: 'eu-canary' };
    expect(routeKey(route)).toBe('acme/billing/eu-canary');
    expect(parseRouteKey(routeKey(route))).toEqual(route);
  });

  it.each(['acme/billing', 'acme/billing/prod/x', 'Acme/billing/prod', 'acme//prod'])('refuses the key %p', (key) => {
    expect(parseRouteKey(key)).toBeUndefined();
  });
});

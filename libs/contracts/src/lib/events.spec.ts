import { parseRouteEvent, routeEvent } from './events';

describe('route events: changesetsize', () => {
  const data = { tenant: 'acme', service: 'web', environment: 'prod', url: 'https://web.acme.internal', revision: 7 };

  it('is carried as a CloudEvents extension attribute when given, and read back', () => {
    const event = routeEvent('e1', new Date(0), data, undefined, 3);
    expect(event.changesetsize).toBe(3);
    expect(routeEvent('e1', new Date(0), data)).not.toHaveProperty('changesetsize');
    expect(parseRouteEvent(JSON.stringify(event))).toEqual({ event });
  });

  it('is refused when it is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, '3']) {
      expect(parseRouteEvent(JSON.stringify({ ...routeEvent('e1', new Date(0), data), changesetsize: bad }))).toEqual({ error: 'changesetsize is not a positive integer' });
    }
  });
});

import { endpointName, isZoneName, readName, routeName, zoneOf } from './dns-names';

describe('names in the DNS zone', () => {
  const zone = zoneOf('TM.internal.');
  const route = { tenant: 'acme', service: 'web', environment: 'prod' };

  it('reads the apex, tenants, services, routes, service records and endpoints, in any case', () => {
    expect(zone).toBe('tm.internal');
    expect(readName('tm.internal', zone)).toEqual({ kind: 'apex' });
    expect(readName('TM.Internal.', zone)).toEqual({ kind: 'apex' });
    expect(readName('acme.tm.internal', zone)).toEqual({ kind: 'tenant', tenant: 'acme' });
    expect(readName('web.acme.tm.internal', zone)).toEqual({ kind: 'service', tenant: 'acme', service: 'web' });
    expect(readName('PROD.Web.acme.tm.internal', zone)).toEqual({ kind: 'route', route });
    expect(readName('_tcp.prod.web.acme.tm.internal', zone)).toEqual({ kind: 'tcp', route });
    expect(readName('_https._tcp.prod.web.acme.tm.internal', zone)).toEqual({ kind: 'srv', route, scheme: 'https' });
    expect(readName('_http._tcp.prod.web.acme.tm.internal', zone)).toEqual({ kind: 'srv', route, scheme: 'http' });
    expect(readName('ep.prod.web.acme.tm.internal', zone)).toEqual({ kind: 'endpoints', route });
    expect(readName('blue.ep.prod.web.acme.tm.internal', zone)).toEqual({ kind: 'endpoint', route, endpoint: 'blue' });
  });

  it('tells names outside the zone from names in it that cannot exist', () => {
    expect(readName('example.com', zone)).toEqual({ kind: 'outside' });
    expect(readName('xtm.internal', zone)).toEqual({ kind: 'outside' });
    expect(readName('.', zone)).toEqual({ kind: 'outside' });
    for (const name of [
      '_ftp._tcp.prod.web.acme.tm.internal',
      '_http._udp.prod.web.acme.tm.internal',
      'x.prod.web.acme.tm.internal',
      'a.b.c.prod.web.acme.tm.internal',
      'Bad_Name.web.acme.tm.internal',
      '-x.acme.tm.internal',
      'prod.web.acme..tm.internal',
      `${'a'.repeat(64)}.acme.tm.internal`,
    ]) {
      expect(readName(name, zone)).toEqual({ kind: 'absent' });
    }
  });

  it('names routes and endpoints, and accepts only zone names of letters, digits and hyphens', () => {
    expect(routeName(route, zone)).toBe('prod.web.acme.tm.internal');
    expect(endpointName(route, 'blue', zone)).toBe('blue.ep.prod.web.acme.tm.internal');
    expect(isZoneName('tm.internal.')).toBe(true);
    expect(isZoneName('svc.cluster.local')).toBe(true);
    expect(isZoneName('')).toBe(false);
    expect(isZoneName('.')).toBe(false);
    expect(isZoneName('a..b')).toBe(false);
    expect(isZoneName('under_score.internal')).toBe(false);
    expect(isZoneName(`${'a'.repeat(64)}.internal`)).toBe(false);
  });
});

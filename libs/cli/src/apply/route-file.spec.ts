import { parseRouteFile, RouteFileError } from './route-file';

/** The problems of a file, as `tm apply` prints them. */
function problems(text: string, name = 'routes.yaml'): string[] {
  try {
    parseRouteFile(name, text);
  } catch (e) {
    if (e instanceof RouteFileError) return e.message.split('\n');
    throw e;
  }
  throw new Error('the file was accepted');
}

describe('the file of tm apply', () => {
  it('reads YAML: routes of a URL or a policy, a health check and a description, with their lines', () => {
    const file = parseRouteFile(
      'routes.yaml',
      [
        'description: drain eu-1',
        'routes:',
        '  - route: acme/billing/prod',
        '    url: https://billing.example',
        '  - route: acme/search/prod',
        '    endpoints:',
        '      - id: blue',
        '        url: https://blue.example',
        '        weight: 3',
        '      - {id: green, url: "https://green.example", state: draining}',
        '    healthCheck:',
        '      path: /healthz',
        '      intervalSeconds: 5',
      ].join('\n'),
    );
    expect(file.description).toBe('drain eu-1');
    expect(file.routes.map((r) => ({ route: r.route, body: r.body, line: r.line, index: r.index }))).toEqual([
      { route: 'acme/billing/prod', body: { url: 'https://billing.example' }, line: 3, index: 0 },
      {
        route: 'acme/search/prod',
        body: {
          endpoints: [
            { id: 'blue', url: 'https://blue.example', weight: 3 },
            { id: 'green', url: 'https://green.example', state: 'draining' },
          ],
          healthCheck: { path: '/healthz', intervalSeconds: 5 },
        },
        line: 5,
        index: 1,
      },
    ]);
    expect(file.routes[1]?.lines.get('endpoints[0].weight')).toBe(9);
    expect(file.routes[1]?.lines.get('healthCheck.path')).toBe(12);
  });

  it('reads JSON the same way, with its lines', () => {
    const file = parseRouteFile('routes.json', '{\n  "routes": [\n    {"route": "acme/a/prod", "url": "https://a.example"},\n    {"route": "acme/b/prod", "url": "https://b.example", "healthCheck": null}\n  ]\n}\n');
    expect(file.routes.map((r) => [r.route, r.line, r.body])).toEqual([
      ['acme/a/prod', 3, { url: 'https://a.example' }],
      ['acme/b/prod', 4, { url: 'https://b.example', healthCheck: null }],
    ]);
    expect(file.description).toBeUndefined();
  });

  it('names the file, the line and the field of every mistake', () => {
    const text = [
      'routes:', // 1
      '  - route: acme/a/prod', // 2
      '    url: ftp://a.example', // 3
      '  - route: Acme/b/prod', // 4
      '    url: https://b.example', // 5
      '  - route: acme/c/prod', // 6
      '    url: https://c.example', // 7
      '    weight: 2', // 8
      '  - route: acme/a/prod', // 9
      '    url: https://a2.example', // 10
      '  - route: acme/d/prod', // 11
      '    endpoints:', // 12
      '      - id: x', // 13
      '        url: https://x.example', // 14
      '        priority: "1"', // 15
      '      - id: x', // 16
      '        url: https://y.example', // 17
      '        weight: 1001', // 18
      '    healthCheck:', // 19
      '      type: tcp', // 20
      '      path: /x', // 21
      '      intervalSeconds: 2', // 22
      '      timeoutSeconds: 3', // 23
      '  - route: acme/e/prod', // 24
      '  - route: acme/f/prod', // 25
      '    url: https://f.example', // 26
      '    endpoints: []', // 27
    ].join('\n');
    expect(problems(text)).toEqual([
      'routes.yaml:3: routes[0].url: must use http or https',
      'routes.yaml:4: routes[1].route: Acme/b/prod is not tenant/service/environment of lower-case names',
      'routes.yaml:8: routes[2].weight: unknown field (known: route, url, endpoints, healthCheck)',
      'routes.yaml:9: routes[3].route: acme/a/prod is listed twice (also at line 2)',
      'routes.yaml:15: routes[4].endpoints[0].priority: must be a whole number from 1 to 1000',
      'routes.yaml:16: routes[4].endpoints[1].id: id x is also the id of routes[4].endpoints[0]',
      'routes.yaml:18: routes[4].endpoints[1].weight: must be a whole number from 0 to 1000',
      'routes.yaml:21: routes[4].healthCheck.path: is for http health checks only',
      'routes.yaml:23: routes[4].healthCheck.timeoutSeconds: must not be above intervalSeconds (2)',
      'routes.yaml:24: routes[5]: url or endpoints is required',
      'routes.yaml:25: routes[6]: give url or endpoints, not both',
      'routes.yaml:27: routes[6].endpoints: must be a list of 1 to 16 endpoints',
    ]);
  });

  it('a route twice is a mistake even when the first one is valid; every other entry is still checked', () => {
    expect(problems('routes:\n- {route: acme/a/prod, url: "https://a.example"}\n- {route: acme/a/prod, url: "https://b.example"}\n')).toEqual([
      'routes.yaml:3: routes[1].route: acme/a/prod is listed twice (also at line 2)',
    ]);
  });

  it('YAML or JSON that does not parse, and a file of the wrong shape, with their lines', () => {
    expect(problems('routes:\n  - route: acme/a/prod\n    url: [https://a.example\n')).toEqual([
      // The flow sequence opened on line 3 is still open where the file ends.
      'routes.yaml:4: not YAML or JSON: Flow sequence in block collection must be sufficiently indented and end with a ]',
    ]);
    expect(problems('{"routes": [\n  {"route": "acme/a/prod", "url": "https://a.example"},\n]\n', 'r.json')[0]).toMatch(/^r\.json:\d: not YAML or JSON: /);
    expect(problems('routes:\n  - route: acme/a/prod\n    route: acme/b/prod\n    url: https://a.example\n')[0]).toMatch(/^routes\.yaml:3: not YAML or JSON: .*[Uu]nique|^routes\.yaml:3: not YAML or JSON: .*[Dd]uplicate/);
    expect(problems('- route: acme/a/prod\n')).toEqual(['routes.yaml:1: must be a map (name: value)']);
    expect(problems('description: x\nroute: acme/a/prod\n')).toEqual(['routes.yaml:2: route: unknown field (known: routes, description)', 'routes.yaml:1: routes: is required: a list of routes']);
    expect(problems('routes: acme/a/prod\n')).toEqual(['routes.yaml:1: routes: must be a list of routes']);
    expect(problems(`description: ${'x'.repeat(501)}\nroutes: []\n`)).toEqual(['routes.yaml:1: description: must be at most 500 characters']);
    expect(problems('routes:\n  - route: 7\n    url: https://a.example\n')).toEqual(['routes.yaml:2: routes[0].route: must be a string']);
  });
});

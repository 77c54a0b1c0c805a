import type { Route } from '@traffic-manager/client';
import { fieldErrorLines } from './apply';
import { changesOf, planLines, planOf } from './plan';
import { parseRouteFile } from './route-file';

/** A route as the command API's GET answers it: endpoints with their defaults, the health check normalised. */
function route(key: string, revision: number, body: Partial<Route>): Route {
  const [tenant, service, environment] = key.split('/') as [string, string, string];
  return { tenant, service, environment, url: body.endpoints?.[0]?.url ?? body.url ?? '', endpoints: body.endpoints, healthCheck: body.healthCheck ?? null, revision, createdAt: 'x', updatedAt: 'x' };
}
const plain = (url: string) => [{ id: 'default', url, priority: 1, weight: 1, state: 'enabled' as const }];

const FILE = [
  'description: move things',
  'routes:',
  '  - route: acme/same/prod', // 3
  '    url: https://same.example',
  '  - route: acme/policy/prod', // 5
  '    endpoints:',
  '      - {id: blue, url: "https://blue.example"}',
  '      - {id: green, url: "https://green.example", weight: 0}',
  '    healthCheck: {path: /healthz}',
  '  - route: acme/moved/prod', // 10
  '    url: https://new.example',
  '  - route: acme/fresh/prod', // 12
  '    url: https://fresh.example',
].join('\n');

const current = new Map<string, Route>([
  ['acme/same/prod', route('acme/same/prod', 3, { endpoints: plain('https://same.example') })],
  // The same policy as the file's once its defaults are filled in, as the server shows it.
  [
    'acme/policy/prod',
    route('acme/policy/prod', 4, {
      endpoints: [
        { id: 'blue', url: 'https://blue.example', priority: 1, weight: 1, state: 'enabled' },
        { id: 'green', url: 'https://green.example', priority: 1, weight: 0, state: 'enabled' },
      ],
      healthCheck: { type: 'http', path: '/healthz', intervalSeconds: 10, timeoutSeconds: 5, healthyThreshold: 2, unhealthyThreshold: 3, expectedStatus: '200-299' },
    }),
  ],
  ['acme/moved/prod', route('acme/moved/prod', 5, { endpoints: plain('https://old.example') })],
  ['acme/stray/prod', route('acme/stray/prod', 6, { endpoints: plain('https://stray.example') })],
  ['other/stray/prod', route('other/stray/prod', 7, { endpoints: plain('https://other.example') })],
]);

describe('the plan of tm apply', () => {
  const file = parseRouteFile('routes.yaml', FILE);

  it('leaves out routes that already match (defaults filled in as the server fills them), compares each change with the state planned against', () => {
    const plan = planOf(file, current, false);
    expect(plan.unchanged).toEqual(['acme/same/prod', 'acme/policy/prod']);
    expect(changesOf(plan)).toEqual([
      { op: 'put', route: 'acme/moved/prod', body: { url: 'https://new.example' }, ifRevision: 5 },
      { op: 'put', route: 'acme/fresh/prod', body: { url: 'https://fresh.example' }, ifAbsent: true },
    ]);
    expect(planLines(plan)).toEqual([
      '~ acme/moved/prod (update, at rev 5)',
      '    url: https://old.example → https://new.example',
      '+ acme/fresh/prod (create)',
      '    url: https://fresh.example',
      'plan: 1 to create, 1 to update, 0 to delete; 2 unchanged',
    ]);
  });

  it('--prune deletes the routes of the file’s tenants it does not list, never another tenant’s', () => {
    const plan = planOf(file, current, true);
    expect(changesOf(plan).filter((c) => c.op === 'delete')).toEqual([{ op: 'delete', route: 'acme/stray/prod', ifRevision: 6 }]);
    expect(planLines(plan)).toContain('- acme/stray/prod (delete, at rev 6)');
  });

  it('shows a policy field by field: endpoints, the health check, from one URL to several', () => {
    const policyFile = parseRouteFile('p.yaml', 'routes:\n  - route: acme/policy/prod\n    endpoints:\n      - {id: blue, url: "https://blue.example", weight: 2}\n      - {id: green, url: "https://green.example", weight: 0}\n    healthCheck: {path: /healthz, intervalSeconds: 3}\n  - route: acme/moved/prod\n    endpoints: [{id: a, url: "https://old.example"}, {id: b, url: "https://b.example"}]\n');
    const plan = planOf(policyFile, current, false);
    expect(planLines(plan)).toEqual([
      '~ acme/policy/prod (update, at rev 4)',
      '    endpoints[0].weight: 1 → 2',
      '    healthCheck.intervalSeconds: 10 → 3',
      '    healthCheck.timeoutSeconds: 5 → 3',
      '~ acme/moved/prod (update, at rev 5)',
      '    endpoints[0].id: (none) → a',
      '    endpoints[0].url: (none) → https://old.example',
      '    endpoints[0].priority: (none) → 1',
      '    endpoints[0].weight: (none) → 1',
      '    endpoints[0].state: (none) → enabled',
      '    endpoints[1].id: (none) → b',
      '    endpoints[1].url: (none) → https://b.example',
      '    endpoints[1].priority: (none) → 1',
      '    endpoints[1].weight: (none) → 1',
      '    endpoints[1].state: (none) → enabled',
      '    url: https://old.example → (none)',
      'plan: 0 to create, 2 to update, 0 to delete; 0 unchanged',
    ]);
  });

  it('an empty plan says so', () => {
    const same = parseRouteFile('s.yaml', 'routes:\n  - {route: acme/same/prod, url: "https://same.example"}\n');
    expect(planLines(planOf(same, current, false))).toEqual(['no changes (1 route(s) already as the file says)']);
  });

  it('places the server’s field errors in the file; too many changes says how to fix it', () => {
    const plan = planOf(file, current, true);
    expect(
      fieldErrorLines(file, plan, [
        { field: 'changes[1].body.url', message: 'url must be reachable' },
        { field: 'changes', message: 'changes must hold at most 2 changes' },
        { field: 'changes[2]', message: 'no' },
      ]),
    ).toEqual([
      'routes.yaml:13: routes[3].url: url must be reachable',
      'changes must hold at most 2 changes (the plan has 3 changes; the command API takes at most CHANGESET_MAX_CHANGES, default 1,000, in one change set: split the file)',
      'acme/stray/prod (delete): no',
    ]);
  });
});

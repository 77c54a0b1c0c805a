/** Header names of the HTTP contract (docs/guarantees.md, "HTTP conventions" and "Resolver"). */
export const Headers = {
  requestId: 'x-request-id',
  routeRevision: 'x-route-revision',
  consistencyRevision: 'x-consistency-revision',
  minRevision: 'x-min-revision',
  cache: 'x-cache',
} as const;

/** The resolver's DNS port, UDP and TCP (RESOLVER_DNS_PORT; Kubernetes maps the Service's port 53 to it). */
export const DEFAULT_DNS_PORT = 5353;

/** A problem with a code has the `type` `<this><code>` and a `code` member (docs/guarantees.md, "HTTP conventions"). */
export const PROBLEM_TYPE_PREFIX = 'urn:traffic-manager:problem:';

/** Default ports (docs/guarantees.md). */
export const DefaultPorts = {
  commandApi: 3000,
  resolver: 3001,
  outboxRelay: 3010,
  invalidationWorker: 3011,
  healthProber: 3012,
} as const;

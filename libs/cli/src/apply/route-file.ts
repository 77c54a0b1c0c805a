import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ENDPOINT_STATES, endpointUrlProblem, HEALTH_CHECK_TYPES, healthPathProblem, isValidName, parseRouteKey, parseStatusRanges, POLICY_LIMITS, type EndpointInput, type HealthCheckInput, type PolicyInput } from '@tm/contracts';

/**
 * The file of `tm apply` and `tm diff` (docs/sdk-and-cli.md, "tm apply"): YAML or JSON (JSON is
 * YAML), `{routes: [{route: "t/s/e", url | endpoints, healthCheck?}], description?}`, each entry a
 * route PUT body plus its `route`. Read with the `yaml` package for the line of every node, and
 * checked here field by field, so that a mistake is reported with the file's name, its line and the
 * field, before anything is sent.
 */

/** One route of the file: its key, its PUT body, and where it stands in the file. */
export interface FileRoute {
  route: string;
  body: PolicyInput;
  /** Its index in `routes`. */
  index: number;
  /** The line of its entry (1-based). */
  line: number;
  /** The line of each field of its body (`url`, `endpoints[0].weight`, ...), to place the server's field errors. */
  lines: Map<string, number>;
}

export interface RouteFile {
  name: string;
  routes: FileRoute[];
  description: string | undefined;
}

export interface FileProblem {
  line: number;
  field: string;
  message: string;
}

/** A file that cannot be applied: every problem found, each `name:line: field: message`. */
export class RouteFileError extends Error {
  constructor(
    readonly file: string,
    readonly problems: FileProblem[],
  ) {
    super(problems.map((p) => `${file}:${p.line}: ${p.field ? `${p.field}: ` : ''}${p.message}`).join('\n'));
  }
}

const MAX_PROBLEMS = 50;
const MAX_DESCRIPTION = 500;
const ENTRY_FIELDS = ['route', 'url', 'endpoints', 'healthCheck'];
const ENDPOINT_FIELDS = ['id', 'url', 'priority', 'weight', 'state'];
const HEALTH_FIELDS = ['type', 'path', 'intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold', 'expectedStatus'];
const L = POLICY_LIMITS;
const WHOLE: Record<string, { min: number; max: number }> = {
  priority: L.priority,
  weight: L.weight,
  intervalSeconds: L.intervalSeconds,
  timeoutSeconds: { min: L.timeoutSeconds.min, max: L.intervalSeconds.max },
  healthyThreshold: L.healthyThreshold,
  unhealthyThreshold: L.unhealthyThreshold,
};

class Reader {
  readonly problems: FileProblem[] = [];

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
  ) {}

  lineOf(node: Node | null | undefined): number {
    const offset = node?.range?.[0];
    return offset === undefined ? 1 : this.lines.linePos(offset).line;
  }

  problem(node: Node | null | undefined, field: string, message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push({ line: this.lineOf(node), field, message });
  }

  /** The node an alias stands for. */
  resolved(node: unknown): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return (node as Node | null | undefined) ?? null;
  }

  /** A map's fields by name (a key that is not a plain string is a problem), or undefined when `node` is no map. */
  fields(node: Node | null, field: string, known: readonly string[]): Map<string, { key: Node; value: Node | null }> | undefined {
    if (!isMap(node)) {
      this.problem(node, field, 'must be a map (name: value)');
      return undefined;
    }
    const fields = new Map<string, { key: Node; value: Node | null }>();
    for (const pair of node.items) {
      const key = this.resolved(pair.key);
      const name = isScalar(key) && typeof key.value === 'string' ? key.value : undefined;
      const at = field === '' ? (name ?? '?') : `${field}.${name ?? '?'}`;
      if (name === undefined) this.problem(key, field, 'a field name must be a string');
      else if (!known.includes(name)) this.problem(key, at, `unknown field (known: ${known.join(', ')})`);
      else fields.set(name, { key: key as Node, value: this.resolved(pair.value) });
    }
    return fields;
  }

  string(node: Node | null, field: string): string | undefined {
    if (isScalar(node) && typeof node.value === 'string') return node.value;
    this.problem(node, field, 'must be a string');
    return undefined;
  }

  whole(node: Node | null, field: string, name: string): number | undefined {
    const range = WHOLE[name] as { min: number; max: number };
    const value = isScalar(node) ? node.value : undefined;
    if (typeof value === 'number' && Number.isSafeInteger(value) && value >= range.min && value <= range.max) return value;
    this.problem(node, field, `must be a whole number from ${range.min} to ${range.max}`);
    return undefined;
  }
}

/** Reads and checks the text of file `name`; throws RouteFileError listing every problem. */
export function parseRouteFile(name: string, text: string): RouteFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new RouteFileError(
      name,
      doc.errors.slice(0, MAX_PROBLEMS).map((e) => ({ line: lines.linePos(e.pos[0]).line, field: '', message: `not YAML or JSON: ${e.message.split('\n')[0] ?? e.code}` })),
    );
  }
  const r = new Reader(doc, lines);
  const top = r.fields(r.resolved(doc.contents), '', ['routes', 'description']);
  const routes: FileRoute[] = [];
  let description: string | undefined;
  if (top) {
    const desc = top.get('description');
    if (desc) {
      description = r.string(desc.value, 'description');
      if (description !== undefined && [...description].length > MAX_DESCRIPTION) r.problem(desc.value, 'description', `must be at most ${MAX_DESCRIPTION} characters`);
    }
    const list = top.get('routes');
    if (!list) r.problem(doc.contents, 'routes', 'is required: a list of routes');
    else if (!isSeq(list.value)) r.problem(list.value ?? list.key, 'routes', 'must be a list of routes');
    else {
      const seen = new Map<string, number>();
      list.value.items.forEach((item, index) => {
        const node = r.resolved(item);
        const { entry, route } = readEntry(r, node, index);
        if (route !== undefined) {
          const first = seen.get(route);
          if (first !== undefined) r.problem(node, `routes[${index}].route`, `${route} is listed twice (also at line ${first})`);
          else seen.set(route, r.lineOf(node));
        }
        if (entry) routes.push(entry);
      });
    }
  }
  if (r.problems.length > 0) throw new RouteFileError(name, r.problems);
  return { name, routes, description };
}

/** An entry of `routes` (undefined when it has a problem) and its route key, when that is valid. */
function readEntry(r: Reader, node: Node | null, index: number): { entry?: FileRoute; route?: string } {
  const at = `routes[${index}]`;
  const fields = r.fields(node, at, ENTRY_FIELDS);
  if (!fields) return {};
  const before = r.problems.length;
  const lines = new Map<string, number>();
  const body: PolicyInput = {};
  const routeField = fields.get('route');
  let route: string | undefined;
  if (!routeField) r.problem(node, `${at}.route`, 'is required: tenant/service/environment');
  else {
    route = r.string(routeField.value, `${at}.route`);
    if (route !== undefined && !parseRouteKey(route)) {
      r.problem(routeField.value, `${at}.route`, `${route.slice(0, 200)} is not tenant/service/environment of lower-case names`);
      route = undefined;
    }
  }
  const url = fields.get('url');
  const endpoints = fields.get('endpoints');
  if ((url === undefined) === (endpoints === undefined)) r.problem(node, at, url ? 'give url or endpoints, not both' : 'url or endpoints is required');
  if (url) {
    lines.set('url', r.lineOf(url.value));
    body.url = urlOf(r, url.value, `${at}.url`);
  }
  if (endpoints) {
    lines.set('endpoints', r.lineOf(endpoints.value));
    body.endpoints = endpointsOf(r, endpoints.value, `${at}.endpoints`, lines);
  }
  const hc = fields.get('healthCheck');
  if (hc) {
    lines.set('healthCheck', r.lineOf(hc.value));
    body.healthCheck = isScalar(hc.value) && hc.value.value === null ? null : healthCheckOf(r, hc.value, `${at}.healthCheck`, lines);
  }
  if (r.problems.length > before || route === undefined) return route === undefined ? {} : { route };
  return { entry: { route, body, index, line: r.lineOf(node), lines }, route };
}

function urlOf(r: Reader, node: Node | null, field: string): string | undefined {
  const url = r.string(node, field);
  const problem = url === undefined ? undefined : endpointUrlProblem(url);
  if (problem !== undefined) r.problem(node, field, `${problem}`);
  return url;
}

function endpointsOf(r: Reader, node: Node | null, field: string, lines: Map<string, number>): EndpointInput[] {
  if (!isSeq(node) || node.items.length < L.endpoints.min || node.items.length > L.endpoints.max) {
    r.problem(node, field, `must be a list of ${L.endpoints.min} to ${L.endpoints.max} endpoints`);
    return [];
  }
  const ids = new Map<string, number>();
  const out: EndpointInput[] = [];
  node.items.forEach((raw, i) => {
    const item = r.resolved(raw);
    const at = `${field}[${i}]`;
    lines.set(`endpoints[${i}]`, r.lineOf(item));
    const fields = r.fields(item, at, ENDPOINT_FIELDS);
    if (!fields) return;
    const idNode = fields.get('id');
    const urlNode = fields.get('url');
    if (!idNode) r.problem(item, `${at}.id`, 'is required');
    if (!urlNode) r.problem(item, `${at}.url`, 'is required');
    const id = idNode ? r.string(idNode.value, `${at}.id`) : undefined;
    if (id !== undefined && !isValidName(id)) r.problem(idNode?.value, `${at}.id`, 'must be 1 to 63 lower-case letters, digits or hyphens');
    if (id !== undefined) {
      const first = ids.get(id);
      if (first !== undefined) r.problem(idNode?.value, `${at}.id`, `id ${id} is also the id of ${field}[${first}]`);
      else ids.set(id, i);
    }
    const endpoint: EndpointInput = { id: id ?? '', url: urlNode ? (urlOf(r, urlNode.value, `${at}.url`) ?? '') : '' };
    for (const name of ['priority', 'weight'] as const) {
      const f = fields.get(name);
      if (f) {
        lines.set(`endpoints[${i}].${name}`, r.lineOf(f.value));
        endpoint[name] = r.whole(f.value, `${at}.${name}`, name);
      }
    }
    const state = fields.get('state');
    if (state) {
      const value = r.string(state.value, `${at}.state`);
      if (value !== undefined && !(ENDPOINT_STATES as readonly string[]).includes(value)) r.problem(state.value, `${at}.state`, `must be one of ${ENDPOINT_STATES.join(', ')}`);
      else if (value !== undefined) endpoint.state = value as (typeof ENDPOINT_STATES)[number];
    }
    out.push(endpoint);
  });
  return out;
}

function healthCheckOf(r: Reader, node: Node | null, field: string, lines: Map<string, number>): HealthCheckInput {
  const fields = r.fields(node, field, HEALTH_FIELDS);
  const hc: HealthCheckInput = {};
  if (!fields) return hc;
  for (const [name, { value }] of fields) lines.set(`healthCheck.${name}`, r.lineOf(value));
  const type = fields.get('type');
  if (type) {
    const value = r.string(type.value, `${field}.type`);
    if (value !== undefined && !(HEALTH_CHECK_TYPES as readonly string[]).includes(value)) r.problem(type.value, `${field}.type`, `must be one of ${HEALTH_CHECK_TYPES.join(', ')}`);
    else if (value !== undefined) hc.type = value as (typeof HEALTH_CHECK_TYPES)[number];
  }
  const path = fields.get('path');
  if (path) {
    hc.path = r.string(path.value, `${field}.path`);
    const problem = hc.path === undefined ? undefined : healthPathProblem(hc.path);
    if (problem) r.problem(path.value, `${field}.path`, `path ${problem}`);
  }
  const status = fields.get('expectedStatus');
  if (status) {
    hc.expectedStatus = r.string(status.value, `${field}.expectedStatus`);
    if (hc.expectedStatus !== undefined && !parseStatusRanges(hc.expectedStatus)) r.problem(status.value, `${field}.expectedStatus`, 'must be status codes (100 to 599) or ranges, such as "200-299,304"');
  }
  if (hc.type === 'tcp') {
    if (path) r.problem(path.key, `${field}.path`, 'is for http health checks only');
    if (status) r.problem(status.key, `${field}.expectedStatus`, 'is for http health checks only');
  }
  for (const name of ['intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold'] as const) {
    const f = fields.get(name);
    if (f) hc[name] = r.whole(f.value, `${field}.${name}`, name);
  }
  const interval = hc.intervalSeconds ?? L.intervalSeconds.default;
  if (hc.timeoutSeconds !== undefined && hc.timeoutSeconds > interval) r.problem(fields.get('timeoutSeconds')?.value, `${field}.timeoutSeconds`, `must not be above intervalSeconds (${interval})`);
  return hc;
}

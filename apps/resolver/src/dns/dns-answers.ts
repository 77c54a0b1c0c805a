import { isIP } from 'node:net';
import { Injectable, Logger } from '@nestjs/common';
import type { Answer, SoaAnswer, SrvAnswer } from 'dns-packet';
import { selectableGroups, type EndpointView, type RouteId } from '@tm/contracts';
import { ProblemException } from '@tm/platform';
import { ResolverConfig } from '../config';
import { ResolveService, type Resolution } from '../resolve/resolve.service';
import { endpointName, readName, zoneOf, type Scheme } from './dns-names';
import { OpenTenants } from './open-tenants';

/** The response codes this server gives (RFC 1035 4.1.1; BADVERS is EDNS's, RFC 6891). */
export const Rcode = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;
export type RcodeName = keyof typeof Rcode;

/** One question, as dns-packet decodes it (`type`: 'A', ..., or 'UNKNOWN_<n>'). */
export interface DnsQuestion {
  name: string;
  type: string;
  class: string;
}

/** What a question is answered with; the server adds the header, the question and EDNS. */
export interface DnsReply {
  rcode: RcodeName;
  /** Authoritative: every answer from the zone (not REFUSED, FORMERR, ...). */
  authoritative: boolean;
  answers: Answer[];
  authorities: Answer[];
  additionals: Answer[];
}

/** The negative answers' TTL is never above this (docs/dns.md, "TTLs"). */
const NEGATIVE_TTL_MAX = 5;

/** The parts of an endpoint URL DNS answers need, parsed once per URL. */
interface Target {
  /** The host: a name (no final dot), or an IP literal (no brackets). */
  host: string;
  /** 4 or 6 for an IP literal, 0 for a name. */
  ip: 0 | 4 | 6;
  scheme: Scheme;
  port: number;
}

const TARGETS_MAX = 10_000;

/**
 * The records of a question in the zone (docs/dns.md): a route's answers come from ResolveService,
 * the cache, health and selection the HTTP resolver uses, so a DNS answer and an HTTP answer of the
 * same moment pick from the same endpoints with the same weights. Only tenants open to DNS are
 * answered (OpenTenants); one that is not reads as a missing route (NXDOMAIN). TTLs never exceed the
 * answer's freshness left (G3 through any cache that honours TTLs).
 */
@Injectable()
export class DnsAnswers {
  private readonly logger = new Logger('Dns');
  readonly zone: string;
  private readonly ttl: number;
  /** The TTL of a negative answer that no cache entry bounds (a closed tenant, a name that cannot exist). */
  private readonly negativeTtl: number;
  private readonly nsName: string;
  private readonly targets = new Map<string, Target | null>();

  constructor(
    config: ResolverConfig,
    private readonly resolver: ResolveService,
    private readonly tenants: OpenTenants,
  ) {
    this.zone = zoneOf(config.DNS_ZONE);
    this.ttl = config.DNS_TTL_SECONDS;
    this.negativeTtl = Math.min(this.ttl, NEGATIVE_TTL_MAX);
    this.nsName = config.DNS_NS_NAME === undefined ? this.zone : zoneOf(config.DNS_NS_NAME);
  }

  async answer(q: DnsQuestion): Promise<DnsReply> {
    if (q.class !== 'IN' && q.class !== 'ANY') return refused();
    const name = readName(q.name, this.zone);
    if (name.kind === 'outside') return refused();
    if (name.kind === 'apex') return this.apex(q);
    if (name.kind === 'absent') return this.negative('NXDOMAIN', this.negativeTtl);
    const tenant = name.kind === 'tenant' || name.kind === 'service' ? name.tenant : name.route.tenant;
    const access = this.tenants.access(tenant);
    if ('unknown' in access) return servfail();
    if (!access.open) return this.negative('NXDOMAIN', this.negativeTtl);
    // A tenant's and a service's names exist (names below them may), with no records of their own.
    if (name.kind === 'tenant' || name.kind === 'service') return this.negative('NOERROR', this.negativeTtl);
    let resolution: Resolution;
    try {
      resolution = await this.resolver.resolve(name.route, { strong: false, tenantId: access.tenantId });
    } catch (e) {
      // The tenant's id changed under its slug (deleted and created again): not this tenant's route.
      if (e instanceof ProblemException && e.status === 401) return this.negative('NXDOMAIN', this.negativeTtl);
      // PostgreSQL down with nothing cached, or overloaded: no answer to give.
      if (!(e instanceof ProblemException && e.status === 503)) this.logger.warn(`${q.name} ${q.type}: ${e instanceof Error ? e.message : String(e)}`);
      return servfail();
    }
    const ttl = Math.min(this.ttl, resolution.maxAge);
    const route = resolution.route;
    const selected = resolution.selected;
    if (!route || !selected) return this.negative('NXDOMAIN', Math.min(ttl, NEGATIVE_TTL_MAX));
    const endpoints = selected.endpoints;
    const negative = () => this.negative('NOERROR', Math.min(ttl, NEGATIVE_TTL_MAX));
    switch (name.kind) {
      case 'route': {
        const pick = selected.url === undefined ? undefined : this.target(selected.url);
        if (!pick) return negative();
        const record = this.addressOrAlias(q.name, pick, q.type, ttl);
        return record ? positive([record]) : negative();
      }
      case 'tcp':
      case 'endpoints':
        return negative();
      case 'srv': {
        if (!endpoints.some((e) => this.target(e.url)?.scheme === name.scheme)) return this.negative('NXDOMAIN', Math.min(ttl, NEGATIVE_TTL_MAX));
        if (q.type === 'TXT' || q.type === 'ANY') {
          if (selected.url === undefined) return negative();
          return positive([{ type: 'TXT', name: q.name, ttl, class: 'IN', data: [...characterStrings(`url=${selected.url}`), `revision=${route.revision}`] }]);
        }
        if (q.type !== 'SRV') return negative();
        const { answers, additionals } = this.services(name.route, name.scheme, endpoints, q.name, ttl);
        return answers.length > 0 ? { ...positive(answers), additionals } : negative();
      }
      case 'endpoint': {
        const endpoint = endpoints.find((e) => e.id === name.endpoint);
        const target = endpoint && endpoint.state !== 'disabled' ? this.target(endpoint.url) : undefined;
        if (!target || target.ip === 0) return this.negative('NXDOMAIN', Math.min(ttl, NEGATIVE_TTL_MAX));
        const record = this.address(q.name, target, q.type === 'ANY' ? (target.ip === 4 ? 'A' : 'AAAA') : q.type, ttl);
        return record ? positive([record]) : negative();
      }
    }
  }

  /** The zone's apex: SOA and NS; ANY gets the SOA alone (RFC 8482). */
  private apex(q: DnsQuestion): DnsReply {
    if (q.type === 'SOA' || q.type === 'ANY') return positive([this.soa(this.ttl)]);
    if (q.type === 'NS') return positive([{ type: 'NS', name: q.name, ttl: this.ttl, class: 'IN', data: this.nsName }]);
    return this.negative('NOERROR', Math.min(this.ttl, NEGATIVE_TTL_MAX));
  }

  /** NXDOMAIN, or NODATA (NOERROR with nothing): the zone's SOA in the authority section (RFC 2308). */
  private negative(rcode: 'NXDOMAIN' | 'NOERROR', ttl: number): DnsReply {
    return { rcode, authoritative: true, answers: [], authorities: [this.soa(ttl)], additionals: [] };
  }

  private soa(ttl: number): SoaAnswer {
    return {
      type: 'SOA',
      name: this.zone,
      ttl,
      class: 'IN',
      data: {
        mname: this.nsName,
        rname: `hostmaster.${this.zone}`,
        // Unix time: the zone changes all the time, and nothing transfers it.
        serial: Math.floor(Date.now() / 1000) >>> 0,
        refresh: 60,
        retry: 30,
        expire: 86_400,
        minimum: Math.min(this.ttl, NEGATIVE_TTL_MAX),
      },
    };
  }

  /** At a route's name: the pick's address when its host is an IP literal of the asked family, else a CNAME to its host (whatever the type). */
  private addressOrAlias(owner: string, pick: Target, type: string, ttl: number): Answer | undefined {
    if (pick.ip === 0) return { type: 'CNAME', name: owner, ttl, class: 'IN', data: pick.host };
    return this.address(owner, pick, type === 'ANY' ? (pick.ip === 4 ? 'A' : 'AAAA') : type, ttl);
  }

  private address(owner: string, target: Target, type: string, ttl: number): Answer | undefined {
    if (type === 'A' && target.ip === 4) return { type: 'A', name: owner, ttl, class: 'IN', data: target.host };
    if (type === 'AAAA' && target.ip === 6) return { type: 'AAAA', name: owner, ttl, class: 'IN', data: target.host };
    return undefined;
  }

  /**
   * SRV (RFC 2782): every selectable endpoint of the scheme, ranked as the selection would try them
   * (priority 1, 2, ... per group; selectableGroups), weight the endpoint's, port the URL's; a target
   * that is an IP literal gets its synthetic name, whose address goes in the additional section.
   */
  private services(route: RouteId, scheme: Scheme, endpoints: EndpointView[], owner: string, ttl: number): { answers: SrvAnswer[]; additionals: Answer[] } {
    const answers: SrvAnswer[] = [];
    const additionals: Answer[] = [];
    let rank = 0;
    for (const group of selectableGroups(endpoints)) {
      const members = group.flatMap((e) => {
        const target = this.target(e.url);
        return target?.scheme === scheme ? [{ e, target }] : [];
      });
      if (members.length === 0) continue;
      rank++;
      for (const { e, target } of members) {
        let host = target.host;
        if (target.ip !== 0) {
          host = endpointName(route, e.id, this.zone);
          // A synthetic name longer than a DNS name may be (long names and zone): the endpoint cannot be named.
          if (host.length > NAME_MAX) continue;
          additionals.push({ type: target.ip === 4 ? 'A' : 'AAAA', name: host, ttl, class: 'IN', data: target.host });
        }
        answers.push({ type: 'SRV', name: owner, ttl, class: 'IN', data: { priority: rank, weight: e.weight, port: target.port, target: host } });
      }
    }
    return { answers, additionals };
  }

  /** An endpoint URL's host, scheme and port (parsed once per URL); null for one DNS cannot name. */
  private target(url: string): Target | null {
    let target = this.targets.get(url);
    if (target !== undefined) return target;
    target = parseTarget(url);
    if (this.targets.size >= TARGETS_MAX) this.targets.clear();
    this.targets.set(url, target);
    return target;
  }
}

/** The longest DNS name, in its dotted form without the final dot (RFC 1035: 255 bytes on the wire). */
const NAME_MAX = 253;

/**
 * A TXT value as character-strings of at most 255 bytes each (RFC 1035 3.3.14): a URL longer than
 * fits in one spans several strings, read joined (as SPF's long records are, RFC 7208 3.3).
 */
export function characterStrings(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  const strings: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += 255) strings.push(bytes.subarray(i, i + 255));
  return strings;
}

/** An endpoint URL's host, scheme and port; null when it is not http(s), has no host, or its host is no valid DNS name. */
export function parseTarget(url: string): Target | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  const scheme = parsed.protocol === 'http:' ? 'http' : parsed.protocol === 'https:' ? 'https' : undefined;
  if (!scheme || parsed.hostname === '') return null;
  const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname.replace(/\.$/, '');
  const family = isIP(host);
  if (family === 0 && (host.length > NAME_MAX || host.split('.').some((label) => label.length === 0 || Buffer.byteLength(label) > 63))) return null;
  return { host, ip: family === 4 ? 4 : family === 6 ? 6 : 0, scheme, port: parsed.port === '' ? (scheme === 'http' ? 80 : 443) : Number(parsed.port) };
}

function positive(answers: Answer[]): DnsReply {
  return { rcode: 'NOERROR', authoritative: true, answers, authorities: [], additionals: [] };
}

function refused(): DnsReply {
  return { rcode: 'REFUSED', authoritative: false, answers: [], authorities: [], additionals: [] };
}

function servfail(): DnsReply {
  return { rcode: 'SERVFAIL', authoritative: false, answers: [], authorities: [], additionals: [] };
}


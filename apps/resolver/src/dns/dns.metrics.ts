import { Inject, Injectable } from '@nestjs/common';
import { Counter, Gauge, type Registry } from 'prom-client';
import { HotCounter, HotHistogram, METRICS_REGISTRY } from '@tm/platform';

/** The query types counted by name; any other is counted as `other` (the label stays bounded). */
export const COUNTED_TYPES = new Set(['A', 'AAAA', 'CNAME', 'SRV', 'TXT', 'SOA', 'NS', 'ANY']);

/** What the DNS server reports at /metrics (docs/operations.md, "Metrics"). */
@Injectable()
export class DnsMetrics {
  readonly queries: HotCounter<'transport' | 'type' | 'rcode'>;
  readonly duration: HotHistogram<'transport'>;
  readonly dropped: Counter<'reason'>;
  readonly truncated: Counter<'transport'>;
  readonly tcpConnections: Gauge;

  constructor(@Inject(METRICS_REGISTRY) registry: Registry) {
    const registers = [registry];
    this.queries = new HotCounter({
      name: 'tm_dns_queries_total',
      help: 'DNS queries answered, by transport (udp, tcp), query type (A, AAAA, CNAME, SRV, TXT, SOA, NS, ANY, other, none: unreadable) and response code',
      labelNames: ['transport', 'type', 'rcode'],
      registers,
    });
    this.duration = new HotHistogram({
      name: 'tm_dns_duration_seconds',
      help: 'Time from a DNS query read to its answer written, by transport',
      labelNames: ['transport'],
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.dropped = new Counter({
      name: 'tm_dns_dropped_total',
      help: 'DNS messages not answered, by reason: short (no full header), response (not a query), bad_source (UDP from port 0), rate_limited (DNS_RRL_PER_SECOND), tcp_limit (too many connections, in all or from one source), send_failed',
      labelNames: ['reason'],
      registers,
    });
    this.truncated = new Counter({
      name: 'tm_dns_truncated_total',
      help: 'DNS answers sent truncated (TC) because they exceed the UDP or EDNS size (the client asks again over TCP), or slipped by rate limiting',
      labelNames: ['transport'],
      registers,
    });
    this.tcpConnections = new Gauge({ name: 'tm_dns_tcp_connections', help: 'Open DNS connections over TCP', registers });
  }
}

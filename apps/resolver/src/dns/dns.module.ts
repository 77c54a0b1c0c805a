import { Module } from '@nestjs/common';
import { ResolveModule } from '../resolve/resolve.module';
import { DnsAnswers } from './dns-answers';
import { DnsServer } from './dns-server';
import { DnsMetrics } from './dns.metrics';
import { OpenTenants } from './open-tenants';

/** DNS in the read tier (docs/dns.md): UDP and TCP on RESOLVER_DNS_PORT, answered from ResolveService. */
@Module({
  imports: [ResolveModule],
  providers: [OpenTenants, DnsAnswers, DnsMetrics, DnsServer],
  exports: [DnsServer, OpenTenants],
})
export class DnsModule {}

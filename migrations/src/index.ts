import { StoreRevision1764000000000 } from './1764000000000-store-revision';
import { RoutesSchema1764000000001 } from './1764000000001-routes-schema';
import { EndpointsNotCascaded1764000000460 } from './1764000000460-endpoints-not-cascaded';
import { TrafficPolicies1764000000840 } from './1764000000840-traffic-policies';
import { TenantQuotas1764000000900 } from './1764000000900-tenant-quotas';
import { ChangeSetOutbox1764000001000 } from './1764000001000-change-set-outbox';
import { HistoryAudit1764000001100 } from './1764000001100-history-audit';
import { Propagation1764000001200 } from './1764000001200-propagation';
import { TenantDns1764000001300 } from './1764000001300-tenant-dns';

export { runMigrations } from './run';

/** Every migration, oldest first. Add new ones at the end. */
export const migrations = [StoreRevision1764000000000, RoutesSchema1764000000001, EndpointsNotCascaded1764000000460, TrafficPolicies1764000000840, TenantQuotas1764000000900, ChangeSetOutbox1764000001000, HistoryAudit1764000001100, Propagation1764000001200, TenantDns1764000001300];

import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import type { Principal } from '@tm/auth';
import { routeKey, singleUrlPolicy, type RouteId, type TrafficPolicy } from '@tm/contracts';
import { ProblemException } from '@tm/platform';
import { routeNotFound } from '../routes/route.errors';
import type { ChangeOrigin } from '../store/change-origin';
import { ChangeSetStore } from '../store/change-set-store';
import { WriteStore } from '../store/write-store';
import type { ChangeCompare, ParsedChange } from './change-set.parse';
import { changeConflicts, ChangesService, type ChangeConflict, type ChangeSetAnswer } from './changes.service';
import { HistoryService, type VersionBody } from './history.service';

/** The policy a version's body holds. */
function policyOf(body: VersionBody): TrafficPolicy {
  return 'url' in body ? singleUrlPolicy(body.url) : body;
}

/** The change that makes the route `id` what `body` says (null: absent), with `compare`. */
function changeTo(id: RouteId, tenantId: string, body: VersionBody | null, compare: ChangeCompare, index = 0): ParsedChange {
  const base = { index, id, key: routeKey(id), tenantId, ...compare };
  return body ? { ...base, op: 'put', parsed: { policy: policyOf(body) } } : { ...base, op: 'delete' };
}

function isProblem(e: unknown, status: number): e is ProblemException {
  return e instanceof ProblemException && e.status === status;
}

/**
 * Undo (docs/changes.md): a route's rollback to a revision, and a change set's revert. Both are new
 * change sets (history only moves forward, G2), applied with compares on the state they were
 * decided on, so a concurrent change makes them conflict instead of being overwritten.
 */
@Injectable()
export class UndoService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly changes: ChangesService,
    private readonly history: HistoryService,
    private readonly changeSets: ChangeSetStore,
    private readonly store: WriteStore,
  ) {}

  /** 412 when `revision` is beyond the store's. */
  private async withinStore(revision: number): Promise<void> {
    const current = await this.changeSets.currentRevision(this.dataSource.manager);
    if (revision > current) {
      throw new ProblemException(412, 'Precondition Failed', `revision ${revision} is beyond the store's current revision ${current}`, {
        code: 'revision_beyond_store',
        members: { currentRevision: current },
      });
    }
  }

  /**
   * Makes the route what it was as of `toRevision` (absent then: deleted), in a new change set;
   * `ifRevision` (from If-Match) must be the route's revision now.
   */
  async rollback(id: RouteId, toRevision: number, ifRevision: number | undefined, origin: ChangeOrigin): Promise<ChangeSetAnswer> {
    await this.withinStore(toRevision);
    const tenantId = await this.history.tenantId(id.tenant);
    if (!tenantId) throw routeNotFound(id);
    const state = await this.history.stateAt(tenantId, id, toRevision);
    const change = changeTo(id, tenantId, state.body, ifRevision === undefined ? {} : { ifRevision });
    return this.changes.apply([change], origin, `rollback of ${routeKey(id)} to revision ${toRevision}`);
  }

  /**
   * Restores every route the change set at `revision` changed to its state before it, in one new
   * change set, where each is still as that set left it; otherwise 409 with the conflicts, nothing
   * applied. 404 unless the key may write every tenant of the set.
   */
  async revert(revision: number, principal: Principal, origin: ChangeOrigin): Promise<ChangeSetAnswer> {
    await this.withinStore(revision);
    const versions = await this.history.versionsAt(revision, null);
    const tenants = new Set(versions.map((v) => v.tenant_id));
    if (versions.length === 0 || (principal.tenantId !== null && (tenants.size > 1 || !tenants.has(principal.tenantId)))) {
      throw new ProblemException(404, 'Not Found', `there is no change set at revision ${revision} this key may write`, { code: 'change_set_not_found' });
    }
    const conflicts: ChangeConflict[] = [];
    const changes: ParsedChange[] = [];
    const tenantIds = new Map<string, string | undefined>();
    for (const slug of new Set(versions.map((v) => v.tenant))) tenantIds.set(slug, await this.history.tenantId(slug));
    const before = await this.history.statesBefore(versions, revision);
    for (const [index, v] of versions.entries()) {
      const id = { tenant: v.tenant, service: v.service, environment: v.environment };
      const still = Number(v.latest) === revision && tenantIds.get(v.tenant) === v.tenant_id;
      if (!still) {
        conflicts.push({ route: routeKey(id), expected: v.op === 'put' ? revision : null, actual: await this.currentRevision(id) });
        continue;
      }
      changes.push(changeTo(id, v.tenant_id, before[index] ?? null, v.op === 'put' ? { ifRevision: revision } : { ifAbsent: true }, index));
    }
    if (conflicts.length > 0) throw changeConflicts(conflicts, 409);
    try {
      return await this.changes.apply(changes, origin, `revert of change set ${revision}`);
    } catch (e) {
      // A route that moved on between the check above and the set's locks.
      if (isProblem(e, 412)) throw changeConflicts((e.extra.members?.['conflicts'] as ChangeConflict[] | undefined) ?? [], 409);
      throw e;
    }
  }

  private async currentRevision(id: RouteId): Promise<number | null> {
    const row = await this.store.findEndpoint(this.dataSource.manager, id);
    return row ? Number(row.revision) : null;
  }
}

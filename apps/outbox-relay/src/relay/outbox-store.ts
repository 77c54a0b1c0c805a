import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { returning } from '@tm/persistence';

export interface OutboxRow {
  id: string;
  eventId: string;
  routeKey: string;
  revision: number;
  payload: string;
  createdAt: Date;
}

/**
 * Runs one statement and resolves to its rows: on the pool, or on the leader lock's own session
 * (LeaderLock.query), where a success also proves the lead alive.
 */
export type RunQuery = (sql: string, params: unknown[]) => Promise<unknown[]>;

interface RawRow {
  id: string;
  event_id: string;
  route_key: string;
  revision: string;
  payload: string;
  created_at: Date;
}

const UNPUBLISHED = `SELECT id, event_id, route_key, revision, payload::text AS payload, created_at
  FROM outbox WHERE published_at IS NULL`;

function toRows(rows: unknown[]): OutboxRow[] {
  return (rows as RawRow[]).map((r) => ({
    id: r.id,
    eventId: r.event_id,
    routeKey: r.route_key,
    revision: Number(r.revision),
    payload: r.payload,
    createdAt: r.created_at,
  }));
}

/** Retention never deletes the newest this many rows (nor any row of their revisions): a watch may resume from any of them. */
export const OUTBOX_KEEP_NEWEST = 10_000;

/**
 * Where the relay stands in the outbox: the last row it marked published, by (revision, id), the
 * order it publishes in. A change set's rows share a revision and one may be larger than a batch, so
 * a revision alone cannot say where a batch ended.
 */
export interface OutboxCursor {
  revision: number;
  id: string;
}

/** Before every row. */
export const OUTBOX_START: OutboxCursor = { revision: 0, id: '0' };

/** The position of the last of `rows` (in cursor order), or `before` when there are none. */
export function cursorAfter(rows: readonly OutboxRow[], before: OutboxCursor): OutboxCursor {
  const last = rows[rows.length - 1];
  return last ? { revision: last.revision, id: last.id } : before;
}

/** The relay's reads and writes of the outbox table. */
@Injectable()
export class OutboxStore {
  private readonly pool: RunQuery;

  constructor(private readonly dataSource: DataSource) {
    this.pool = (sql, params) => this.dataSource.query<unknown[]>(sql, params);
  }

  /**
   * The oldest unpublished rows after the cursor `after`, in (revision, id) order. Revisions become
   * visible in commit order (G2), and a revision's rows all at once, so no row before these can still
   * appear. A batch may end inside a revision (a change set larger than it): the next starts after
   * its last row, never skipping the rest of that revision. Per route key, events keep revision order (G7).
   *
   * `after` is the last row this leader marked: every row up to it is published, so the read starts
   * there in the unpublished index instead of walking the entries that rows published since the last
   * vacuum left behind (its cost would otherwise grow with every write).
   */
  async unpublished(limit: number, run: RunQuery = this.pool, after: OutboxCursor = OUTBOX_START): Promise<OutboxRow[]> {
    return toRows(await run(`${UNPUBLISHED} AND (revision, id) > ($2, $3::bigint) ORDER BY revision, id LIMIT $1`, [limit, after.revision, after.id]));
  }

  /**
   * Marks rows published (only after Kafka acknowledged them) and, in the same statement (one
   * round trip, one transaction), reads the unpublished rows after them as `unpublished` does.
   */
  async markPublished(rows: OutboxRow[], nextLimit: number, run: RunQuery = this.pool): Promise<OutboxRow[]> {
    // A data-modifying WITH runs to completion whether or not its result is read. The SELECT sees
    // the snapshot from before the UPDATE: the marked rows are left out by the cursor after the last.
    const last = cursorAfter(rows, OUTBOX_START);
    return toRows(
      await run(
        `WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]))
         ${UNPUBLISHED} AND (revision, id) > ($3, $4::bigint) ORDER BY revision, id LIMIT $2`,
        [rows.map((r) => r.id), nextLimit, last.revision, last.id],
      ),
    );
  }

  /** Rows waiting, and the age in seconds of the oldest of them. */
  async backlog(): Promise<{ rows: number; oldestAgeSeconds: number }> {
    const [row] = await this.dataSource.query<{ rows: string; oldest: Date | null; now: Date }[]>(
      `SELECT count(*) AS rows, min(created_at) AS oldest, now() AS now FROM outbox WHERE published_at IS NULL`,
    );
    const oldest = row?.oldest;
    return {
      rows: Number(row?.rows ?? 0),
      oldestAgeSeconds: oldest && row ? Math.max(0, (row.now.getTime() - oldest.getTime()) / 1000) : 0,
    };
  }

  /**
   * Deletes published rows older than `hours`, oldest revisions first and whole revisions only (a
   * revision goes when every row of it is published and older: a watch resumes before a revision or
   * after it, never inside), about `limit` rows at a time (more when a revision is larger), never one
   * of the newest `keep` rows nor any row of their revisions (the watch resumes from the outbox:
   * docs/guarantees.md, "Watch", history); returns how many. Only a prefix of the outbox goes: at the
   * first revision that must stay, the batch ends. Small batches: no long locks.
   */
  async deletePublishedBefore(hours: number, limit: number, keep = OUTBOX_KEEP_NEWEST): Promise<number> {
    const old = `published_at IS NOT NULL AND published_at < now() - make_interval(hours => $1)`;
    const rows = await returning<{ id: string }>(
      this.dataSource,
      `WITH keep AS (
         SELECT COALESCE(min(revision), ${Number.MAX_SAFE_INTEGER}) AS below
           FROM (SELECT revision FROM outbox ORDER BY revision DESC, id DESC LIMIT $3) newest),
       oldest AS MATERIALIZED (
         SELECT revision, ${old} AS old FROM outbox
          WHERE revision < (SELECT below FROM keep) ORDER BY revision, id LIMIT $2),
       -- The first revision that must stay among the oldest rows; the last revision read, which may go on past them.
       stay AS (SELECT min(revision) AS r FROM oldest WHERE NOT old),
       last AS (SELECT max(revision) AS r FROM oldest),
       upto AS (
         SELECT CASE WHEN stay.r IS NOT NULL THEN stay.r - 1
                     WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.revision = last.r AND NOT (${old.replace(/published_at/g, 'o.published_at')})) THEN last.r - 1
                     ELSE last.r END AS r
           FROM stay, last)
       DELETE FROM outbox o USING upto WHERE o.revision <= upto.r RETURNING o.id`,
      [hours, limit, keep],
    );
    return rows.length;
  }
}

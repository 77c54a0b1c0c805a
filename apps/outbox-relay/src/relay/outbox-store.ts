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

/** Retention never deletes the newest this many rows: a watch may resume from any of them. */
export const OUTBOX_KEEP_NEWEST = 10_000;

/** The relay's reads and writes of the outbox table. */
@Injectable()
export class OutboxStore {
  private readonly pool: RunQuery;

  constructor(private readonly dataSource: DataSource) {
    this.pool = (sql, params) => this.dataSource.query<unknown[]>(sql, params);
  }

  /**
   * The oldest unpublished rows after revision `after`, in revision order. Revisions become
   * visible in commit order (G2), so no row with a lower revision can still appear after these.
   *
   * `after` is the last revision this leader marked: every row up to it is published, so the
   * read starts there in the unpublished index instead of walking the entries that rows published
   * since the last vacuum left behind (its cost would otherwise grow with every write).
   */
  async unpublished(limit: number, run: RunQuery = this.pool, after = 0): Promise<OutboxRow[]> {
    return toRows(await run(`${UNPUBLISHED} AND revision > $2 ORDER BY revision LIMIT $1`, [limit, after]));
  }

  /**
   * Marks rows published (only after Kafka acknowledged them) and, in the same statement (one
   * round trip, one transaction), reads the unpublished rows after them as `unpublished` does.
   */
  async markPublished(rows: OutboxRow[], nextLimit: number, run: RunQuery = this.pool): Promise<OutboxRow[]> {
    // A data-modifying WITH runs to completion whether or not its result is read. The SELECT sees
    // the snapshot from before the UPDATE: the marked rows are left out by their revisions.
    const last = rows.reduce((max, r) => Math.max(max, r.revision), 0);
    return toRows(
      await run(
        `WITH marked AS (UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[]))
         ${UNPUBLISHED} AND revision > $3 ORDER BY revision LIMIT $2`,
        [rows.map((r) => r.id), nextLimit, last],
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
   * Deletes up to `limit` published rows older than `hours`, oldest revisions first, never one of the
   * newest `keep` revisions (the watch resumes from the outbox: docs/guarantees.md, "Watch", history);
   * returns how many. Small batches: no long locks.
   */
  async deletePublishedBefore(hours: number, limit: number, keep = OUTBOX_KEEP_NEWEST): Promise<number> {
    const rows = await returning<{ id: string }>(
      this.dataSource,
      `WITH doomed AS (
         SELECT id FROM outbox
          WHERE published_at IS NOT NULL AND published_at < now() - make_interval(hours => $1)
            AND revision <= (SELECT revision FROM store_revision WHERE id = 1) - $3
          ORDER BY revision LIMIT $2
          FOR UPDATE SKIP LOCKED)
       DELETE FROM outbox o USING doomed WHERE o.id = doomed.id RETURNING o.id`,
      [hours, limit, keep],
    );
    return rows.length;
  }
}

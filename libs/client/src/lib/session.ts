import type { ApplyOptions, Change, ChangeSetResult } from './changes';
import type { RouteBody, WriteOptions, WrittenRoute } from './commands';
import type { CallOptions } from './http';
import type { RouteRef } from './route';
import { encodeToken } from './token';
import type { WaitOptions } from './wait';

export interface ResolveOptions extends CallOptions {
  /** The answer reflects every write with revision <= this (a session's own minimum is added). */
  minRevision?: number | undefined;
  /** `strong`: skip every cache and read the database through the resolver. */
  consistency?: 'default' | 'strong' | undefined;
  /**
   * Makes the weighted pick among a route's endpoints stable for this string (a user, a session
   * id): the same string keeps its endpoint while that endpoint stays a candidate.
   */
  affinity?: string | undefined;
}

/** One of a route's endpoints in an answer, with its health. */
export interface ResolvedEndpoint {
  id: string;
  url: string;
  priority: number;
  weight: number;
  state: 'enabled' | 'draining' | 'disabled';
  health: 'healthy' | 'unhealthy' | 'unknown';
}

/** An answer: where to call, and how fresh that is. */
export interface Resolution {
  /** The endpoint picked: the URL to call. */
  url: string;
  /** Every candidate was unhealthy, so one was picked anyway (fail open). */
  failOpen: boolean;
  /** Every endpoint of the route, in selection order (the pick first), with its health. */
  endpoints: readonly ResolvedEndpoint[];
  /** The route's revision (its last change). */
  revision: number;
  /** The store revision the answer reflects: every write <= asOf is in it. */
  asOf: number;
  source: 'memory' | 'resolver' | 'stale';
  /** How old the answer's knowledge is, in ms. */
  ageMs: number;
}

/** What a session asks of its client (implemented by TrafficManagerClient). */
export interface SessionHost {
  resolveIn(session: Session, route: RouteRef, options?: ResolveOptions): Promise<Resolution | null>;
  putIn(session: Session, route: RouteRef, body: RouteBody, options?: WriteOptions & WaitOptions & CallOptions): Promise<WrittenRoute>;
  deleteIn(session: Session, route: RouteRef, options?: WriteOptions & WaitOptions & CallOptions): Promise<boolean>;
  applyIn(session: Session, changes: readonly Change[], options?: ApplyOptions & CallOptions): Promise<ChangeSetResult>;
}

/**
 * A causal session: the highest revision it has written or read. Its reads ask for at least that
 * revision, so they never go backwards and always see its own writes. Since the revision is
 * store-wide, the whole session is one number, carried by `token`.
 */
export class Session {
  private current: number;

  /** @internal Made by `client.session()`. */
  constructor(
    private readonly host: SessionHost,
    revision = 0,
  ) {
    this.current = revision;
  }

  /** The highest revision this session has written or read. */
  get revision(): number {
    return this.current;
  }

  /** An opaque string that `client.session(token)` resumes, here or in another process. */
  get token(): string {
    return encodeToken(this.current);
  }

  /** Raises the session's revision (never lowers it): for a revision learnt some other way. */
  observe(revision: number): void {
    if (revision > this.current && Number.isSafeInteger(revision)) this.current = revision;
  }

  resolve(route: RouteRef, options?: ResolveOptions): Promise<Resolution | null> {
    return this.host.resolveIn(this, route, options);
  }

  /** `PUT` the route (a URL, or a traffic policy) through the command API; the session's revision rises to the write's. */
  put(route: RouteRef, body: RouteBody, options?: WriteOptions & WaitOptions & CallOptions): Promise<WrittenRoute> {
    return this.host.putIn(this, route, body, options);
  }

  /** `DELETE` the route: true, or false when there was none; the session's revision rises to the deletion's. */
  delete(route: RouteRef, options?: WriteOptions & WaitOptions & CallOptions): Promise<boolean> {
    return this.host.deleteIn(this, route, options);
  }

  /** Applies a change set (see `client.apply`); the session's revision rises to the set's, so its next reads see every change of it. */
  apply(changes: readonly Change[], options?: ApplyOptions & CallOptions): Promise<ChangeSetResult> {
    return this.host.applyIn(this, changes, options);
  }

  toString(): string {
    return this.token;
  }
}

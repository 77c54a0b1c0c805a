import type { EndpointConfig } from './policy';

export const HEALTH_VALUES = ['healthy', 'unhealthy', 'unknown'] as const;
export type Health = (typeof HEALTH_VALUES)[number];

/** An endpoint with its health: what a selection chooses from, and what answers list. */
export interface EndpointView extends EndpointConfig {
  health: Health;
}

export interface Selection<E extends EndpointView = EndpointView> {
  /** The endpoint picked; undefined when no endpoint is enabled or draining (404 `no_enabled_endpoint`). */
  pick: E | undefined;
  /** Every candidate was unhealthy, so one was picked anyway (tier 4). */
  failOpen: boolean;
  /** Every endpoint, in selection order: the pick first, then as the tiers would try them. */
  order: E[];
}

/**
 * Where a weighted pick comes from: `random` (a number in [0, 1), as Math.random gives) or an
 * affinity string, which makes the pick stable for that string (weighted rendezvous hashing: the
 * same string keeps its endpoint while that endpoint stays a candidate, and only the strings that
 * must move do when candidates come and go).
 */
export type PickSource = { random: number } | { affinity: string };

/**
 * The tier of an endpoint, first tier first (docs/guarantees.md, "Traffic policies and health"):
 * 0 enabled, healthy or unknown, weight > 0; 1 the same with weight 0 (a standby); 2 draining,
 * healthy or unknown; 3 enabled but unhealthy; 4 draining and unhealthy; 5 disabled.
 */
function tier(e: EndpointView): number {
  const up = e.health !== 'unhealthy';
  if (e.state === 'enabled') return up ? (e.weight > 0 ? 0 : 1) : 3;
  if (e.state === 'draining') return up ? 2 : 4;
  return 5;
}

/** FNV-1a (32 bits) of a string: a fast, stable hash for affinity (not for anything secret). */
function fnv1a(value: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < value.length; i++) {
    h ^= value.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  // A final avalanche (from murmur3's fmix32), so that near strings spread.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b) >>> 0;
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35) >>> 0;
  h ^= h >>> 16;
  return h >>> 0;
}

/** A uniform number in (0, 1) for (affinity, endpoint id). */
function unitHash(affinity: string, id: string): number {
  return (fnv1a(`${affinity}\u0000${id}`) + 0.5) / 4294967296;
}

/**
 * Picks among `group` (one priority, one tier), weighted by `weight` (uniform when `uniform`, as
 * for standbys, or when every weight is 0).
 */
function pickIn<E extends EndpointView>(group: E[], source: PickSource, uniform: boolean): E {
  const weightOf = (e: E): number => (uniform ? 1 : e.weight);
  const total = group.reduce((sum, e) => sum + weightOf(e), 0);
  const even = total === 0;
  if ('affinity' in source) {
    // Weighted rendezvous hashing: the smallest -ln(u) / w wins.
    let best = group[0] as E;
    let bestScore = Infinity;
    for (const e of group) {
      const w = even ? 1 : weightOf(e);
      if (w <= 0) continue;
      const score = -Math.log(unitHash(source.affinity, e.id)) / w;
      if (score < bestScore) {
        bestScore = score;
        best = e;
      }
    }
    return best;
  }
  let point = source.random * (even ? group.length : total);
  for (const e of group) {
    point -= even ? 1 : weightOf(e);
    if (point < 0) return e;
  }
  return group[group.length - 1] as E;
}

/**
 * What a selection decides before its pick, which only health and configuration change: the
 * endpoints in tier order, the candidates of the first tier that has one, and whether that is fail
 * open. Made once and picked from many times (the SDK keeps it until a health change).
 */
export interface RankedEndpoints<E extends EndpointView = EndpointView> {
  /** Every endpoint in selection order (tier, priority, weight descending, position). */
  ranked: readonly E[];
  /** The endpoints one of which is picked; empty: no endpoint is enabled or draining. */
  candidates: readonly E[];
  failOpen: boolean;
  /** Standbys (weight 0): picked uniformly. */
  uniform: boolean;
}

/**
 * The ranking of docs/guarantees.md, "Traffic policies and health", the first tier that has a
 * candidate: (1) enabled, healthy or unknown, weight > 0: the lowest priority, weighted; (2) the
 * same with weight 0: lowest priority, uniform; (3) draining, healthy or unknown (lowest priority,
 * weighted); (4) fail open: every enabled endpoint (draining if none is enabled), lowest priority,
 * weighted, with `failOpen`.
 */
export function rankEndpoints<E extends EndpointView>(endpoints: readonly E[]): RankedEndpoints<E> {
  const tiers = endpoints.map(tier);
  const order = endpoints.map((_, i) => i);
  order.sort((a, b) => {
    const x = endpoints[a] as E;
    const y = endpoints[b] as E;
    return (tiers[a] as number) - (tiers[b] as number) || x.priority - y.priority || y.weight - x.weight || a - b;
  });
  const ranked = order.map((i) => endpoints[i] as E);
  const firstIndex = order[0];
  const firstTier = firstIndex === undefined ? 5 : (tiers[firstIndex] as number);
  if (firstTier === 5) return { ranked, candidates: [], failOpen: false, uniform: false };
  // Tiers 3 and 4 (fail open): every enabled endpoint (all unhealthy here), or every draining one
  // when none is enabled; the lowest priority among them comes first in the ranking either way.
  const lowest = (ranked[0] as E).priority;
  const candidates = order.filter((i) => tiers[i] === firstTier && (endpoints[i] as E).priority === lowest).map((i) => endpoints[i] as E);
  return { ranked, candidates, failOpen: firstTier >= 3, uniform: firstTier === 1 };
}

/** The endpoint a ranking gives for `source`; undefined when it has no candidate. */
export function pickFrom<E extends EndpointView>(ranking: RankedEndpoints<E>, source: PickSource): E | undefined {
  if (ranking.candidates.length === 0) return undefined;
  return ranking.candidates.length === 1 ? (ranking.candidates[0] as E) : pickIn(ranking.candidates as E[], source, ranking.uniform);
}

/** The selection a pick from a ranking makes: the pick, and every endpoint in selection order (the pick first). */
export function selectionOf<E extends EndpointView>(ranking: RankedEndpoints<E>, pick: E | undefined): Selection<E> {
  if (pick === undefined) return { pick: undefined, failOpen: false, order: [...ranking.ranked] };
  const order: E[] = [pick];
  for (const e of ranking.ranked) if (e !== pick) order.push(e);
  return { pick, failOpen: ranking.failOpen, order };
}

/** A pick from a ranking: the endpoint and every endpoint in selection order (the pick first). */
export function pickRanked<E extends EndpointView>(ranking: RankedEndpoints<E>, source: PickSource): Selection<E> {
  return selectionOf(ranking, pickFrom(ranking, source));
}

/**
 * The selection (rankEndpoints, then a pick; see there). One implementation: the resolver and the
 * SDK both call it.
 */
export function selectEndpoint<E extends EndpointView>(endpoints: readonly E[], source: PickSource): Selection<E> {
  return pickRanked(rankEndpoints(endpoints), source);
}

/**
 * The endpoints a selection may pick from, in the order it would try them, grouped by rank
 * (docs/guarantees.md, "DNS"; RFC 2782's priority): the priority groups of tier 1 (enabled, healthy
 * or unknown, weight > 0), then those of tier 2 (the same with weight 0), then those of tier 3
 * (draining, healthy or unknown), lowest priority first. When none is selectable, fail open: every
 * enabled endpoint (every draining one if none is enabled) as one group. Empty: no endpoint is
 * enabled or draining.
 */
export function selectableGroups<E extends EndpointView>(endpoints: readonly E[]): E[][] {
  const ranking = rankEndpoints(endpoints);
  if (ranking.failOpen) {
    const enabled = ranking.ranked.filter((e) => e.state === 'enabled');
    return [enabled.length > 0 ? enabled : ranking.ranked.filter((e) => e.state === 'draining')];
  }
  const groups: E[][] = [];
  let last: { tier: number; priority: number } | undefined;
  for (const e of ranking.ranked) {
    const t = tier(e);
    if (t > 2) break;
    if (!last || last.tier !== t || last.priority !== e.priority) groups.push([]);
    (groups[groups.length - 1] as E[]).push(e);
    last = { tier: t, priority: e.priority };
  }
  return groups;
}

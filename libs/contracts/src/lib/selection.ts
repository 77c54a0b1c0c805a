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
 * The selection of docs/guarantees.md, "Traffic policies and health", the first tier that has a
 * candidate: (1) enabled, healthy or unknown, weight > 0: the lowest priority, weighted; (2) the
 * same with weight 0: lowest priority, uniform; (3) draining, healthy or unknown (lowest priority,
 * weighted); (4) fail open: every enabled endpoint (draining if none is enabled), lowest priority,
 * weighted, with `failOpen`. One implementation: the resolver and the SDK both call it.
 */
export function selectEndpoint<E extends EndpointView>(endpoints: readonly E[], source: PickSource): Selection<E> {
  const ranked = endpoints
    .map((e, index) => ({ e, index, tier: tier(e) }))
    .sort((a, b) => a.tier - b.tier || a.e.priority - b.e.priority || b.e.weight - a.e.weight || a.index - b.index);
  const first = ranked[0];
  if (!first || first.tier === 5) return { pick: undefined, failOpen: false, order: ranked.map((r) => r.e) };
  let candidates = ranked.filter((r) => r.tier === first.tier && r.e.priority === first.e.priority);
  const failOpen = first.tier >= 3;
  if (failOpen) {
    // Tier 4: every enabled endpoint (all unhealthy here), or every draining one when none is enabled.
    const pool = ranked.filter((r) => r.tier === first.tier);
    const lowest = Math.min(...pool.map((r) => r.e.priority));
    candidates = pool.filter((r) => r.e.priority === lowest);
  }
  const pick = pickIn(
    candidates.map((r) => r.e),
    source,
    first.tier === 1,
  );
  return { pick, failOpen, order: [pick, ...ranked.map((r) => r.e).filter((e) => e !== pick)] };
}

/**
 * The relay's positions (relay_positions, docs/guarantees.md "Propagation"): for a revision R, an
 * offset per partition of the route events topic at or above the highest offset any event up to R
 * was written at. Stored as JSON `{"<partition>": "<offset>"}` (strings: offsets are 64-bit).
 */
export type PartitionOffsets = ReadonlyMap<number, bigint>;

export function offsetsJson(offsets: PartitionOffsets): string {
  return JSON.stringify(Object.fromEntries([...offsets].sort(([a], [b]) => a - b).map(([p, o]) => [String(p), o.toString()])));
}

/** relay_positions.offsets as offsets; undefined for anything else. */
export function parseOffsets(json: unknown): PartitionOffsets | undefined {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return undefined;
  const out = new Map<number, bigint>();
  for (const [partition, offset] of Object.entries(json as Record<string, unknown>)) {
    if (!/^\d+$/.test(partition) || typeof offset !== 'string' || !/^\d+$/.test(offset)) return undefined;
    out.set(Number(partition), BigInt(offset));
  }
  return out;
}

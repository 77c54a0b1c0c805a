/** The checker's clock for every op and frame: wall time at monotonic resolution (ms since the epoch). */
export const now = (): number => performance.timeOrigin + performance.now();

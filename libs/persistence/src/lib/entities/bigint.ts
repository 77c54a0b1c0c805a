import type { ValueTransformer } from 'typeorm';

/** bigint columns (revisions) as JS numbers: exact up to 2^53, far beyond any store's revision. */
export const bigintNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | null) => (value === null ? null : Number(value)),
};

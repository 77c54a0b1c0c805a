/** API key scopes (docs/guarantees.md, "HTTP conventions"). */
export const SCOPES = ['routes:read', 'routes:write', 'audit:read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

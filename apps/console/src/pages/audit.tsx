export type AuditSearch = Record<string, never>;

export function auditSearch(_search: Record<string, unknown>): AuditSearch {
  return {};
}

/** The audit log (admin or audit:read), with filters. */
export function AuditPage() {
  return (
    <section>
      <h1>Audit</h1>
    </section>
  );
}

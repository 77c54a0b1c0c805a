import { getRouteApi } from '@tanstack/react-router';

const api = getRouteApi('/routes/$tenant/$service/$environment/history');

export interface HistorySearch {
  from?: number;
  to?: number;
}

function revisionOf(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

export function historySearch(search: Record<string, unknown>): HistorySearch {
  const from = revisionOf(search['from']);
  const to = revisionOf(search['to']);
  return { ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
}

/** A route's versions, a diff between any two, rollback. */
export function HistoryPage() {
  const { tenant, service, environment } = api.useParams();
  return (
    <section>
      <h1>
        History of {tenant}/{service}/{environment}
      </h1>
    </section>
  );
}

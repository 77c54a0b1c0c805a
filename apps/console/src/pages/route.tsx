import { getRouteApi } from '@tanstack/react-router';

const api = getRouteApi('/routes/$tenant/$service/$environment');

/** A route: its endpoints with live health, its policy, save and delete. */
export function RoutePage() {
  const { tenant, service, environment } = api.useParams();
  return (
    <section>
      <h1>
        {tenant}/{service}/{environment}
      </h1>
    </section>
  );
}

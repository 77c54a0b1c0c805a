import { getRouteApi } from '@tanstack/react-router';

const api = getRouteApi('/changes/$revision');

/** Open a change set by its revision. */
export function ChangeSetsPage() {
  return (
    <section>
      <h1>Change sets</h1>
    </section>
  );
}

/** A change set: its routes and results; revert. */
export function ChangeSetPage() {
  const { revision } = api.useParams();
  return (
    <section>
      <h1>Change set at revision {revision}</h1>
    </section>
  );
}

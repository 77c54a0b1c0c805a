import { PropagationStatus } from '../pages/propagation';

/** A write's propagation (PropagationStatus, live until in sync) as a named region of the page. */
export function Propagation({ revision }: { revision: number }) {
  return (
    <section aria-label={`Propagation of revision ${revision}`} className="propagation">
      <PropagationStatus revision={revision} />
    </section>
  );
}

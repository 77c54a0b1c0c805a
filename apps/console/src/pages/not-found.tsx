import { Link } from '@tanstack/react-router';

export function NotFoundPage() {
  return (
    <section>
      <h1>No such page</h1>
      <p>
        <Link to="/routes">Back to the routes</Link>
      </p>
    </section>
  );
}

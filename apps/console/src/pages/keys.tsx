/** API keys (admin): create (the secret shown once), list, revoke. */
export function KeysPage() {
  return (
    <section>
      <h1>API keys</h1>
    </section>
  );
}

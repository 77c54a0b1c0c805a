import { useEffect, useId, useMemo, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { data, TrafficManagerError } from '../api/api';
import type { components } from '../api/command-api.gen';
import { ErrorNotice } from '../errors';
import { isAdmin, useSession, type Scope } from '../session';
import './keys.css';

type ApiKey = components['schemas']['ApiKeyResponse'];
type CreatedKey = components['schemas']['CreatedApiKeyResponse'];

const SCOPES: { scope: Scope; meaning: string }[] = [
  { scope: 'routes:read', meaning: 'read routes, watch, resolve' },
  { scope: 'routes:write', meaning: 'change routes' },
  { scope: 'audit:read', meaning: 'read the audit log' },
  { scope: 'admin', meaning: 'everything, including keys' },
];

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const when = (iso: string) => dateTime.format(Date.parse(iso));

type Field = 'name' | 'tenant' | 'scopes';
type FieldErrors = Partial<Record<Field, string>>;

/** A refusal of the create form, by field: the 400's fields, and a tenant that is gone (404). */
function fieldErrorsOf(error: unknown, tenant: string): FieldErrors {
  if (!(error instanceof TrafficManagerError)) return {};
  if (error.code === 'bad_request' && error.errors) {
    const out: FieldErrors = {};
    for (const e of error.errors) {
      const field = e.field.replace(/\[\d+\]$/, '');
      if (field === 'name' || field === 'tenant' || field === 'scopes') out[field] = out[field] ? `${out[field]}; ${e.message}` : e.message;
    }
    return out;
  }
  if (error.status === 404 && tenant) return { tenant: `tenant ${tenant} does not exist (any more): choose another` };
  return {};
}

/**
 * The secret of the key just made, shown this once: in this component's state only (never the
 * query cache, storage or a URL), gone when dismissed or when the page is left.
 */
function SecretPanel({ created, onDismiss }: { created: CreatedKey; onDismiss: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null);
  const secret = useRef<HTMLInputElement>(null);
  const [copy, setCopy] = useState<'idle' | 'copied' | 'failed'>('idle');
  const id = useId();
  useEffect(() => heading.current?.focus(), []);
  const copyIt = () => {
    const select = () => {
      secret.current?.focus();
      secret.current?.select();
    };
    if (!navigator.clipboard) {
      select();
      setCopy('failed');
      return;
    }
    navigator.clipboard.writeText(created.key).then(
      () => setCopy('copied'),
      () => {
        select();
        setCopy('failed');
      },
    );
  };
  return (
    <section className="notice notice-success secret-panel" aria-labelledby={`${id}-title`} data-testid="key-secret-panel">
      <h2 id={`${id}-title`} ref={heading} tabIndex={-1}>
        Key {created.name} created
      </h2>
      <p className="secret-warning">
        <strong>Copy the secret now: it is shown this once and cannot be shown again.</strong> The server keeps only its hash. Hiding this
        panel or leaving the page forgets it.
      </p>
      <label htmlFor={`${id}-secret`}>Secret of {created.name}</label>
      <div className="secret-row">
        <input
          id={`${id}-secret`}
          ref={secret}
          className="mono secret-value"
          readOnly
          value={created.key}
          autoComplete="off"
          spellCheck={false}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" className="primary" onClick={copyIt}>
          Copy
        </button>
      </div>
      <p role="status" className="copy-status">
        {copy === 'copied' && 'Copied to the clipboard.'}
        {copy === 'failed' && 'The browser did not let the console copy it: the secret is selected, copy it by hand (Ctrl+C or ⌘C).'}
      </p>
      <p>
        It acts on {created.tenant ? `tenant ${created.tenant}` : 'every tenant'} with {created.scopes.join(', ')}.
      </p>
      <button type="button" onClick={onDismiss}>
        I have copied it: hide the secret
      </button>
    </section>
  );
}

/** The create form: name, tenant (or every tenant), scopes; the server's refusals next to the fields. */
function CreateKeyForm({ onCreated }: { onCreated: (created: CreatedKey) => void }) {
  const { apis } = useSession();
  const queryClient = useQueryClient();
  const id = useId();
  const [name, setName] = useState('');
  const [tenant, setTenant] = useState('');
  const [scopes, setScopes] = useState<Scope[]>(['routes:read']);
  const tenants = useQuery({ queryKey: ['tenants'], queryFn: () => data(apis.command.GET('/v1/tenants')) });
  const create = useMutation({
    // The answer holds the secret: the mutation is forgotten at once (gcTime 0, reset below).
    gcTime: 0,
    mutationFn: (body: components['schemas']['CreateApiKeyDto']) => data(apis.command.POST('/v1/api-keys', { body })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['api-keys'] }),
  });
  const errors = fieldErrorsOf(create.error, create.variables?.tenant ?? '');
  const fieldless = create.error !== null && Object.keys(errors).length === 0;

  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(
      { name: name.trim(), scopes, ...(tenant ? { tenant } : {}) },
      {
        onSuccess: (created) => {
          onCreated(created);
          create.reset();
          setName('');
        },
        onError: (error) => {
          // The tenant went away since the list was read: read it again, and ask for another.
          if (error instanceof TrafficManagerError && error.status === 404 && tenant) {
            setTenant('');
            void queryClient.invalidateQueries({ queryKey: ['tenants'] });
          }
        },
      },
    );
  };
  const toggle = (scope: Scope, on: boolean) => setScopes((s) => (on ? [...s, scope] : s.filter((x) => x !== scope)));
  const invalid = (field: Field) => (errors[field] ? { 'aria-invalid': true as const, 'aria-describedby': `${id}-${field}-error` } : {});
  const message = (field: Field) =>
    errors[field] ? (
      <span id={`${id}-${field}-error`} className="field-error">
        {errors[field]}
      </span>
    ) : null;

  return (
    <form className="key-form" onSubmit={submit} aria-labelledby={`${id}-title`} noValidate>
      <h2 id={`${id}-title`}>Create a key</h2>
      <div className="form-grid">
        <div className="field">
          <label htmlFor={`${id}-name`}>Name</label>
          <input
            id={`${id}-name`}
            value={name}
            onChange={(e) => setName(e.target.value)}
            maxLength={200}
            placeholder="billing-deployer"
            autoComplete="off"
            {...invalid('name')}
          />
          {message('name')}
        </div>
        <div className="field">
          <label htmlFor={`${id}-tenant`}>Tenant</label>
          <select id={`${id}-tenant`} value={tenant} onChange={(e) => setTenant(e.target.value)} disabled={tenants.isPending} {...invalid('tenant')}>
            <option value="">every tenant</option>
            {tenants.data?.items.map((t) => (
              <option key={t.slug} value={t.slug}>
                {t.slug}
                {t.displayName ? ` (${t.displayName})` : ''}
              </option>
            ))}
          </select>
          {message('tenant')}
        </div>
      </div>
      {tenants.error && <ErrorNotice error={tenants.error} onRetry={() => void tenants.refetch()} />}
      <fieldset className="scopes" {...(errors.scopes ? { 'aria-describedby': `${id}-scopes-error` } : {})}>
        <legend>Scopes</legend>
        {SCOPES.map(({ scope, meaning }) => (
          <label key={scope} className="scope-choice">
            <input type="checkbox" checked={scopes.includes(scope)} onChange={(e) => toggle(scope, e.target.checked)} {...(errors.scopes ? { 'aria-invalid': true } : {})} />
            <code>{scope}</code> <span className="muted">({meaning})</span>
          </label>
        ))}
        {message('scopes')}
      </fieldset>
      {tenant && scopes.includes('admin') && <p className="notice notice-warning">An admin key spans every tenant: it cannot be bound to {tenant}.</p>}
      <button type="submit" className="primary" disabled={create.isPending}>
        {create.isPending ? 'Creating…' : 'Create key'}
      </button>
      {Object.keys(errors).length > 0 && (
        <p role="alert" className="field-error">
          The key was not created: see the messages next to the fields.
        </p>
      )}
      {fieldless && <ErrorNotice error={create.error} />}
    </form>
  );
}

/** Asks before revoking, naming the key (a native modal dialog: focus moves in and comes back). */
function RevokeDialog({ target, ownKeyId, onClose, onRevoked }: { target: ApiKey; ownKeyId: string | undefined; onClose: () => void; onRevoked: (key: ApiKey) => void }) {
  const { apis } = useSession();
  const queryClient = useQueryClient();
  const dialog = useRef<HTMLDialogElement>(null);
  const id = useId();
  const revoke = useMutation({
    mutationFn: (key: ApiKey) => data(apis.command.DELETE('/v1/api-keys/{id}', { params: { path: { id: key.id } } })),
    onSettled: () => queryClient.invalidateQueries({ queryKey: ['api-keys'] }),
  });
  useEffect(() => {
    const d = dialog.current;
    if (d && !d.open) d.showModal();
    return () => d?.close();
  }, []);
  const own = target.id === ownKeyId;
  return (
    <dialog ref={dialog} aria-labelledby={`${id}-title`} aria-describedby={`${id}-text`} onClose={onClose} className="revoke-dialog">
      <h2 id={`${id}-title`}>Revoke key {target.name}?</h2>
      <p id={`${id}-text`}>
        Anything that uses <strong>{target.name}</strong> ({target.tenant ? `tenant ${target.tenant}` : 'every tenant'}; {target.scopes.join(', ')}) will be refused
        from now on: at once by the command API, within a few seconds by the resolver and its watch streams. This cannot be undone.
      </p>
      {own && <p className="notice notice-warning">This is the key you are signed in with: the console will sign you out.</p>}
      {revoke.error !== null && <ErrorNotice error={revoke.error} />}
      <div className="toolbar">
        <button type="button" autoFocus onClick={() => dialog.current?.close()}>
          Cancel
        </button>
        <button
          type="button"
          className="danger"
          disabled={revoke.isPending}
          onClick={() =>
            revoke.mutate(target, {
              onSuccess: () => {
                // Closed first: nothing outside a modal dialog can take the focus.
                dialog.current?.close();
                onRevoked(target);
              },
            })
          }
        >
          {revoke.isPending ? 'Revoking…' : `Revoke ${target.name}`}
        </button>
      </div>
    </dialog>
  );
}

function KeyTable({ keys, ownKeyId, onRevoke }: { keys: ApiKey[]; ownKeyId: string | undefined; onRevoke: (key: ApiKey) => void }) {
  return (
    <div className="keys-table-wrap">
      <table className="keys-table">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Tenant</th>
            <th scope="col">Scopes</th>
            <th scope="col">Created</th>
            <th scope="col">State</th>
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => (
            <tr key={k.id} className={k.revokedAt ? 'key-revoked' : undefined} data-key-id={k.id}>
              <th scope="row">
                {k.name}
                {k.id === ownKeyId && <span className="badge badge-new key-own">you</span>}
                <br />
                <code className="key-id">{k.id}</code>
              </th>
              <td>{k.tenant ?? <em>every tenant</em>}</td>
              <td>
                {k.scopes.map((s) => (
                  <code key={s} className="scope">
                    {s}
                  </code>
                ))}
              </td>
              <td>
                <time dateTime={k.createdAt}>{when(k.createdAt)}</time>
              </td>
              <td>
                {k.revokedAt ? (
                  <span className="badge badge-muted">
                    revoked <time dateTime={k.revokedAt}>{when(k.revokedAt)}</time>
                  </span>
                ) : (
                  <span className="badge badge-good">active</span>
                )}
              </td>
              <td>
                {!k.revokedAt && (
                  <button type="button" className="danger" onClick={() => onRevoke(k)} aria-label={`Revoke ${k.name}`}>
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** API keys (admin): create (the secret shown once), list, revoke. */
export function KeysPage() {
  const { whoami } = useSession();
  if (!isAdmin(whoami)) {
    return (
      <section>
        <h1>API keys</h1>
        <div role="alert" className="notice notice-error" data-testid="keys-forbidden">
          <strong>Managing API keys needs the admin scope.</strong>
          <p>
            This key has {whoami.scopes.join(', ')}
            {whoami.tenant ? ` on tenant ${whoami.tenant}` : ''}. Sign in with an admin key (or the admin token) to list, create or revoke keys.
          </p>
        </div>
      </section>
    );
  }
  return <KeysAdmin />;
}

function KeysAdmin() {
  const { apis, whoami } = useSession();
  const keys = useQuery({ queryKey: ['api-keys'], queryFn: () => data(apis.command.GET('/v1/api-keys')) });
  const [created, setCreated] = useState<CreatedKey | null>(null);
  const [revoking, setRevoking] = useState<ApiKey | null>(null);
  const [revoked, setRevoked] = useState<string | null>(null);
  const [showRevoked, setShowRevoked] = useState(true);
  const listHeading = useRef<HTMLHeadingElement>(null);
  const ownKeyId = whoami.keyId ?? undefined;

  // Active keys first (newest first), then the revoked ones (greyed), most recently revoked first.
  const sorted = useMemo(() => {
    const items = keys.data?.items ?? [];
    const active = items.filter((k) => !k.revokedAt).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    const gone = items.filter((k) => k.revokedAt).sort((a, b) => (b.revokedAt ?? '').localeCompare(a.revokedAt ?? ''));
    return { active, gone };
  }, [keys.data]);
  const shown = showRevoked ? [...sorted.active, ...sorted.gone] : sorted.active;

  return (
    <section className="keys-page">
      <h1>API keys</h1>
      {created ? (
        <SecretPanel created={created} onDismiss={() => setCreated(null)} />
      ) : (
        <CreateKeyForm
          onCreated={(k) => {
            setRevoked(null);
            setCreated(k);
          }}
        />
      )}
      <h2 ref={listHeading} tabIndex={-1}>
        Keys
      </h2>
      {revoked && (
        <p role="status" className="notice notice-success">
          Key {revoked} revoked.
        </p>
      )}
      <div className="toolbar">
        <label>
          <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked(e.target.checked)} /> Show revoked keys ({sorted.gone.length})
        </label>
        <span className="muted" data-testid="key-count">
          {sorted.active.length} active
        </span>
      </div>
      {keys.error && <ErrorNotice error={keys.error} onRetry={() => void keys.refetch()} />}
      {keys.isPending && <p role="status">Loading keys…</p>}
      {keys.data && (shown.length === 0 ? <p>No keys yet.</p> : <KeyTable keys={shown} ownKeyId={ownKeyId} onRevoke={setRevoking} />)}
      {revoking && (
        <RevokeDialog
          target={revoking}
          ownKeyId={ownKeyId}
          onClose={() => setRevoking(null)}
          onRevoked={(k) => {
            setRevoked(k.name);
            setRevoking(null);
            listHeading.current?.focus();
          }}
        />
      )}
    </section>
  );
}

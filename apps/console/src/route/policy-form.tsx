import { useId, useState, type FormEvent, type ReactNode } from 'react';
import { ENDPOINT_STATES, POLICY_LIMITS, type EndpointState } from '@tm/contracts';
import { TrafficManagerError } from '../api/api';
import type { PutBody, Route } from './route-api';

/** One endpoint as the form holds it: numbers as typed (the API says what is wrong with them). */
export interface EndpointRow {
  key: number;
  id: string;
  url: string;
  priority: string;
  weight: string;
  state: EndpointState;
}

export type CheckType = 'none' | 'http' | 'tcp';

export interface CheckForm {
  type: CheckType;
  path: string;
  intervalSeconds: string;
  timeoutSeconds: string;
  healthyThreshold: string;
  unhealthyThreshold: string;
  expectedStatus: string;
}

export interface PolicyFormState {
  endpoints: EndpointRow[];
  check: CheckForm;
}

let nextRowKey = 1;
function rowKey(): number {
  return nextRowKey++;
}

const L = POLICY_LIMITS;

function emptyRow(id = ''): EndpointRow {
  return { key: rowKey(), id, url: '', priority: String(L.priority.default), weight: String(L.weight.default), state: L.state.default };
}

/** The form of a route as loaded (null: a route to create). */
export function formOf(route: Pick<Route, 'endpoints' | 'healthCheck'> | null): PolicyFormState {
  const hc = route?.healthCheck ?? null;
  return {
    endpoints: route
      ? route.endpoints.map((e) => ({ key: rowKey(), id: e.id, url: e.url, priority: String(e.priority), weight: String(e.weight), state: e.state }))
      : [emptyRow('default')],
    check: {
      type: hc ? hc.type : 'none',
      path: hc?.path ?? L.path.default,
      intervalSeconds: String(hc?.intervalSeconds ?? L.intervalSeconds.default),
      timeoutSeconds: String(hc?.timeoutSeconds ?? L.timeoutSeconds.default),
      healthyThreshold: String(hc?.healthyThreshold ?? L.healthyThreshold.default),
      unhealthyThreshold: String(hc?.unhealthyThreshold ?? L.unhealthyThreshold.default),
      expectedStatus: hc?.expectedStatus ?? L.expectedStatus.default,
    },
  };
}

/**
 * A number field as the API receives it: empty is absent (the default), a number is a number, and
 * anything else goes as typed so that the API's 400 names the field (the form does not hide it).
 */
function numberOf(value: string): number | string | undefined {
  const v = value.trim();
  if (v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : v;
}

/** The PUT body of the form: `{endpoints, healthCheck}`. */
export function bodyOf(form: PolicyFormState): PutBody {
  const endpoints = form.endpoints.map((e) => {
    const out: Record<string, unknown> = { id: e.id.trim(), url: e.url.trim(), state: e.state };
    const priority = numberOf(e.priority);
    const weight = numberOf(e.weight);
    if (priority !== undefined) out['priority'] = priority;
    if (weight !== undefined) out['weight'] = weight;
    return out;
  });
  const c = form.check;
  let healthCheck: Record<string, unknown> | null = null;
  if (c.type !== 'none') {
    healthCheck = { type: c.type };
    if (c.type === 'http') {
      if (c.path.trim() !== '') healthCheck['path'] = c.path.trim();
      if (c.expectedStatus.trim() !== '') healthCheck['expectedStatus'] = c.expectedStatus.trim();
    }
    for (const field of ['intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold'] as const) {
      const n = numberOf(c[field]);
      if (n !== undefined) healthCheck[field] = n;
    }
  }
  // Values the API refuses are sent as typed on purpose (see numberOf): the generated type cannot say so.
  return { endpoints, healthCheck } as unknown as PutBody;
}

/** `endpoints[1].url` and `endpoints.1.url` (class-validator's spelling) alike: `endpoints.1.url`. */
export function normaliseField(field: string): string {
  return field.replace(/\[(\d+)\]/g, '.$1');
}

export interface FieldErrors {
  /** By normalised field name: the messages of the fields the form has an input for. */
  byField: Map<string, string[]>;
  /** The others (`endpoints`: the list as a whole, unknown fields), shown above the form. */
  other: { field: string; message: string }[];
}

export function fieldErrorsOf(error: unknown, known: (field: string) => boolean): FieldErrors {
  const out: FieldErrors = { byField: new Map(), other: [] };
  if (!(error instanceof TrafficManagerError) || error.code !== 'bad_request') return out;
  for (const e of error.errors ?? []) {
    const field = normaliseField(e.field);
    if (known(field)) out.byField.set(field, [...(out.byField.get(field) ?? []), e.message]);
    else out.other.push(e);
  }
  return out;
}

const ENDPOINT_FIELDS = ['id', 'url', 'priority', 'weight', 'state'] as const;
const CHECK_FIELDS = ['type', 'path', 'intervalSeconds', 'timeoutSeconds', 'healthyThreshold', 'unhealthyThreshold', 'expectedStatus'] as const;

function knownField(form: PolicyFormState): (field: string) => boolean {
  return (field) => {
    const endpoint = /^endpoints\.(\d+)\.(\w+)$/.exec(field);
    if (endpoint) return Number(endpoint[1]) < form.endpoints.length && (ENDPOINT_FIELDS as readonly string[]).includes(endpoint[2] as string);
    const check = /^healthCheck\.(\w+)$/.exec(field);
    return check !== null && form.check.type !== 'none' && (CHECK_FIELDS as readonly string[]).includes(check[1] as string);
  };
}

/** A labelled input with its API error next to it (aria-invalid, aria-describedby). */
function Field({
  id,
  label,
  errors,
  hint,
  children,
}: {
  id: string;
  label: string;
  errors: string[] | undefined;
  hint?: string;
  children: (props: { id: string; 'aria-invalid': boolean; 'aria-describedby': string | undefined }) => ReactNode;
}) {
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [errors ? errorId : null, hint ? hintId : null].filter(Boolean).join(' ') || undefined;
  return (
    <div className="pf-field">
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': errors !== undefined, 'aria-describedby': describedBy })}
      {hint && (
        <span id={hintId} className="pf-hint">
          {hint}
        </span>
      )}
      {errors && (
        <span id={errorId} className="field-error">
          {errors.join('; ')}
        </span>
      )}
    </div>
  );
}

export interface PolicyEditorProps {
  initial: PolicyFormState;
  submitLabel: string;
  pending: boolean;
  /** The save's error: a 400's field errors are shown at their inputs; other errors by the page. */
  error: unknown;
  onSubmit(body: PutBody): void;
  /** Buttons next to Save (Delete, ...). */
  extra?: ReactNode;
  /** A key without routes:write: the policy is shown, not editable, and there is nothing to save. */
  readOnly?: boolean;
}

/** The policy of a route as a form: endpoints (rows added and removed) and the health check. */
export function PolicyEditor({ initial, submitLabel, pending, error, onSubmit, extra, readOnly = false }: PolicyEditorProps) {
  const base = useId();
  const [form, setForm] = useState(initial);
  const errors = fieldErrorsOf(error, knownField(form));
  const idOf = (field: string) => `${base}-${field.replace(/\./g, '-')}`;
  const setEndpoint = (index: number, patch: Partial<EndpointRow>) =>
    setForm((f) => ({ ...f, endpoints: f.endpoints.map((e, i) => (i === index ? { ...e, ...patch } : e)) }));
  const setCheck = (patch: Partial<CheckForm>) => setForm((f) => ({ ...f, check: { ...f.check, ...patch } }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onSubmit(bodyOf(form));
  };
  const dirty = JSON.stringify(bodyOf(form)) !== JSON.stringify(bodyOf(initial));
  const c = form.check;
  return (
    <form className="policy-form" onSubmit={submit} noValidate aria-label="Policy">
      <fieldset className="plain-fieldset" disabled={readOnly}>
      {errors.other.length > 0 && (
        <div role="alert" className="notice notice-error">
          <strong>The API refused the policy</strong>
          <ul>
            {errors.other.map((e) => (
              <li key={`${e.field}:${e.message}`}>
                <code>{e.field}</code>: {e.message}
              </li>
            ))}
          </ul>
        </div>
      )}
      {errors.byField.size > 0 && (
        <p role="alert" className="field-error">
          The API refused {errors.byField.size === 1 ? 'a field' : `${errors.byField.size} fields`}: see the messages next to them.
        </p>
      )}
      <h3>Endpoints</h3>
      <div className="pf-endpoints">
        {form.endpoints.map((row, i) => (
          <fieldset key={row.key} className="pf-endpoint">
            <legend>Endpoint {i + 1}</legend>
            {(['id', 'url'] as const).map((name) => (
              <Field key={name} id={idOf(`endpoints.${i}.${name}`)} label={name === 'id' ? 'Id' : 'URL'} errors={errors.byField.get(`endpoints.${i}.${name}`)}>
                {(p) => <input {...p} className={name === 'url' ? 'pf-url' : undefined} value={row[name]} onChange={(e) => setEndpoint(i, { [name]: e.target.value })} />}
              </Field>
            ))}
            {(['priority', 'weight'] as const).map((name) => (
              <Field
                key={name}
                id={idOf(`endpoints.${i}.${name}`)}
                label={name === 'priority' ? 'Priority' : 'Weight'}
                errors={errors.byField.get(`endpoints.${i}.${name}`)}
              >
                {(p) => <input {...p} className="pf-number" inputMode="numeric" value={row[name]} onChange={(e) => setEndpoint(i, { [name]: e.target.value })} />}
              </Field>
            ))}
            <Field id={idOf(`endpoints.${i}.state`)} label="State" errors={errors.byField.get(`endpoints.${i}.state`)}>
              {(p) => (
                <select {...p} value={row.state} onChange={(e) => setEndpoint(i, { state: e.target.value as EndpointState })}>
                  {ENDPOINT_STATES.map((s) => (
                    <option key={s} value={s}>
                      {s}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <button
              type="button"
              className="pf-remove"
              disabled={form.endpoints.length <= 1}
              onClick={() => setForm((f) => ({ ...f, endpoints: f.endpoints.filter((_, j) => j !== i) }))}
            >
              Remove endpoint {i + 1}
            </button>
          </fieldset>
        ))}
      </div>
      <button
        type="button"
        disabled={form.endpoints.length >= L.endpoints.max}
        onClick={() => setForm((f) => ({ ...f, endpoints: [...f.endpoints, emptyRow()] }))}
      >
        Add endpoint
      </button>
      <p className="pf-hint">
        Priority {L.priority.min} to {L.priority.max} (lower first); weight {L.weight.min} to {L.weight.max} (0: a standby); at most {L.endpoints.max} endpoints.
      </p>
      <fieldset className="pf-check">
        <legend>Health check</legend>
        <Field id={idOf('healthCheck.type')} label="Probe" errors={errors.byField.get('healthCheck.type')}>
          {(p) => (
            <select {...p} value={c.type} onChange={(e) => setCheck({ type: e.target.value as CheckType })}>
              <option value="none">none (not probed)</option>
              <option value="http">http</option>
              <option value="tcp">tcp</option>
            </select>
          )}
        </Field>
        {c.type === 'http' && (
          <Field id={idOf('healthCheck.path')} label="Path" errors={errors.byField.get('healthCheck.path')}>
            {(p) => <input {...p} value={c.path} onChange={(e) => setCheck({ path: e.target.value })} />}
          </Field>
        )}
        {c.type !== 'none' &&
          (
            [
              ['intervalSeconds', 'Interval (s)'],
              ['timeoutSeconds', 'Timeout (s)'],
              ['healthyThreshold', 'Healthy threshold'],
              ['unhealthyThreshold', 'Unhealthy threshold'],
            ] as const
          ).map(([name, label]) => (
            <Field key={name} id={idOf(`healthCheck.${name}`)} label={label} errors={errors.byField.get(`healthCheck.${name}`)}>
              {(p) => <input {...p} className="pf-number" inputMode="numeric" value={c[name]} onChange={(e) => setCheck({ [name]: e.target.value })} />}
            </Field>
          ))}
        {c.type === 'http' && (
          <Field id={idOf('healthCheck.expectedStatus')} label="Expected status" errors={errors.byField.get('healthCheck.expectedStatus')} hint="such as 200-299,304">
            {(p) => <input {...p} value={c.expectedStatus} onChange={(e) => setCheck({ expectedStatus: e.target.value })} />}
          </Field>
        )}
      </fieldset>
      </fieldset>
      <div className="toolbar">
        {!readOnly && (
          <>
            <button type="submit" className="primary" disabled={pending}>
              {pending ? 'Saving…' : submitLabel}
            </button>
            <button type="button" disabled={!dirty || pending} onClick={() => setForm(initial)}>
              Discard changes
            </button>
            {dirty && <span className="badge badge-warn">unsaved changes</span>}
          </>
        )}
        {extra}
      </div>
    </form>
  );
}

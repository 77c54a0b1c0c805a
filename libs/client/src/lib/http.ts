import { asTrafficManagerError, TrafficManagerError } from './errors';

export interface CallOptions {
  /** This call's deadline in ms (default: the client's `timeoutMs`). */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** A call's deadline and cancellation, as one signal and a way to tell which one fired. */
export class Deadline {
  readonly signal: AbortSignal;
  private readonly timeout: AbortSignal;
  readonly endsAt: number;

  constructor(
    readonly timeoutMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new TrafficManagerError('invalid_argument', `timeoutMs must be a positive number (got ${String(timeoutMs)})`);
    }
    // AbortSignal.timeout's timer does not keep the process alive.
    this.timeout = AbortSignal.timeout(timeoutMs);
    this.signal = caller ? AbortSignal.any([this.timeout, caller]) : this.timeout;
    this.endsAt = performance.now() + timeoutMs;
  }

  leftMs(): number {
    return Math.max(0, this.endsAt - performance.now());
  }

  /** Throws `aborted` or `timeout` when the call is over. */
  check(what: string): void {
    if (this.signal.aborted) throw this.error(what);
  }

  /** The error for a call that ended by its signal. */
  error(what: string): TrafficManagerError {
    if (this.caller?.aborted) return new TrafficManagerError('aborted', `${what}: aborted by the caller`, { cause: this.caller.reason });
    return new TrafficManagerError('timeout', `${what}: no answer within ${this.timeoutMs} ms`);
  }

  /** Resolves after `ms`, or earlier (false) when the call is over. Part of an awaited call, so its timer is not unref()'d. */
  sleep(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (this.signal.aborted) return resolve(false);
      const onAbort = (): void => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        this.signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, ms);
      this.signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export interface HttpAnswer {
  status: number;
  statusText: string;
  headers: Headers;
  body: string;
}

/** One HTTP exchange with the whole body read, within the deadline; failures are TrafficManagerErrors. */
export async function exchange(url: string, init: RequestInit, deadline: Deadline, what: string): Promise<HttpAnswer> {
  deadline.check(what);
  try {
    const res = await fetch(url, { ...init, signal: deadline.signal });
    const body = await res.text();
    return { status: res.status, statusText: res.statusText, headers: res.headers, body };
  } catch (e) {
    if (deadline.signal.aborted) throw deadline.error(what);
    throw asTrafficManagerError(e, what);
  }
}

export function headersOf(apiKey: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  const headers: Record<string, string> = { accept: 'application/json', ...extra };
  if (apiKey !== undefined) headers['authorization'] = `Bearer ${apiKey}`;
  return headers;
}

/** A decimal header value as a number; undefined when absent or not a whole number. */
export function intHeader(headers: Headers, name: string): number | undefined {
  const value = headers.get(name);
  if (value === null || !/^\s*\d{1,16}\s*$/.test(value)) return undefined;
  const n = Number(value);
  return Number.isSafeInteger(n) ? n : undefined;
}

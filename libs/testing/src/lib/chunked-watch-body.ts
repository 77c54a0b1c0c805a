/** A watch answer as @tm/watch reads it (its WatchResponse; structural, so this lib does not import it). */
export interface ChunkedResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: { get(name: string): string | null };
  readonly body: { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>; cancel(reason?: unknown): Promise<void> } } | null;
}

/**
 * A watch answer whose body the test hands over chunk by chunk: `push` gives the client the next
 * chunk, and resolves once the client has taken it and asked for the next one (a barrier: every
 * frame of the chunk has been handled by then, nothing was waited for by time).
 */
export class ChunkedBody {
  private chunks: string[] = [];
  private reader: ((chunk: { done: boolean; value?: Uint8Array }) => void) | undefined;
  private asked: (() => void) | undefined;
  private askedAgain: Promise<void>;
  private readonly encoder = new TextEncoder();

  constructor() {
    this.askedAgain = this.nextAsk();
  }

  /** A `fetch` that answers 200 with this body (every connection gets the same body: connect once). */
  readonly fetch = (_url: string, _init: unknown): Promise<ChunkedResponse> => Promise.resolve(this.response());

  private nextAsk(): Promise<void> {
    return new Promise((resolve) => (this.asked = resolve));
  }

  private response(): ChunkedResponse {
    return {
      status: 200,
      statusText: 'OK',
      headers: { get: (name: string) => (name.toLowerCase() === 'x-watch-bookmark-interval-ms' ? '60000' : null) },
      body: {
        getReader: () => ({
          read: () =>
            new Promise((resolve) => {
              const next = this.chunks.shift();
              if (next !== undefined) resolve({ done: false, value: this.encoder.encode(next) });
              else this.reader = resolve;
              this.asked?.();
            }),
          cancel: () => Promise.resolve(),
        }),
      },
    };
  }

  /** Gives the client `chunk`, and resolves once it has handled it and waits for more. */
  async push(chunk: string): Promise<void> {
    await this.askedAgain;
    this.askedAgain = this.nextAsk();
    const reader = this.reader;
    this.reader = undefined;
    if (reader) reader({ done: false, value: this.encoder.encode(chunk) });
    else this.chunks.push(chunk);
    await this.askedAgain;
  }
}

/** A put or delete frame of route `key` at `revision` (`id` when it is the last frame of its revision). */
export function changeFrame(key: string, url: string | null, revision: number, id?: number): string {
  const [tenant, service, environment] = key.split('/');
  const data = { tenant, service, environment, url, revision, ...(url === null ? { endpoints: [] } : {}), healthCheck: null };
  return `event: ${url === null ? 'delete' : 'put'}\n${id === undefined ? '' : `id: ${id}\n`}data: ${JSON.stringify({ specversion: '1.0', id: `${key}@${revision}`, subject: key, data })}\n\n`;
}

/** A bookmark frame. */
export function bookmarkFrame(revision: number, snapshot = false): string {
  return `event: bookmark\nid: ${revision}\ndata: ${JSON.stringify({ revision, knownCurrentAt: new Date(0).toISOString(), ageMs: 0, snapshot })}\n\n`;
}

import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { RouteEvent, WatchBookmark } from '@tm/contracts';
import { SseParser, type SseEvent } from '@tm/watch';
import { ADMIN_TOKEN } from '../resolver.test-support';

/** One SSE frame as a client parses it. */
export type Frame = SseEvent;

/** The base URL of `app`, listening on a port of its own (once). */
export async function listening(app: NestFastifyApplication): Promise<string> {
  const server = app.getHttpServer();
  if (!server.listening) await app.listen(0, '127.0.0.1');
  const address = server.address();
  if (typeof address !== 'object' || address === null) throw new Error('not listening');
  return `http://127.0.0.1:${address.port}`;
}

/** A watch client for tests: it parses the stream as EventSource would and keeps every frame. */
export class WatchClient {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  private ended = false;
  /** `cutWhen` held: the connection was cut there, and nothing after it is taken. */
  private cut = false;
  private cutWhen: ((frames: Frame[]) => boolean) | undefined;
  private readonly parser = new SseParser((frame) => {
    if (this.cut) return;
    this.frames.push(frame);
    if (this.cutWhen?.(this.frames)) {
      this.cut = true;
      this.response.destroy();
    }
  });

  private constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    /** The body of a refusal (a problem), or '' for a stream. */
    readonly body: string,
    private readonly response: IncomingMessage,
  ) {}

  /**
   * `cutWhen`: the client cuts the connection as soon as it holds (checked after every frame, as a
   * client that dies mid-stream): it keeps the frames up to there and no more.
   */
  static open(base: string, path: string, options: { token?: string; headers?: Record<string, string>; cutWhen?: (frames: Frame[]) => boolean } = {}): Promise<WatchClient> {
    return new Promise((resolve, reject) => {
      const req = request(`${base}${path}`, { headers: { authorization: `Bearer ${options.token ?? ADMIN_TOKEN}`, accept: 'text/event-stream', ...options.headers } }, (res) => {
        res.setEncoding('utf8');
        if (res.statusCode !== 200) {
          let body = '';
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve(new WatchClient(res.statusCode ?? 0, res.headers, body, res)));
          return;
        }
        const client = new WatchClient(200, res.headers, '', res);
        client.cutWhen = options.cutWhen;
        res.on('data', (chunk: string) => client.take(chunk));
        res.on('end', () => client.finish());
        res.on('error', () => client.finish());
        res.on('close', () => client.finish());
        resolve(client);
      });
      req.on('error', reject);
      req.end();
    });
  }

  get problem(): Record<string, unknown> {
    return JSON.parse(this.body) as Record<string, unknown>;
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private take(chunk: string): void {
    this.parser.push(chunk);
    this.notify();
  }

  private finish(): void {
    this.ended = true;
    this.notify();
  }

  private notify(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves once `test` holds of the frames (or rejects after `timeoutMs`). */
  async until(test: (frames: Frame[]) => boolean, timeoutMs = 10_000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    while (!test(this.frames)) {
      if (this.ended) throw new Error(`the stream ended first; frames: ${JSON.stringify(this.frames.slice(-5))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; last frames: ${JSON.stringify(this.frames.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.frames;
  }

  /** Resolves once a bookmark at or above `revision` arrived. */
  untilBookmark(revision: number, timeoutMs?: number): Promise<Frame[]> {
    return this.until((frames) => frames.some((f) => f.event === 'bookmark' && bookmarkOf(f).revision >= revision), timeoutMs);
  }

  /** Resolves when the server ends the stream. */
  async untilEnded(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('the stream did not end');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Stops reading (the socket fills up). */
  pause(): void {
    this.response.pause();
  }

  close(): void {
    this.response.destroy();
  }
}

export function bookmarkOf(frame: Frame): WatchBookmark {
  return JSON.parse(frame.data) as WatchBookmark;
}

export function eventOf(frame: Frame): RouteEvent {
  return JSON.parse(frame.data) as RouteEvent;
}

/** The revisions of the put and delete events with an id, in order. */
export function changeRevisions(frames: Frame[]): number[] {
  return frames.filter((f) => (f.event === 'put' || f.event === 'delete') && f.id !== undefined).map((f) => Number(f.id));
}

/**
 * Checks the contract's order rule on a stream: ids strictly increase (events and bookmarks alike,
 * a bookmark may repeat the last event's id), and a bookmark at R comes only after every expected
 * change <= R. Returns the problems found.
 */
export function orderProblems(frames: Frame[], expected: number[]): string[] {
  const problems: string[] = [];
  const sent = new Set<number>();
  let last = -1;
  for (const f of frames) {
    if (f.id === undefined) continue;
    const id = Number(f.id);
    if (f.event === 'bookmark') {
      if (id < last) problems.push(`bookmark ${id} after id ${last}`);
      for (const r of expected) if (r <= id && !sent.has(r)) problems.push(`bookmark ${id} before change ${r}`);
    } else {
      if (id <= last) problems.push(`change ${id} after id ${last}`);
      if (sent.has(id)) problems.push(`change ${id} twice`);
      sent.add(id);
    }
    last = Math.max(last, id);
  }
  return problems;
}

/**
 * The repository's one Server-Sent Events parser: the HTML standard's "event stream
 * interpretation" (server-sent events), fed text as it arrives. It takes strings, not bytes: the caller decodes with a streaming
 * `TextDecoder` (`decode(chunk, { stream: true })`) so a character split across chunks stays whole.
 * No Node API: a browser reading `fetch` streams uses it too.
 *
 * Unlike EventSource it also reports each event's own `id` line (undefined when it has none): the
 * watch tells a snapshot's puts, and the events of a revision before its last, by their missing id.
 */
export interface SseEvent {
  /** The `event` field; `message` when the event has none. */
  event: string;
  /** The `data` lines joined with `\n`. */
  data: string;
  /** This event's own `id` line (`''` for an empty one); undefined when it has none. */
  id: string | undefined;
  /** EventSource's last event ID: the latest `id` line of the stream so far, carried forward. */
  lastEventId: string;
}

const BOM = '\uFEFF';

export class SseParser {
  /** The stream's reconnection time from its last valid `retry` field; undefined until one came. */
  retryMs: number | undefined;
  /** The stream's last event ID (the latest `id` line without NUL). */
  lastEventId = '';

  /** The start of a line whose end has not arrived. */
  private partial = '';
  /** The last chunk ended with CR: an LF starting the next one belongs to it. */
  private afterCr = false;
  /** Nothing has been read yet (a leading BOM is dropped). */
  private atStart = true;
  private event = '';
  private data = '';
  private hasData = false;
  private id: string | undefined;

  private readonly onEvent: (event: SseEvent) => void;

  /** A plain field, not a parameter property: this file is erasable TypeScript, which Node runs as it is (the bench imports it). */
  constructor(onEvent: (event: SseEvent) => void) {
    this.onEvent = onEvent;
  }

  /** Feeds the next decoded text of the stream; calls `onEvent` for every event it completes. */
  push(chunk: string): void {
    if (chunk === '') return;
    let text = chunk;
    if (this.atStart) {
      this.atStart = false;
      if (text.startsWith(BOM)) text = text.slice(1);
    }
    let start = 0;
    if (this.afterCr) {
      this.afterCr = false;
      if (text.startsWith('\n')) start = 1;
    }
    const length = text.length;
    while (start < length) {
      let end = start;
      let code = 0;
      // Scan for the line's end (CR or LF); charCodeAt keeps the hot loop free of allocations.
      for (; end < length; end++) {
        code = text.charCodeAt(end);
        if (code === 10 || code === 13) break;
      }
      if (end === length) {
        this.partial += text.slice(start);
        return;
      }
      const line = this.partial === '' ? text.slice(start, end) : this.partial + text.slice(start, end);
      this.partial = '';
      start = end + 1;
      if (code === 13) {
        if (start === length) this.afterCr = true;
        else if (text.charCodeAt(start) === 10) start++;
      }
      this.line(line);
    }
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    const colon = line.indexOf(':');
    if (colon === 0) return;
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        return;
      case 'data':
        this.data = this.hasData ? `${this.data}\n${value}` : value;
        this.hasData = true;
        return;
      case 'id':
        if (!value.includes('\0')) {
          this.id = value;
          this.lastEventId = value;
        }
        return;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
        return;
      default:
        return;
    }
  }

  private dispatch(): void {
    const hasData = this.hasData;
    const event: SseEvent = { event: this.event === '' ? 'message' : this.event, data: this.data, id: this.id, lastEventId: this.lastEventId };
    this.event = '';
    this.data = '';
    this.hasData = false;
    this.id = undefined;
    if (hasData) this.onEvent(event);
  }
}

/**
 * A Server-Sent Events parser (the WHATWG "event stream" interpretation), fed text chunks as they
 * arrive. Unlike a browser's EventSource it reports each event's own `id` line (undefined when the
 * event has none) instead of carrying the last one forward: the watch marks snapshot puts by
 * their missing id.
 */
export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | undefined;
  private sawCr = false;

  constructor(private readonly onEvent: (event: SseEvent) => void) {}

  /** Feeds decoded text (a TextDecoder or `setEncoding('utf8')` keeps multi-byte characters whole). */
  push(chunk: string): void {
    let text = chunk;
    // A CR at the end of the previous chunk may be the first half of a CRLF.
    if (this.sawCr && text.startsWith('\n')) text = text.slice(1);
    this.sawCr = false;
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        end = cr;
        if (cr + 1 === this.buffer.length) {
          this.sawCr = true;
          next = cr + 1;
        } else {
          next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
        }
      } else {
        end = lf;
        next = lf + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        // `retry` and unknown fields: the SDK has its own backoff.
        break;
    }
  }

  private dispatch(): void {
    const event: SseEvent = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
    const empty = this.data.length === 0;
    this.event = '';
    this.data = [];
    this.id = undefined;
    if (!empty) this.onEvent(event);
  }
}

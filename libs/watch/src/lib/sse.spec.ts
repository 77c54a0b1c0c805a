import { SseParser, type SseEvent } from './sse';

function parse(chunks: string[]): { events: SseEvent[]; parser: SseParser } {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return { events, parser };
}

function events(chunks: string[]): SseEvent[] {
  return parse(chunks).events;
}

/** A stream with every rule in it: CR, LF and CRLF ends, comments, multi-line data, ids, retry, a field without colon, a BOM. */
const SAMPLE =
  '\uFEFF: a comment\r\n' +
  'event: put\r\n' +
  'data: {"a":1}\r\n' +
  '\r\n' +
  'event: bookmark\n' +
  'id: 7\n' +
  'data: line one\n' +
  'data:line two\n' +
  'data\n' +
  '\n' +
  'retry: 1500\r' +
  'data:  two spaces\r' +
  'unknown: x\r' +
  '\r' +
  'id\n' +
  'event: delete\n' +
  'data: é日本\n' +
  '\n' +
  'id: a\u0000b\n' +
  'data: nul id ignored\n' +
  '\r\n' +
  'event: no-data\n' +
  '\n' +
  'data: unterminated';

const SAMPLE_EVENTS: SseEvent[] = [
  { event: 'put', data: '{"a":1}', id: undefined, lastEventId: '' },
  { event: 'bookmark', data: 'line one\nline two\n', id: '7', lastEventId: '7' },
  { event: 'message', data: ' two spaces', id: undefined, lastEventId: '7' },
  { event: 'delete', data: 'é日本', id: '', lastEventId: '' },
  { event: 'message', data: 'nul id ignored', id: undefined, lastEventId: '' },
];

describe('SseParser', () => {
  it('reads the sample stream by the WHATWG rules', () => {
    const { events: seen, parser } = parse([SAMPLE]);
    expect(seen).toEqual(SAMPLE_EVENTS);
    expect(parser.retryMs).toBe(1500);
    expect(parser.lastEventId).toBe('');
  });

  it('gives the same events for every split of the sample into two and three chunks', () => {
    for (let i = 0; i <= SAMPLE.length; i++) {
      expect(events([SAMPLE.slice(0, i), SAMPLE.slice(i)])).toEqual(SAMPLE_EVENTS);
    }
    for (let i = 0; i <= SAMPLE.length; i += 3) {
      for (let j = i; j <= SAMPLE.length; j += 5) {
        expect(events([SAMPLE.slice(0, i), SAMPLE.slice(i, j), SAMPLE.slice(j)])).toEqual(SAMPLE_EVENTS);
      }
    }
  });

  it('gives the same events fed one character at a time, with empty chunks between', () => {
    const chunks = [...SAMPLE].flatMap((c) => [c, '']);
    expect(events(chunks)).toEqual(SAMPLE_EVENTS);
  });

  it('takes a CRLF split across chunks as one line end, and a lone CR then LF in separate lines as two', () => {
    expect(events(['data: a\r', '\n', '\r', '\n'])).toEqual([{ event: 'message', data: 'a', id: undefined, lastEventId: '' }]);
    // CR then CR: two line ends, the second a blank line that dispatches.
    expect(events(['data: a\r', '\r'])).toEqual([{ event: 'message', data: 'a', id: undefined, lastEventId: '' }]);
    // An empty chunk between the CR and the LF does not break the pair.
    expect(events(['data: a\r', '', '\ndata: b\n\n'])).toEqual([{ event: 'message', data: 'a\nb', id: undefined, lastEventId: '' }]);
  });

  it('drops one leading BOM only, and only at the start of the stream', () => {
    expect(events(['\uFEFFdata: x\n\n'])).toEqual([{ event: 'message', data: 'x', id: undefined, lastEventId: '' }]);
    // A second BOM is part of the first line's field name: an unknown field.
    expect(events(['\uFEFF\uFEFFdata: x\n\ndata: y\n\n'])).toEqual([{ event: 'message', data: 'y', id: undefined, lastEventId: '' }]);
    // A BOM later in the stream is not dropped.
    expect(events(['data: x\n\n', '\uFEFFdata: y\n\n'])).toEqual([{ event: 'message', data: 'x', id: undefined, lastEventId: '' }]);
  });

  it('strips one space after the colon, not more, and reads a field without colon as an empty value', () => {
    expect(events(['data:   three\n\n'])).toEqual([{ event: 'message', data: '  three', id: undefined, lastEventId: '' }]);
    expect(events(['event\ndata\n\n'])).toEqual([{ event: 'message', data: '', id: undefined, lastEventId: '' }]);
    expect(events(['data:\ndata:\n\n'])).toEqual([{ event: 'message', data: '\n', id: undefined, lastEventId: '' }]);
  });

  it('dispatches nothing for a block without data, and resets the event name after it', () => {
    expect(events(['event: bookmark\nid: 3\n\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x', id: undefined, lastEventId: '3' }]);
    expect(events([': only a comment\n\n'])).toEqual([]);
  });

  it('waits for the blank line before dispatching, and never dispatches an event the stream cut', () => {
    const seen: SseEvent[] = [];
    const parser = new SseParser((e) => seen.push(e));
    parser.push('event: bookmark\nid: 3\n\nevent: put\ndata: {');
    expect(seen).toEqual([]);
    parser.push('}\n');
    expect(seen).toEqual([]);
    parser.push('\n');
    expect(seen).toEqual([{ event: 'put', data: '{}', id: undefined, lastEventId: '3' }]);
  });

  it('ignores an id with NUL and a retry that is not all digits, and carries the last id forward', () => {
    const { events: seen, parser } = parse(['retry: 10\nretry: 1.5\nretry: x\nid: 1\ndata: a\n\nid: 2\u0000\ndata: b\n\n']);
    expect(parser.retryMs).toBe(10);
    expect(seen).toEqual([
      { event: 'message', data: 'a', id: '1', lastEventId: '1' },
      { event: 'message', data: 'b', id: undefined, lastEventId: '1' },
    ]);
  });

  it('keeps a character that a TextDecoder in stream mode completes across byte chunks', () => {
    const bytes = new TextEncoder().encode('data: é日本\n\n');
    for (let i = 0; i <= bytes.length; i++) {
      const decoder = new TextDecoder();
      const seen = events([decoder.decode(bytes.slice(0, i), { stream: true }), decoder.decode(bytes.slice(i), { stream: true })]);
      expect(seen).toEqual([{ event: 'message', data: 'é日本', id: undefined, lastEventId: '' }]);
    }
  });

  it('reads a long line that arrives in many chunks', () => {
    const data = 'x'.repeat(100_000);
    const text = `data: ${data}\n\n`;
    const chunks: string[] = [];
    for (let i = 0; i < text.length; i += 999) chunks.push(text.slice(i, i + 999));
    expect(events(chunks)).toEqual([{ event: 'message', data, id: undefined, lastEventId: '' }]);
  });
});

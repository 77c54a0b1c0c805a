import { SseParser, type SseEvent } from './sse';

function parse(chunks: string[]): SseEvent[] {
  const events: SseEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const chunk of chunks) parser.push(chunk);
  return events;
}

describe('SseParser', () => {
  it('reads event, id and data, and reports a missing id as undefined (snapshot puts)', () => {
    expect(parse(['event: put\ndata: {"a":1}\n\nevent: bookmark\nid: 7\ndata: {"revision":7}\n\n'])).toEqual([
      { event: 'put', data: '{"a":1}', id: undefined },
      { event: 'bookmark', data: '{"revision":7}', id: '7' },
    ]);
  });

  it('joins data lines, skips comments, and takes CR, LF and CRLF line ends split across chunks', () => {
    expect(parse([': hello\r', '\nevent: x\r', '\ndata: a\rdata:b\n', '\r\n'])).toEqual([{ event: 'x', data: 'a\nb', id: undefined }]);
  });

  it('waits for the blank line before dispatching, and drops events without data', () => {
    const events: SseEvent[] = [];
    const parser = new SseParser((e) => events.push(e));
    parser.push('event: bookmark\nid: 3\n\nevent: put\ndata: {');
    expect(events).toEqual([]);
    parser.push('}\n\n');
    expect(events).toEqual([{ event: 'put', data: '{}', id: undefined }]);
  });

  it('names an event without an event line "message"', () => {
    expect(parse(['data: x\n\n'])).toEqual([{ event: 'message', data: 'x', id: undefined }]);
  });
});

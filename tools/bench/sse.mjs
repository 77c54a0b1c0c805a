// The bench's watch clients read Server-Sent Events: chunks of text in, one call per block (the lines
// between two blank lines) out, with the two fields they need: the event's name and its `id` line.

/** @typedef {import('./report.cjs').Json} Json */
/**
 * A reader of one stream: feed it the response's chunks (as UTF-8 strings); it calls
 * `onBlock(event, id)` for each complete block, `id` undefined when the block has no `id` line.
 * @param {(event: string, id: string | undefined) => void} onBlock
 * @returns {(chunk: string) => void}
 */
export function sseReader(onBlock) {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const eol = block.indexOf('\n');
      const event = block.startsWith('event: ') ? block.slice(7, eol < 0 ? undefined : eol) : 'message';
      const id = /(?:^|\n)id: (\d+)/.exec(block)?.[1];
      onBlock(event, id);
    }
  };
}

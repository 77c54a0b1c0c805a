// The bench's watch clients read Server-Sent Events with the repository's one parser (libs/watch,
// whose erasable TypeScript Node 24 runs as it is): chunks of text in, one call per event out, with
// the two fields they need: the event's name and its own `id` line.
import { SseParser } from '../../libs/watch/src/lib/sse.ts';

/**
 * A reader of one stream: feed it the response's chunks (as UTF-8 strings); it calls
 * `onBlock(event, id)` for each complete event, `id` undefined when the event has no `id` line.
 * @param {(event: string, id: string | undefined) => void} onBlock
 * @returns {(chunk: string) => void}
 */
export function sseReader(onBlock) {
  const parser = new SseParser((e) => onBlock(e.event, e.id));
  return (chunk) => parser.push(chunk);
}

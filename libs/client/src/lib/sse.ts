/** The SSE parser is the watch's own (@tm/watch, the one in the repository); re-exported for the CLI's `tm watch`. */
export { SseParser } from '@tm/watch';
export type { SseEvent } from '@tm/watch';

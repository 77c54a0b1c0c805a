/** A Redis command that did not answer within its timeout. */
export class RedisTimeoutError extends Error {
  override name = 'RedisTimeoutError';

  constructor(ms: number) {
    super(`Redis did not answer within ${ms} ms`);
  }
}

/**
 * `work` (a Redis command just issued), rejected with RedisTimeoutError when Redis takes longer
 * than `ms` to answer it (0: no limit).
 *
 * The clock starts when the command is on the wire: node-redis writes the commands issued in a
 * tick from a setImmediate, which runs before the one scheduled here. When the time is up, the
 * rejection waits for the next check phase, after the event loop has read its sockets: a reply
 * that arrived while this process was busy elsewhere wins. So the timeout measures Redis, not
 * this process's own event-loop lag (under load a timeout must not send reads to PostgreSQL).
 *
 * node-redis's own `commandOptions.timeout` is not used: it only covers a command's wait to be
 * written (a command sent to a Redis that hangs is never timed out), and it costs an
 * `AbortSignal.timeout()` per command whose timer is never cleared and builds a DOMException when
 * it fires. Like node-redis, a command that timed out stays in the client's queue; its late reply
 * is dropped.
 */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  if (ms <= 0) return work;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const expire = () => {
      if (settled) return;
      settled = true;
      reject(new RedisTimeoutError(ms));
    };
    const started = setImmediate(() => {
      if (!settled) timer = setTimeout(() => setImmediate(expire), ms);
    });
    const finish = () => {
      settled = true;
      clearImmediate(started);
      if (timer !== undefined) clearTimeout(timer);
    };
    work.then(
      (value) => {
        if (settled) return;
        finish();
        resolve(value);
      },
      (e: unknown) => {
        if (settled) return;
        finish();
        reject(e);
      },
    );
  });
}

// How `npm start` shows the apps' log lines. The apps always write JSON (one line per event); on a
// terminal `npm start` renders them readably with pino-pretty, and passes them through untouched
// when its stdout is not a terminal or LOG_FORMAT=json (LOG_FORMAT=pretty renders them anyway).

export const LOG_FORMATS = ['json', 'pretty'];

/** The format asked for: LOG_FORMAT, else pretty on a terminal and JSON otherwise. Throws on a bad value. */
export function logFormat(env, isTerminal) {
  const asked = env.LOG_FORMAT;
  if (asked === undefined || asked === '') return isTerminal ? 'pretty' : 'json';
  if (!LOG_FORMATS.includes(asked)) throw new Error(`LOG_FORMAT must be json or pretty, not "${asked}"`);
  return asked;
}

/** A function from one line an app wrote to the line to print. Lines that are not JSON pass unchanged. */
export async function lineRenderer(format, { colorize = true } = {}) {
  if (format === 'json') return (line) => line;
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({ colorize, singleLine: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,app' });
  return (line) => {
    if (!line.startsWith('{')) return line;
    try {
      return pretty(line).replace(/\n$/, '');
    } catch {
      return line;
    }
  };
}

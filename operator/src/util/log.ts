// Structured logging: one JSON line per event on stderr; level from AVEC_OPERATOR_LOG, else AVEC_LOG (debug|info|warn|error; default info).
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export function parseLevel(s: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  return s !== undefined && s in order ? (s as LogLevel) : fallback;
}

export function createLogger(
  level: LogLevel = parseLevel(process.env.AVEC_OPERATOR_LOG ?? process.env.AVEC_LOG),
  base: LogFields = {},
  write: (line: string) => void = (l) => process.stderr.write(l + '\n'),
  now: () => Date = () => new Date(),
): Logger {
  const emit = (lvl: LogLevel, msg: string, fields?: LogFields): void => {
    if (order[lvl] < order[level]) return;
    write(JSON.stringify({ ts: now().toISOString(), level: lvl, msg, ...base, ...fields }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger(level, { ...base, ...f }, write, now),
  };
}

export const silentLogger: Logger = createLogger('error', {}, () => {});

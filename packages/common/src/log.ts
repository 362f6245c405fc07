// The one logger of avec's TypeScript processes: one JSON object per line on stderr
// ({ ts, level, component, msg, ...fields }). One environment variable for every process, the same
// the shim reads: AVEC_LOG=error|warn|info|debug (default info; a --log-level flag, where a process
// has one, wins).
export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFields = Record<string, unknown>;

export interface Logger {
  error(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  debug(msg: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export const LOG_ENV = 'AVEC_LOG';

export function isLogLevel(s: unknown): s is LogLevel {
  return typeof s === 'string' && (LOG_LEVELS as readonly string[]).includes(s);
}

/** The level AVEC_LOG names, else `fallback`. */
export function levelFromEnv(env: NodeJS.ProcessEnv = process.env, fallback: LogLevel = 'info'): LogLevel {
  const v = env[LOG_ENV];
  return isLogLevel(v) ? v : fallback;
}

export interface LoggerOptions {
  component: string;
  /** Default: from AVEC_LOG. */
  level?: LogLevel;
  sink?: (line: string) => void;
  clock?: () => Date;
}

export function createLogger(opts: LoggerOptions, bound: LogFields = {}): Logger {
  const sink = opts.sink ?? ((line: string) => process.stderr.write(line + '\n'));
  const clock = opts.clock ?? (() => new Date());
  const max = LOG_LEVELS.indexOf(opts.level ?? levelFromEnv());
  const emit = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (LOG_LEVELS.indexOf(level) > max) return;
    sink(JSON.stringify({ ts: clock().toISOString(), level, component: opts.component, msg, ...bound, ...fields }));
  };
  return {
    error: (m, f) => emit('error', m, f),
    warn: (m, f) => emit('warn', m, f),
    info: (m, f) => emit('info', m, f),
    debug: (m, f) => emit('debug', m, f),
    child: (fields) => createLogger(opts, { ...bound, ...fields }),
  };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger({ level: 'error', component: 'silent', sink: () => {} });

// Structured logging for the harness, through the one avec logger (component "e2e"). Level: AVEC_LOG
// (default warn here: the harness is quiet unless asked).
import { createLogger, levelFromEnv, type LogFields, type LogLevel } from '@avec/common';

const logger = createLogger({ component: 'e2e', level: levelFromEnv(process.env, 'warn') });

export function log(level: LogLevel, msg: string, fields: LogFields = {}): void {
  logger[level](msg, fields);
}

// @avec/common: the one logger and the one error type shared by operator, remoting server and e2e.
export { AvecError, errorCode, errorMessage } from './errors.js';
export { LOG_ENV, LOG_LEVELS, createLogger, isLogLevel, levelFromEnv, silentLogger, type LogFields, type LogLevel, type Logger, type LoggerOptions } from './log.js';
export { UPDATE_GOLDEN_ENV, expectGolden } from './golden.js';

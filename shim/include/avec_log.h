/* Leveled logging for the shim: off (errors only) unless AVEC_LOG=warn|info|debug. One line per event on
 * stderr, prefixed "avec:". Never used on hot paths above debug level. */
#ifndef AVEC_LOG_H
#define AVEC_LOG_H

enum { AVEC_LOG_ERROR = 0, AVEC_LOG_WARN = 1, AVEC_LOG_INFO = 2, AVEC_LOG_DEBUG = 3 };

int avec_log_level(void);
void avec_log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses an AVEC_LOG value; unknown or NULL -> error level. Exposed for tests. */
int avec_log_parse(const char *value);

#define AVEC_LOG(level, ...)                                       \
  do {                                                             \
    if ((level) <= avec_log_level()) avec_log_write(level, __VA_ARGS__); \
  } while (0)
#define LOG_ERROR(...) AVEC_LOG(AVEC_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) AVEC_LOG(AVEC_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) AVEC_LOG(AVEC_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) AVEC_LOG(AVEC_LOG_DEBUG, __VA_ARGS__)

#endif

#include "avec_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int g_level = -1; /* -1: not read yet; the race on first read is benign (same value) */

int avec_log_parse(const char *value) {
  if (!value) return AVEC_LOG_ERROR;
  if (!strcmp(value, "debug")) return AVEC_LOG_DEBUG;
  if (!strcmp(value, "info")) return AVEC_LOG_INFO;
  if (!strcmp(value, "warn") || !strcmp(value, "warning")) return AVEC_LOG_WARN;
  return AVEC_LOG_ERROR;
}

int avec_log_level(void) {
  int l = __atomic_load_n(&g_level, __ATOMIC_RELAXED);
  if (l < 0) {
    l = avec_log_parse(getenv("AVEC_LOG"));
    __atomic_store_n(&g_level, l, __ATOMIC_RELAXED);
  }
  return l;
}

void avec_log_write(int level, const char *fmt, ...) {
  static const char *names[] = {"error", "warn", "info", "debug"};
  char line[1024];
  int n = snprintf(line, sizeof line, "avec[%d] %s: ", (int)getpid(), names[level & 3]);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && n < (int)sizeof line) n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
  line[n++] = '\n';
  /* one write() so lines of concurrent threads do not interleave */
  ssize_t w = write(2, line, (size_t)n);
  (void)w;
}

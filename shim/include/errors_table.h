/* The generated CUresult name/description table (shim/gen/out/errors.c). */
#ifndef AVEC_ERRORS_TABLE_H
#define AVEC_ERRORS_TABLE_H

#include <stddef.h>

typedef struct avec_error_entry {
  int code;
  const char *name;
  const char *text;
} avec_error_entry;

extern const avec_error_entry avec_error_table[];
extern const size_t avec_error_table_len;

#endif

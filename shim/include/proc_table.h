/* The generated cuGetProcAddress table (shim/gen/out/proc_table.c). */
#ifndef AVEC_PROC_TABLE_H
#define AVEC_PROC_TABLE_H

#include <stddef.h>

typedef struct avec_proc_entry {
  const char *api;       /* name as passed to cuGetProcAddress, e.g. "cuMemAlloc" */
  int version;           /* the PFN_<api>_v<version> typedef */
  int per_thread;        /* 1: the _ptds/_ptsz implementation */
  const char *symbol;    /* exported symbol implementing it */
  void (*fn)(void);
} avec_proc_entry;

typedef struct avec_symbol_entry {
  const char *name;
  void (*fn)(void);
} avec_symbol_entry;

extern const avec_proc_entry avec_proc_table[];
extern const size_t avec_proc_table_len;
extern const avec_symbol_entry avec_symbol_table[];
extern const size_t avec_symbol_table_len;

enum { AVEC_PROC_OK = 0, AVEC_PROC_NOT_FOUND = 1, AVEC_PROC_VERSION = 2 };

/* Version-exact resolution: the newest entry of `api` with version <= `version`, the per-thread variant
 * when `per_thread` and one exists. Returns AVEC_PROC_* and sets *out (NULL unless OK). Pure. */
int avec_proc_resolve(const char *api, int version, int per_thread, const avec_proc_entry **out);

#endif

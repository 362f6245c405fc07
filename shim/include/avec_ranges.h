/* A sorted table of non-overlapping address ranges: device allocations (and module globals) the session
 * knows, and host memory the shim pinned or registered. Pointer classification, cuPointerGetAttribute,
 * cuMemGetAddressRange and client-side range checks answer from it without a round trip. */
#ifndef AVEC_RANGES_H
#define AVEC_RANGES_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* DEVICE: cuMemAlloc*; GLOBAL: a module variable; VMM: a mapped piece of a reserved range (cuMemMap);
 * IPC: another session's memory opened with cuIpcOpenMemHandle; GRAPH: the address of a graph's
 * memory-allocation node (explicit or captured), known until the server hands out an overlapping address. */
enum {
  AVEC_RANGE_DEVICE = 1, AVEC_RANGE_GLOBAL = 2, AVEC_RANGE_HOST_ALLOC = 3, AVEC_RANGE_HOST_REGISTERED = 4,
  AVEC_RANGE_VMM = 5, AVEC_RANGE_IPC = 6, AVEC_RANGE_GRAPH = 7 /* a graph's memory-allocation node */
};

/* Flags of device ranges. */
#define AVEC_RANGE_RESERVED 1u /* the client reserved the address range in this process */
#define AVEC_RANGE_MANAGED 2u  /* managed memory: the reservation holds the host side (managed.c) */

typedef struct avec_range {
  uint64_t base, size;
  uint32_t kind;     /* AVEC_RANGE_* */
  uint32_t flags;    /* host: cuMemHostAlloc flags; device: AVEC_RANGE_RESERVED | AVEC_RANGE_MANAGED */
  void *ctx;         /* owning context (NULL for VMM pieces: they belong to the device) */
  uint64_t id;       /* unique buffer id (CU_POINTER_ATTRIBUTE_BUFFER_ID) */
  void *pool;        /* DEVICE from a memory pool: its CUmemoryPool; VMM: the allocation handle */
} avec_range;

typedef struct avec_range_table {
  pthread_mutex_t lock;
  avec_range *v;
  size_t n, cap;
} avec_range_table;

#define AVEC_RANGE_TABLE_INIT {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0}

/* Returns 0, or -1 when it overlaps an existing range (or is empty / out of memory). */
int avec_ranges_insert(avec_range_table *t, const avec_range *r);
/* Removes the range starting exactly at base. Returns 0 and fills *out (may be NULL), or -1. */
int avec_ranges_remove(avec_range_table *t, uint64_t base, avec_range *out);
/* Finds the range containing addr. Returns 0 and fills *out (may be NULL), or -1. */
int avec_ranges_find(avec_range_table *t, uint64_t addr, avec_range *out);
/* 0 when [addr, addr+len) lies inside one range (len 0: addr inside or at its end), or across VMM pieces
 * that touch end to end; else -1. */
int avec_ranges_contains(avec_range_table *t, uint64_t addr, uint64_t len);
/* 1 when any range overlaps [addr, addr+len). */
int avec_ranges_overlaps(avec_range_table *t, uint64_t addr, uint64_t len);
size_t avec_ranges_count(avec_range_table *t);
/* The lowest base and highest end of all ranges: 0, or -1 when the table is empty. */
int avec_ranges_span(avec_range_table *t, uint64_t *lo, uint64_t *hi);
/* Removes every range owned by ctx; calls done(r) for each removed one (outside the lock). Returns count. */
size_t avec_ranges_remove_ctx(avec_range_table *t, const void *ctx, void (*done)(const avec_range *r));
/* Removes every range of `kind` that overlaps [addr, addr+len); done(r) as above. Returns count. */
size_t avec_ranges_remove_overlapping(avec_range_table *t, uint32_t kind, uint64_t addr, uint64_t len,
                                      void (*done)(const avec_range *r));

#endif

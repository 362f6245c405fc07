#include <stdlib.h>
#include <string.h>

#include "avec_ranges.h"

/* Index of the first range whose base is > addr. */
static size_t upper(const avec_range_table *t, uint64_t addr) {
  size_t lo = 0, hi = t->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->v[mid].base <= addr) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

static const avec_range *containing(const avec_range_table *t, uint64_t addr) {
  size_t i = upper(t, addr);
  if (i == 0) return NULL;
  const avec_range *r = &t->v[i - 1];
  return addr - r->base < r->size ? r : NULL;
}

int avec_ranges_insert(avec_range_table *t, const avec_range *r) {
  if (!r->size || r->base + r->size < r->base) return -1;
  pthread_mutex_lock(&t->lock);
  size_t i = upper(t, r->base);
  int overlap = (i > 0 && t->v[i - 1].base + t->v[i - 1].size > r->base) ||
                (i < t->n && t->v[i].base < r->base + r->size);
  if (!overlap && t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 64;
    avec_range *nv = realloc(t->v, cap * sizeof *nv);
    if (!nv) overlap = 1;
    else { t->v = nv; t->cap = cap; }
  }
  if (!overlap) {
    memmove(&t->v[i + 1], &t->v[i], (t->n - i) * sizeof *t->v);
    t->v[i] = *r;
    t->n++;
  }
  pthread_mutex_unlock(&t->lock);
  return overlap ? -1 : 0;
}

int avec_ranges_remove(avec_range_table *t, uint64_t base, avec_range *out) {
  int rc = -1;
  pthread_mutex_lock(&t->lock);
  size_t i = upper(t, base);
  if (i > 0 && t->v[i - 1].base == base) {
    if (out) *out = t->v[i - 1];
    memmove(&t->v[i - 1], &t->v[i], (t->n - i) * sizeof *t->v);
    t->n--;
    rc = 0;
  }
  pthread_mutex_unlock(&t->lock);
  return rc;
}

int avec_ranges_span(avec_range_table *t, uint64_t *lo, uint64_t *hi) {
  pthread_mutex_lock(&t->lock);
  int empty = t->n == 0;
  if (!empty) {
    *lo = t->v[0].base;
    *hi = t->v[t->n - 1].base + t->v[t->n - 1].size;
  }
  pthread_mutex_unlock(&t->lock);
  return empty ? -1 : 0;
}

int avec_ranges_find(avec_range_table *t, uint64_t addr, avec_range *out) {
  pthread_mutex_lock(&t->lock);
  const avec_range *r = containing(t, addr);
  if (r && out) *out = *r;
  pthread_mutex_unlock(&t->lock);
  return r ? 0 : -1;
}

int avec_ranges_contains(avec_range_table *t, uint64_t addr, uint64_t len) {
  pthread_mutex_lock(&t->lock);
  const avec_range *r = containing(t, addr);
  int ok = r && len <= r->size - (addr - r->base);
  if (r && !ok && r->kind == AVEC_RANGE_VMM) {
    /* mapped pieces of one reserved range that touch end to end are one span (a growing VMM segment) */
    uint64_t covered = r->size - (addr - r->base);
    for (const avec_range *n = r + 1; n < t->v + t->n && n->kind == AVEC_RANGE_VMM && n->base == n[-1].base + n[-1].size;
         n++) {
      if (len - covered <= n->size) { ok = 1; break; }
      covered += n->size;
    }
  }
  pthread_mutex_unlock(&t->lock);
  return ok ? 0 : -1;
}

int avec_ranges_overlaps(avec_range_table *t, uint64_t addr, uint64_t len) {
  pthread_mutex_lock(&t->lock);
  size_t i = upper(t, addr);
  int hit = (i > 0 && t->v[i - 1].base + t->v[i - 1].size > addr) || (i < t->n && t->v[i].base - addr < len);
  pthread_mutex_unlock(&t->lock);
  return hit;
}

size_t avec_ranges_count(avec_range_table *t) {
  pthread_mutex_lock(&t->lock);
  size_t n = t->n;
  pthread_mutex_unlock(&t->lock);
  return n;
}

/* Removes every range `match` accepts; calls done(r) for each (outside the lock). */
static size_t remove_matching(avec_range_table *t, int (*match)(const avec_range *r, const void *arg), const void *arg,
                              void (*done)(const avec_range *r)) {
  pthread_mutex_lock(&t->lock);
  avec_range *gone = malloc((t->n ? t->n : 1) * sizeof *gone);
  size_t kept = 0, ngone = 0;
  for (size_t i = 0; i < t->n; i++) {
    if (gone && match(&t->v[i], arg)) gone[ngone++] = t->v[i];
    else t->v[kept++] = t->v[i];
  }
  t->n = kept;
  pthread_mutex_unlock(&t->lock);
  for (size_t i = 0; i < ngone && done; i++) done(&gone[i]);
  free(gone);
  return ngone;
}

static int of_ctx(const avec_range *r, const void *ctx) { return r->ctx == ctx; }
size_t avec_ranges_remove_ctx(avec_range_table *t, const void *ctx, void (*done)(const avec_range *r)) {
  return remove_matching(t, of_ctx, ctx, done);
}

typedef struct { uint32_t kind; uint64_t addr, len; } kind_span;
static int kind_overlaps(const avec_range *r, const void *arg) {
  const kind_span *k = arg;
  return r->kind == k->kind && r->base < k->addr + k->len && k->addr < r->base + r->size;
}
size_t avec_ranges_remove_overlapping(avec_range_table *t, uint32_t kind, uint64_t addr, uint64_t len,
                                      void (*done)(const avec_range *r)) {
  kind_span k = {kind, addr, len};
  return remove_matching(t, kind_overlaps, &k, done);
}

/* cuInit: the one lazy connection to the remoting server, HELLO, and the session's status helpers.
 * Nothing connects before cuInit, so the library can be preloaded into any process. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avec_stats.h"
#include "proc_table.h"
#include "shim_cuda.h"

avec_session avec_sess;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static uint32_t handle_counter = 32; /* > AVEC_MAX_DEVICES (primary contexts) and > 16 (fixed stream handles) */

uint32_t avec_new_handle(void) { return __atomic_fetch_add(&handle_counter, 1, __ATOMIC_RELAXED); }

static int is_sticky(CUresult r) {
  switch (r) {
    case CUDA_ERROR_ILLEGAL_ADDRESS:
    case CUDA_ERROR_LAUNCH_FAILED:
    case CUDA_ERROR_HARDWARE_STACK_ERROR:
    case CUDA_ERROR_ILLEGAL_INSTRUCTION:
    case CUDA_ERROR_MISALIGNED_ADDRESS:
    case CUDA_ERROR_INVALID_ADDRESS_SPACE:
    case CUDA_ERROR_INVALID_PC:
    case CUDA_ERROR_ASSERT:
    case CUDA_ERROR_ECC_UNCORRECTABLE:
      return 1;
    default:
      return 0;
  }
}

CUresult avec_result(uint32_t st) {
  CUresult r;
  if (st < 0x10000u) r = (CUresult)st;
  else if (st == AVEC_STATUS_LOST) /* documented: the server went away (or we closed at exit) */
    r = avec_sess.closed ? CUDA_ERROR_DEINITIALIZED : CUDA_ERROR_UNKNOWN;
  else if (st == AVEC_STATUS_BAD_FRAME) r = CUDA_ERROR_INVALID_VALUE;
  else r = CUDA_ERROR_UNKNOWN;
  if (st && st != AVEC_STATUS_LOST) LOG_DEBUG("server answered status %u (%s)", st, st < 0x10000u ? "CUresult" : "avec");
  if (st == AVEC_STATUS_LOST) {
    if (!avec_sess.closed) avec_sess.sticky = CUDA_ERROR_UNKNOWN;
  } else if (is_sticky(r) && !avec_sess.sticky) {
    LOG_WARN("sticky error %d: the session is poisoned", (int)r);
    avec_sess.sticky = r;
  }
  return r;
}

CUresult avec_ready(void) {
  if (!__atomic_load_n(&avec_sess.initialized, __ATOMIC_ACQUIRE)) return CUDA_ERROR_NOT_INITIALIZED;
  if (avec_sess.init_result != CUDA_SUCCESS) return avec_sess.init_result;
  if (avec_sess.closed) return CUDA_ERROR_DEINITIALIZED;
  return avec_sess.sticky;
}

CUresult avec_post(uint16_t op, uint32_t flags, const void *a, size_t alen, const void *b, size_t blen) {
  return avec_result(avec_conn_post(&avec_sess.conn, op, flags, avec_ctx_wire(), a, alen, b, blen));
}

CUresult avec_call(uint16_t op, uint32_t flags, const void *a, size_t alen, void *reply, size_t cap) {
  avec_reply_hdr tmp;
  if (!reply) { reply = &tmp; cap = sizeof tmp; }
  size_t got = 0;
  uint32_t st = avec_conn_call(&avec_sess.conn, op, flags, avec_ctx_wire(), a, alen, NULL, 0, reply, cap, &got);
  if (st && st != AVEC_STATUS_LOST) LOG_DEBUG("opcode %u: not answered with success (an earlier posted call's error "
                                              "or its own)", (unsigned)op);
  return avec_result(st);
}

int avec_dev_valid(CUdevice d) { return d >= 0 && d < avec_sess.ndev; }
int avec_device_count(void) { return avec_sess.ndev; }

/* Exported symbol at exactly this address, for the AVEC_STATS report. */
static const char *entry_point_name(void *fn) {
  for (size_t i = 0; i < avec_symbol_table_len; i++)
    if ((void *)avec_symbol_table[i].fn == fn) return avec_symbol_table[i].name;
  return NULL;
}

static void shutdown_session(void) {
  avec_stats_report(avec_sess.conn.endpoint);
  if (avec_sess.init_result != CUDA_SUCCESS) return;
  avec_sess.closed = 1;
  avec_conn_close(&avec_sess.conn);
}

/* A child forked after cuInit shares the parent's socket: it must never write to it (its exit handlers
 * would otherwise say GOODBYE and end the parent's session). Like the driver, CUDA is unusable there. */
static void after_fork_child(void) {
  avec_conn *c = &avec_sess.conn;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->batch_cv, NULL);
  if (c->fd >= 0) close(c->fd); /* drops only this process's reference */
  c->fd = -1;
  c->dead = 1;
  c->batch_len = 0;
  c->timer_started = 0;
  avec_sess.init_result = CUDA_ERROR_NOT_INITIALIZED;
}

static void do_init(void) {
  char endpoint[256], ticket[AVEC_MAX_TICKET + 1];
  /* The shim never lets the program's LD_PRELOAD of itself leak into helpers it might spawn: it spawns none. */
  if (avec_config_load(endpoint, sizeof endpoint, ticket, sizeof ticket)) {
    LOG_ERROR("cuInit: no remoting endpoint configured (AVEC_SERVER unset and no endpoint file in "
              "AVEC_CLAIM_DIR, default /var/run/avec/claim): no device");
    avec_sess.init_result = CUDA_ERROR_NO_DEVICE;
    return;
  }
  static avec_hello_result rep;
  uint32_t st, reason;
  char msg[AVEC_MAX_REFUSAL_MESSAGE + 1];
  /* Device printf comes back to this process's stdout unless AVEC_DEVICE_OUTPUT=0 (then it stays on the GPU
   * node, in the session's stdout there). */
  const char *dout = getenv("AVEC_DEVICE_OUTPUT");
  uint32_t flags = avec_bulk_hello_flags() | AVEC_HELLO_CALLBACKS |
                   (dout && strcmp(dout, "0") == 0 ? 0 : AVEC_HELLO_DEVICE_OUTPUT);
  int rc = avec_session_hello(&avec_sess.conn, endpoint, ticket, flags, &rep, &st, &reason, msg, sizeof msg);
  if (rc < 0) {
    LOG_ERROR("cuInit: cannot reach remoting server %s: %s: no device", endpoint, strerror(-rc));
    avec_sess.init_result = CUDA_ERROR_NO_DEVICE;
    return;
  }
  if (rc > 0) {
    if (st == AVEC_STATUS_BAD_TICKET || st == AVEC_STATUS_REFUSED) {
      /* The one line a user reads: the server's own words (an older server sends none). */
      LOG_DEBUG("cuInit: HELLO status 0x%x, refusal reason %u (%s)", st, reason, avec_refusal_name(reason));
      const char *why = msg[0] ? msg
                        : reason != AVEC_REFUSAL_UNSPECIFIED ? avec_refusal_name(reason)
                        : st == AVEC_STATUS_BAD_TICKET       ? "ticket refused"
                                                             : "refused";
      LOG_ERROR("server %s refused the session: %s", endpoint, why);
    } else {
      const char *why = st == AVEC_STATUS_VERSION ? "wire version refused"
                        : st == AVEC_STATUS_LOST  ? "connection closed during HELLO"
                                                  : "bad HELLO reply";
      LOG_ERROR("cuInit: remoting server %s: %s (status 0x%x): no device", endpoint, why, st);
    }
    avec_sess.init_result = CUDA_ERROR_NO_DEVICE;
    return;
  }
  avec_sess.hello = rep.r;
  uint32_t map[AVEC_MAX_DEVICES];
  int n = avec_visible_devices(getenv("CUDA_VISIBLE_DEVICES"), rep.d, (int)rep.r.device_count, map);
  avec_sess.ndev = n;
  for (int i = 0; i < n; i++) {
    avec_sess.dev[i] = rep.d[map[i]];
    avec_sess.wire_dev[i] = map[i];
    avec_sess.dev[i].name[sizeof avec_sess.dev[i].name - 1] = 0;
    avec_device_remote_view(&avec_sess.dev[i], rep.r.features);
  }
  if (n != (int)rep.r.device_count)
    LOG_INFO("CUDA_VISIBLE_DEVICES=%s: %d of %u device(s) visible", getenv("CUDA_VISIBLE_DEVICES"), n,
             rep.r.device_count);
  if (n == 0) { /* nothing visible: like the driver, no device and no error line */
    avec_conn_close(&avec_sess.conn);
    avec_sess.init_result = CUDA_ERROR_NO_DEVICE;
    return;
  }
  avec_conn_start_timer(&avec_sess.conn);
  avec_stats_start(entry_point_name);
  avec_crash_trace_install();
  atexit(shutdown_session);
  pthread_atfork(NULL, NULL, after_fork_child);
  LOG_INFO("cuInit: session %llu on %s: %d device(s)%s, memory limit %llu", (unsigned long long)rep.r.session_id,
           endpoint, avec_sess.ndev, rep.r.emulated ? " (emulated)" : "", (unsigned long long)rep.r.memory_limit);
  avec_sess.init_result = avec_sess.ndev > 0 ? CUDA_SUCCESS : CUDA_ERROR_NO_DEVICE;
}

static int hexval(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Does "GPU-xxxxxxxx-xxxx-..." (any prefix of at least one hex digit) name this UUID? */
static int uuid_prefix_match(const char *tok, size_t len, const uint8_t uuid[16]) {
  size_t digits = 0;
  for (size_t i = 4; i < len; i++) {
    if (tok[i] == '-') continue;
    int v = hexval(tok[i]);
    if (v < 0 || digits >= 32) return 0;
    int want = digits % 2 ? uuid[digits / 2] & 0xf : uuid[digits / 2] >> 4;
    if (v != want) return 0;
    digits++;
  }
  return digits > 0;
}

int avec_visible_devices(const char *spec, const avec_device_info *devs, int n, uint32_t *map) {
  if (!spec) {
    for (int i = 0; i < n; i++) map[i] = (uint32_t)i;
    return n;
  }
  int count = 0;
  const char *p = spec;
  while (*p && count < (int)AVEC_MAX_DEVICES) {
    while (*p == ' ') p++;
    const char *end = strchr(p, ',');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    while (len && p[len - 1] == ' ') len--;
    int found = -1;
    if (len > 4 && (!strncmp(p, "GPU-", 4) || !strncmp(p, "MIG-", 4))) {
      for (int i = 0; i < n && found < 0; i++)
        if (uuid_prefix_match(p, len, devs[i].uuid)) found = i;
    } else if (len > 0) {
      char *stop;
      long v = strtol(p, &stop, 10);
      if (stop == p + len && v >= 0 && v < n) found = (int)v;
    }
    for (int i = 0; i < count && found >= 0; i++)
      if (map[i] == (uint32_t)found) found = -1; /* a repeated device ends the list */
    if (found < 0) break;
    map[count++] = (uint32_t)found;
    if (!end) break;
    p = end + 1;
  }
  return count;
}

static void init_once_fn(void) {
  do_init();
  __atomic_store_n(&avec_sess.initialized, 1, __ATOMIC_RELEASE);
}

AVEC_API CUresult cuInit(unsigned int flags) {
  if (flags != 0) return CUDA_ERROR_INVALID_VALUE;
  pthread_once(&init_once, init_once_fn);
  return avec_sess.init_result;
}

AVEC_API CUresult cuDriverGetVersion(int *v) {
  if (!v) return CUDA_ERROR_INVALID_VALUE;
  *v = AVEC_DRIVER_VERSION;
  return CUDA_SUCCESS;
}

/* Marker that tells the executor (and anyone else) that a libcuda.so.1 is this shim, not a driver. */
AVEC_API int cuAvecShimVersion(void) { return AVEC_SHIM_VERSION; }
/* The running round-trip totals (avec_stats.h), for a program or benchmark that measures a part of itself. */
AVEC_API int cuAvecStatsSnapshot(uint64_t out[7]) { return avec_stats_snapshot(out); }

/* Generated stubs land here: log the name once at warn level. */
int avec_unsupported(const char *name, int *warned) {
  if (!__atomic_exchange_n(warned, 1, __ATOMIC_RELAXED)) LOG_WARN("%s is not supported by the remote driver", name);
  return CUDA_ERROR_NOT_SUPPORTED;
}

/* Host functions inside remote streams and graphs (graph host nodes, cuLaunchHostFunc into a capture) run
 * here, in this process: when the GPU reaches one, the server sends a RUN on the session's callback
 * connection, a thread of ours runs the function and answers DONE, and only then does the stream go on
 * (docs/protocol.md, "Host functions"). The callback connection is separate from the session's because the
 * program's thread may be blocked on the session's connection (a stream synchronize) waiting for the very
 * stream that waits for the host function. It joins the session like a stripe, with the HELLO's token,
 * and is opened the first time a host function is put into a graph.
 * The server never sees the function or its argument: each (fn, userData) pair is an opaque id here.
 * Host memory that graphs copy through device-side mirrors (graph-host.c) is kept coherent around each
 * function: what the device wrote comes back before it runs, what it changed goes out before the device
 * goes on, both over the callback connection. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "shim_cuda.h"

/* ---- ids ----------------------------------------------------------------------------------------------- */
typedef struct {
  CUhostFn fn;
  void *data;
} hostfn;

enum { MAX_HOSTFNS = 1 << 20 };
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static hostfn *table; /* id - 1 -> (fn, data); entries are never removed (a pair keeps its id) */
static size_t table_len, table_cap;

uint64_t avec_hostfn_id(CUhostFn fn, void *data) {
  uint64_t id = 0;
  pthread_mutex_lock(&table_lock);
  for (size_t i = table_len; i-- > 0 && !id;) /* programs have a few host functions; the latest is likeliest */
    if (table[i].fn == fn && table[i].data == data) id = i + 1;
  if (!id && table_len < MAX_HOSTFNS) {
    if (table_len == table_cap) {
      size_t cap = table_cap ? table_cap * 2 : 16;
      hostfn *t = realloc(table, cap * sizeof *t);
      if (t) { table = t; table_cap = cap; }
    }
    if (table_len < table_cap) {
      table[table_len++] = (hostfn){fn, data};
      id = table_len;
    }
  }
  pthread_mutex_unlock(&table_lock);
  return id;
}

int avec_hostfn_lookup(uint64_t id, CUhostFn *fn, void **data) {
  int missing = 1;
  pthread_mutex_lock(&table_lock);
  if (id >= 1 && id <= table_len) {
    *fn = table[id - 1].fn;
    *data = table[id - 1].data;
    missing = 0;
  }
  pthread_mutex_unlock(&table_lock);
  return missing;
}

/* ---- the callback connection -------------------------------------------------------------------------- */
static int cb_fd = -1;

static int send_all(int fd, const void *a, size_t an, const void *b, size_t bn) {
  struct iovec v[2] = {{(void *)a, an}, {(void *)b, bn}}, *iov = v;
  int n = bn ? 2 : 1;
  while (n > 0) {
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    avec_iov_advance(&iov, &n, (size_t)w);
  }
  return 0;
}

static int recv_all(int fd, void *p, size_t n) {
  for (char *b = p; n;) {
    ssize_t r = recv(fd, b, n, MSG_WAITALL);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static int send_reply(uint32_t seq, const avec_callback *c, const void *data, size_t n) {
  struct {
    avec_frame_hdr h;
    avec_callback c;
  } f;
  avec_frame_hdr_make(&f.h, AVEC_OP_CALLBACK_REPLY, 0, seq, 0, (uint32_t)(sizeof f.c + n));
  f.c = *c;
  return send_all(cb_fd, &f, sizeof f, data, n);
}

/* Moves one mirror's bytes in pieces of at most AVEC_CHUNK while a callback is in progress (mapped.c). */
static int mirror_io(uint64_t dptr, void *host, uint64_t n, int to_device, void *arg) {
  uint32_t seq = *(uint32_t *)arg;
  for (uint64_t off = 0; off < n;) {
    uint64_t len = n - off < AVEC_CHUNK ? n - off : AVEC_CHUNK;
    avec_callback c = {0, dptr + off, len, to_device ? AVEC_CB_WRITE : AVEC_CB_READ, 0};
    if (send_reply(seq, &c, to_device ? (uint8_t *)host + off : NULL, to_device ? len : 0)) return -1;
    if (!to_device) {
      avec_frame_hdr h;
      avec_callback d;
      if (recv_all(cb_fd, &h, sizeof h) || h.opcode != AVEC_OP_CALLBACK || h.payload_len < sizeof d ||
          recv_all(cb_fd, &d, sizeof d) || d.kind != AVEC_CB_DATA || h.payload_len != sizeof d + d.size ||
          (d.size && (d.size != len || recv_all(cb_fd, (uint8_t *)host + off, len))))
        return -1;
      if (d.status) {
        LOG_WARN("host function: reading mirrored host memory back failed (%u)", d.status);
        return -1;
      }
    }
    off += len;
  }
  return 0;
}

static void *callback_thread(void *arg) {
  (void)arg;
  for (;;) {
    avec_frame_hdr h;
    avec_callback c;
    if (recv_all(cb_fd, &h, sizeof h) || h.magic != AVEC_WIRE_MAGIC || h.opcode != AVEC_OP_CALLBACK ||
        h.payload_len != sizeof c || recv_all(cb_fd, &c, sizeof c) || c.kind != AVEC_CB_RUN)
      break;
    uint32_t seq = h.request_id;
    CUhostFn fn;
    void *data;
    avec_callback done = {c.id, 0, 0, AVEC_CB_DONE, CUDA_SUCCESS};
    if (avec_hostfn_lookup(c.id, &fn, &data)) {
      LOG_ERROR("host function: the server named unknown id %llu", (unsigned long long)c.id);
      done.status = CUDA_ERROR_INVALID_VALUE;
    } else {
      avec_mapped_callback_before(mirror_io, &seq);
      fn(data);
      avec_mapped_callback_after(mirror_io, &seq);
    }
    if (send_reply(seq, &done, NULL, 0)) break;
  }
  LOG_DEBUG("host functions: callback connection closed");
  return NULL;
}

static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static int ready; /* 0: not tried, 1: open, -1: host functions cannot run remotely */

static int open_channel(const char **why) {
  avec_conn *c = &avec_sess.conn;
  if (!(c->features & AVEC_FEATURE_CALLBACKS)) {
    *why = "the server offers no callback connection (an older server, or it cannot route joined connections)";
    return -1;
  }
  int fd = avec_join_connect(c, c->session_id, &c->ext, AVEC_JOIN_CALLBACKS);
  if (fd < 0) {
    *why = "the callback connection could not connect";
    return -1;
  }
  avec_reply_hdr rep;
  uint32_t st = avec_conn_call(c, AVEC_OP_CALLBACK_ATTACH, 0, 0, NULL, 0, NULL, 0, &rep, sizeof rep, NULL);
  static char msg[AVEC_MAX_REFUSAL_MESSAGE + 1];
  /* The server answers the connection's HELLO whenever it tried to take it (success or refusal). */
  if ((st == 0 || st == AVEC_STATUS_REFUSED) && avec_join_answer(fd, msg, sizeof msg) == 0 && st == 0) {
    struct timeval none = {0, 0}; /* a host function may be asked for at any time, or never */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &none, sizeof none);
    cb_fd = fd;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread must not take the program's signals */
    pthread_t th;
    pthread_attr_t attr; /* detached from the start (pthread_detach would need a newer glibc) */
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int bad = pthread_create(&th, &attr, callback_thread, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!bad) return 0;
    *why = "no thread for the callback connection";
    cb_fd = -1;
  } else {
    *why = msg[0] ? msg : "the server did not take the callback connection";
  }
  close(fd);
  return -1;
}

CUresult avec_callbacks_ready(void) {
  CUresult r = avec_ctx_require(NULL);
  if (r) return r;
  pthread_mutex_lock(&ready_lock);
  if (!ready) {
    const char *why = NULL;
    ready = open_channel(&why) ? -1 : 1;
    if (ready < 0) LOG_WARN("host functions in remote graphs are not supported in this session: %s", why);
    else LOG_INFO("host functions: callback connection attached");
  }
  r = ready > 0 ? CUDA_SUCCESS : CUDA_ERROR_NOT_SUPPORTED;
  pthread_mutex_unlock(&ready_lock);
  return r;
}

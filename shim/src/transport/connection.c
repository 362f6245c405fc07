/* One data-plane connection: batching, direct bulk sends, and replies read with a backstop timeout. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "avec_codec.h"
#include "avec_log.h"
#include "avec_stats.h"
#include "avec_transport.h"

#define IDLE_FLUSH_NS 100000L /* flush a batch this long after its first frame */
/* A synchronous reply arrives one round trip plus the GPU work later: tens to hundreds of microseconds on
 * loopback, milliseconds over an edge link. Sleeping in poll() and being woken costs several microseconds,
 * and ~100 us on an idle virtual machine, so a reply wait spins before it sleeps, as the driver's default
 * scheduling spins while it waits for the GPU: for as long as avec_spin_window_ns (wire/avec_wire.h) says,
 * at least REPLY_SPIN_BASE_NS (a 100-kernel graph replay takes ~90 us of GPU time; a 50 us window woke up
 * from poll() on every replay) and at most AVEC_REPLY_SPIN_US (default 5000; GPU runs 28-29: a graph replay
 * through a 2 ms link cost 25-100 us less with the shim spinning through the round trip). */
#define REPLY_SPIN_BASE_NS 250000L
#define REPLY_SPIN_DEFAULT_MAX_NS 5000000L
/* A full socket buffer drains within microseconds while the server reads a bulk copy. */
#define SEND_SPIN_NS 50000L

static long mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void mark_dead(avec_conn *c, const char *why) {
  if (!c->dead) {
    c->dead = 1;
    LOG_ERROR("connection to %s lost: %s", c->endpoint, why);
    if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
  }
}

/* A stripe failed: the session's streams can no longer be matched up, so the session is over too. */
static void stripes_failed(avec_conn *c) {
  mark_dead(c, "a stripe connection failed");
}

static int send_iov(avec_conn *c, struct iovec *iov, int n) {
  long spin_until = 0;
  while (n > 0) {
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        /* A full socket buffer drains within microseconds while the server reads a bulk copy: retry
         * for a short while before sleeping in poll(), whose wake-up would stall the stream. */
        long now = mono_ns();
        if (!spin_until) spin_until = now + SEND_SPIN_NS;
        if (now < spin_until) {
          __builtin_ia32_pause();
          continue;
        }
        spin_until = 0;
        struct pollfd p = {c->fd, POLLOUT, 0};
        int r = poll(&p, 1, c->reply_timeout_ms);
        if (r > 0) continue;
      }
      mark_dead(c, strerror(errno));
      return -1;
    }
    avec_iov_advance(&iov, &n, (size_t)w);
  }
  return 0;
}

/* Reads exactly len bytes. The socket is non-blocking: recv first, poll only when nothing is there, so a
 * bulk transfer costs one syscall per burst; EOF and errors end the session, a silence longer than the
 * backstop timeout too. */
static int recv_all(avec_conn *c, void *buf, size_t len) {
  char *p = buf;
  long spin_until = 0, waited_since = 0;
  while (len) {
    ssize_t got = recv(c->fd, p, len, 0);
    if (got > 0) {
      p += got;
      len -= (size_t)got;
      spin_until = 0;
      /* a wait shorter than the base window (the bytes were there, or nearly) says nothing of the peer */
      long waited = waited_since ? mono_ns() - waited_since : 0;
      if (waited >= REPLY_SPIN_BASE_NS) c->last_wait_ns = waited;
      waited_since = 0;
      continue;
    }
    if (got == 0) {
      mark_dead(c, "server closed the connection");
      return -1;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      mark_dead(c, strerror(errno));
      return -1;
    }
    long now = mono_ns();
    if (!spin_until) {
      spin_until = now + avec_spin_window_ns(c->last_wait_ns, REPLY_SPIN_BASE_NS, c->reply_spin_ns);
      if (!waited_since) waited_since = now;
    }
    if (now < spin_until) {
      __builtin_ia32_pause();
      continue;
    }
    struct pollfd pfd = {c->fd, POLLIN, 0};
    int r = poll(&pfd, 1, c->reply_timeout_ms);
    if (r == 0) {
      mark_dead(c, "no reply within the timeout (AVEC_REPLY_TIMEOUT_S)");
      return -1;
    }
  }
  return 0;
}

void avec_conn_spin_short(avec_conn *c) {
  if (c->reply_spin_ns > REPLY_SPIN_BASE_NS) c->reply_spin_ns = REPLY_SPIN_BASE_NS;
}

static int discard(avec_conn *c, size_t len) {
  char tmp[4096];
  while (len) {
    size_t n = len < sizeof tmp ? len : sizeof tmp;
    if (recv_all(c, tmp, n)) return -1;
    len -= n;
  }
  return 0;
}

static uint32_t flush_locked(avec_conn *c) {
  if (c->dead) return AVEC_STATUS_LOST;
  if (!c->batch_len) return 0;
  struct iovec v = {c->batch, c->batch_len};
  c->batch_len = 0;
  c->flushes++;
  return send_iov(c, &v, 1) ? AVEC_STATUS_LOST : 0;
}

uint32_t avec_conn_flush(avec_conn *c) {
  pthread_mutex_lock(&c->lock);
  uint32_t st = flush_locked(c);
  pthread_mutex_unlock(&c->lock);
  return st;
}

/* Flushes a batch IDLE_FLUSH_NS after its first frame. While the program is busy the thread keeps polling
 * at that period (so posting a frame costs no wake-up syscall); after IDLE_ROUNDS empty rounds it sleeps on
 * the condition variable until a frame arrives in an empty batch. */
#define IDLE_ROUNDS 100
static void *timer_main(void *arg) {
  avec_conn *c = arg;
  int idle = IDLE_ROUNDS;
  pthread_mutex_lock(&c->lock);
  while (!c->stop_timer) {
    if ((!c->batch_len && idle >= IDLE_ROUNDS) || c->dead) {
      c->timer_waiting = 1;
      pthread_cond_wait(&c->batch_cv, &c->lock);
      c->timer_waiting = 0;
      idle = 0;
      continue;
    }
    pthread_mutex_unlock(&c->lock);
    struct timespec d = {0, IDLE_FLUSH_NS};
    nanosleep(&d, NULL);
    pthread_mutex_lock(&c->lock);
    if (c->batch_len) {
      flush_locked(c);
      idle = 0;
    } else {
      idle++;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return NULL;
}

void avec_conn_start_timer(avec_conn *c) {
  sigset_t all, old;
  sigfillset(&all);
  /* The timer thread must not take the program's signals. */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  if (pthread_create(&c->timer, NULL, timer_main, c) == 0) c->timer_started = 1;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

int avec_conn_open(avec_conn *c, const char *endpoint, int connect_timeout_ms) {
  char host[256], port[16];
  memset(c, 0, sizeof *c);
  c->fd = -1;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->batch_cv, NULL);
  snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
  const char *t = getenv("AVEC_REPLY_TIMEOUT_S");
  long secs = t ? strtol(t, NULL, 10) : 0;
  c->reply_timeout_ms = secs > 0 && secs < 2000000 ? (int)(secs * 1000) : 30 * 60 * 1000;
  const char *sp = getenv("AVEC_REPLY_SPIN_US");
  long us = sp && *sp ? strtol(sp, NULL, 10) : -1;
  c->reply_spin_ns = us >= 0 && us <= 1000000 ? us * 1000 : REPLY_SPIN_DEFAULT_MAX_NS;
  c->last_wait_ns = 0;
  c->next_id = 1;
  if (avec_endpoint_split(endpoint, host, sizeof host, port, sizeof port)) return -EINVAL;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_family = AF_UNSPEC;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai) return -EHOSTUNREACH;
  int err = -ECONNREFUSED;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      r = poll(&p, 1, connect_timeout_ms);
      int soerr = 0;
      socklen_t sl = sizeof soerr;
      if (r == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0) r = 0;
      else { errno = r == 0 ? ETIMEDOUT : (soerr ? soerr : errno); r = -1; }
    }
    if (r == 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      /* A server that vanishes without a FIN (node lost, link cut) is noticed by keepalive within about a
       * minute, long before the reply backstop, even while a call waits for a long kernel. */
      int idle = 30, intvl = 10, cnt = 3;
      setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
      /* Socket buffers are left to the kernel's autotuning: a fixed SO_RCVBUF would be capped by
       * net.core.rmem_max and disable tuning for long fat links. */
      c->fd = fd;
      break;
    }
    err = -errno;
    close(fd);
  }
  freeaddrinfo(res);
  if (c->fd < 0) return err;
  c->batch = malloc(AVEC_BATCH_CAP);
  if (!c->batch) return -ENOMEM;
  return 0;
}

void avec_conn_close(avec_conn *c) {
  if (pthread_mutex_trylock(&c->lock) != 0) {
    /* Another thread is inside a call (e.g. waiting for a long kernel) while the process exits: do not
     * wait for it. Shutting the socket down ends that call and tells the server the session is over. */
    if (c->fd >= 0) shutdown(c->fd, SHUT_RDWR);
    return;
  }
  if (!c->dead && c->fd >= 0) {
    avec_frame_hdr h;
    avec_frame_hdr_make(&h, AVEC_OP_GOODBYE, 0, 0, 0, 0);
    if (c->batch_len + sizeof h <= AVEC_BATCH_CAP) {
      memcpy(c->batch + c->batch_len, &h, sizeof h);
      c->batch_len += sizeof h;
    }
    flush_locked(c);
  }
  c->stop_timer = 1;
  c->dead = 1;
  pthread_cond_broadcast(&c->batch_cv);
  pthread_mutex_unlock(&c->lock);
  if (c->timer_started) pthread_join(c->timer, NULL);
  c->timer_started = 0;
  avec_stripes_close(c->stripes);
  c->stripes = NULL;
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

/* Counts a frame sent (and whether a fenced synchronize may look past it); caller holds the lock. */
static void count_frame(avec_conn *c, uint16_t op) {
  c->frames_sent++;
  c->quiet_sent += AVEC_OP_FENCE_QUIET(op) ? 1 : 0;
}

/* Appends or writes one frame; caller holds the lock. */
static uint32_t send_frame_locked(avec_conn *c, avec_frame_hdr *h, const void *a, size_t alen, const void *b,
                                  size_t blen, int direct) {
  size_t total = sizeof *h + alen + blen;
  if (!direct && total <= AVEC_BATCH_CAP && blen < AVEC_DIRECT_MIN) {
    if (c->batch_len + total > AVEC_BATCH_CAP && flush_locked(c)) return AVEC_STATUS_LOST;
    int was_empty = c->batch_len == 0;
    memcpy(c->batch + c->batch_len, h, sizeof *h);
    if (alen) memcpy(c->batch + c->batch_len + sizeof *h, a, alen);
    if (blen) memcpy(c->batch + c->batch_len + sizeof *h + alen, b, blen);
    c->batch_len += total;
    count_frame(c, h->opcode);
    if (was_empty && c->timer_waiting) pthread_cond_signal(&c->batch_cv);
    return 0;
  }
  /* Large or immediate: the batch goes first (order), then this frame straight from the caller's memory. */
  struct iovec v[4];
  int n = 0;
  if (c->batch_len) v[n++] = (struct iovec){c->batch, c->batch_len};
  v[n++] = (struct iovec){h, sizeof *h};
  if (alen) v[n++] = (struct iovec){(void *)a, alen};
  if (blen) v[n++] = (struct iovec){(void *)b, blen};
  c->batch_len = 0;
  count_frame(c, h->opcode);
  c->flushes++;
  return send_iov(c, v, n) ? AVEC_STATUS_LOST : 0;
}

uint32_t avec_conn_post(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a, size_t alen,
                        const void *b, size_t blen) {
  if (alen + blen > AVEC_MAX_PAYLOAD) return AVEC_STATUS_BAD_FRAME;
  avec_frame_hdr h;
  avec_frame_hdr_make(&h, op, flags, 0, ctx, (uint32_t)(alen + blen));
  pthread_mutex_lock(&c->lock);
  uint32_t st = c->dead ? AVEC_STATUS_LOST : send_frame_locked(c, &h, a, alen, b, blen, 0);
  avec_conn_post_seq = c->frames_sent;
  avec_conn_post_quiet = c->quiet_sent;
  pthread_mutex_unlock(&c->lock);
  avec_stats_posted(sizeof h + alen + blen);
  return st;
}

__thread uint64_t avec_conn_request_seq, avec_conn_request_quiet, avec_conn_post_seq, avec_conn_post_quiet;

void avec_conn_counts(avec_conn *c, uint64_t *frames, uint64_t *quiet) {
  pthread_mutex_lock(&c->lock);
  *frames = c->frames_sent;
  *quiet = c->quiet_sent;
  pthread_mutex_unlock(&c->lock);
}

static uint32_t request_locked(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a,
                               size_t alen, const void *b, size_t blen, uint32_t *id) {
  if (c->dead) return AVEC_STATUS_LOST;
  if (alen + blen > AVEC_MAX_PAYLOAD) return AVEC_STATUS_BAD_FRAME;
  *id = c->next_id++;
  if (!c->next_id) c->next_id = 1;
  avec_frame_hdr h;
  avec_frame_hdr_make(&h, op, flags, *id, ctx, (uint32_t)(alen + blen));
  uint32_t st = send_frame_locked(c, &h, a, alen, b, blen, 1);
  avec_conn_request_seq = c->frames_sent;
  avec_conn_request_quiet = c->quiet_sent;
  return st;
}

/* A DEVICE_OUTPUT frame's text (what the session's driver printed: device printf) goes to this process's
 * stdout, where the driver would have written it on a local GPU, through stdio so that it keeps its place
 * after what the program printed before. */
static uint32_t device_output(avec_conn *c, const avec_frame_hdr *h) {
  avec_reply_hdr r;
  if (h->payload_len > sizeof r + AVEC_DEVICE_OUTPUT_MAX || recv_all(c, &r, sizeof r)) {
    mark_dead(c, "malformed device output");
    return AVEC_STATUS_LOST;
  }
  char buf[4096];
  for (size_t left = h->payload_len - sizeof r; left;) {
    size_t n = left < sizeof buf ? left : sizeof buf;
    if (recv_all(c, buf, n)) return AVEC_STATUS_LOST;
    fwrite(buf, 1, n, stdout);
    left -= n;
  }
  fflush(stdout);
  return 0;
}

static uint32_t read_reply_hdr(avec_conn *c, uint32_t id, avec_frame_hdr *h) {
  for (;;) {
    if (recv_all(c, h, sizeof *h)) return AVEC_STATUS_LOST;
    int bad = avec_frame_hdr_check_reply(h, id);
    if (bad) {
      LOG_ERROR("malformed reply from %s (check %d, opcode %u, id %u, expected %u)", c->endpoint, bad,
                h->opcode, h->request_id, id);
      mark_dead(c, "protocol error");
      return AVEC_STATUS_LOST;
    }
    if (h->opcode != AVEC_OP_DEVICE_OUTPUT) return 0;
    uint32_t st = device_output(c, h);
    if (st) return st;
  }
}

uint32_t avec_conn_call(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a, size_t alen,
                        const void *b, size_t blen, void *reply, size_t reply_cap, size_t *reply_len) {
  uint32_t id;
  avec_frame_hdr h = {0};
  pthread_mutex_lock(&c->lock);
  uint32_t st = request_locked(c, op, flags, ctx, a, alen, b, blen, &id);
  long t0 = mono_ns();
  if (!st) st = read_reply_hdr(c, id, &h);
  if (!st) {
    size_t take = h.payload_len < reply_cap ? h.payload_len : reply_cap;
    if (recv_all(c, reply, take) || discard(c, h.payload_len - take)) st = AVEC_STATUS_LOST;
    else {
      if (reply_len) *reply_len = take;
      st = ((avec_reply_hdr *)reply)->status;
      if (h.flags & AVEC_F_MORE) {
        mark_dead(c, "unexpected multi-frame reply");
        st = AVEC_STATUS_LOST;
      }
    }
  }
  pthread_mutex_unlock(&c->lock);
  avec_stats_waited(sizeof h + alen + blen, sizeof h + h.payload_len, mono_ns() - t0);
  return st;
}

/* One compressed reply frame's data (avec_zchunk + zstd bytes, `data` in all) decompressed into dst+*got. */
static uint32_t read_compressed(avec_conn *c, void *dst, size_t dst_len, size_t *got, size_t data) {
  static __thread uint8_t *zin;
  avec_zchunk z;
  if (data < sizeof z || recv_all(c, &z, sizeof z)) {
    mark_dead(c, "malformed compressed reply");
    return AVEC_STATUS_LOST;
  }
  data -= sizeof z;
  if (avec_zchunk_check(&z, data) || *got + z.raw_len > dst_len) {
    mark_dead(c, "compressed reply out of bounds");
    return AVEC_STATUS_LOST;
  }
  if (!zin && !(zin = malloc(AVEC_MAX_PAYLOAD))) {
    mark_dead(c, "out of memory for a compressed reply");
    return AVEC_STATUS_LOST;
  }
  if (recv_all(c, zin, data)) return AVEC_STATUS_LOST;
  if (avec_codec_decompress(&z, zin, data, (uint8_t *)dst + *got)) {
    mark_dead(c, "compressed reply does not decompress");
    return AVEC_STATUS_LOST;
  }
  *got += z.raw_len;
  return 0;
}

uint32_t avec_conn_call_into(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a,
                             size_t alen, void *dst, size_t dst_len) {
  uint32_t id;
  avec_frame_hdr h;
  size_t got = 0, frames = 0;
  pthread_mutex_lock(&c->lock);
  uint32_t st = request_locked(c, op, flags, ctx, a, alen, NULL, 0, &id);
  long t0 = mono_ns();
  while (!st) {
    frames++;
    avec_reply_hdr r;
    if ((st = read_reply_hdr(c, id, &h))) break;
    if (recv_all(c, &r, sizeof r)) { st = AVEC_STATUS_LOST; break; }
    size_t data = h.payload_len - sizeof r;
    if (r.status == 0 && (h.flags & AVEC_F_COMPRESSED)) {
      if ((st = read_compressed(c, dst, dst_len, &got, data))) break;
      if (!(h.flags & AVEC_F_MORE)) {
        if (got != dst_len) { mark_dead(c, "reply shorter than requested"); st = AVEC_STATUS_LOST; }
        break;
      }
      continue;
    }
    if (r.status != 0) {
      if (discard(c, data)) { st = AVEC_STATUS_LOST; break; }
      st = r.status;
      if (!(h.flags & AVEC_F_MORE)) break;
      continue; /* drain the remaining frames of this reply */
    }
    if (got + data > dst_len) {
      mark_dead(c, "reply longer than requested");
      st = AVEC_STATUS_LOST;
      break;
    }
    if (recv_all(c, (char *)dst + got, data)) { st = AVEC_STATUS_LOST; break; }
    got += data;
    if (!(h.flags & AVEC_F_MORE)) {
      if (got != dst_len) {
        mark_dead(c, "reply shorter than requested");
        st = AVEC_STATUS_LOST;
      }
      break;
    }
  }
  pthread_mutex_unlock(&c->lock);
  avec_stats_waited(sizeof h + alen, got + frames * (sizeof h + sizeof(avec_reply_hdr)), mono_ns() - t0);
  return st;
}

uint32_t avec_conn_htod_striped(avec_conn *c, uint32_t flags, uint32_t ctx, uint64_t dst, uint32_t stream,
                                const void *src, size_t n) {
  uint32_t st = 0;
  size_t chunks = (n + AVEC_CHUNK - 1) / AVEC_CHUNK;
  pthread_mutex_lock(&c->lock);
  if (c->dead) st = AVEC_STATUS_LOST;
  /* The chunk frames go in order on the session's connection (batched: they are small); the server
   * takes each chunk's bytes off the stripes when it reaches its frame. */
  for (size_t k = 0; k < chunks && !st; k++) {
    size_t off = k * AVEC_CHUNK;
    avec_memcpy_striped m = {dst + off, n - off < AVEC_CHUNK ? n - off : AVEC_CHUNK, stream, 0};
    avec_frame_hdr h;
    avec_frame_hdr_make(&h, AVEC_OP_MEMCPY_HTOD_STRIPED, flags, 0, ctx, sizeof m);
    st = send_frame_locked(c, &h, &m, sizeof m, NULL, 0, 0);
  }
  if (!st) st = flush_locked(c);
  if (!st) {
    uint64_t seq = c->h2d_seq;
    c->h2d_seq += chunks;
    if (avec_stripes_transfer(c->stripes, 1, src, NULL, n, seq) != (long)chunks) {
      stripes_failed(c);
      st = AVEC_STATUS_LOST;
    }
  }
  pthread_mutex_unlock(&c->lock);
  avec_stats_posted(chunks * (sizeof(avec_frame_hdr) + sizeof(avec_memcpy_striped) + sizeof(avec_stripe_piece)) + n);
  return st;
}

uint32_t avec_conn_dtoh_striped(avec_conn *c, uint32_t flags, uint32_t ctx, uint64_t src, uint32_t stream,
                                void *dst, size_t n) {
  uint32_t id;
  avec_frame_hdr h = {0};
  avec_memcpy_striped m = {src, n, stream, 0};
  avec_reply_hdr rep = {0, 0};
  pthread_mutex_lock(&c->lock);
  uint32_t st = request_locked(c, AVEC_OP_MEMCPY_DTOH_STRIPED, flags, ctx, &m, sizeof m, NULL, 0, &id);
  long t0 = mono_ns();
  if (!st) {
    long got = avec_stripes_transfer(c->stripes, 0, NULL, dst, n, c->d2h_seq);
    if (got < 0) {
      stripes_failed(c);
      st = AVEC_STATUS_LOST;
    } else {
      c->d2h_seq += (uint64_t)got;
    }
  }
  if (!st) st = read_reply_hdr(c, id, &h);
  if (!st) {
    if (h.payload_len != sizeof rep || recv_all(c, &rep, sizeof rep)) {
      mark_dead(c, "malformed striped copy reply");
      st = AVEC_STATUS_LOST;
    } else {
      st = rep.status;
    }
  }
  pthread_mutex_unlock(&c->lock);
  avec_stats_waited(sizeof h + sizeof m, sizeof h + sizeof rep + n, mono_ns() - t0);
  return st;
}

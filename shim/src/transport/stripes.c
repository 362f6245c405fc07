/* Stripe connections: extra TCP connections of one session that carry the slices of large copies, one
 * worker thread each, so that a copy is not bound to what one TCP stream (one core copying on each end)
 * moves. The server grants them in the HELLO reply with a random per-session token; each stripe's HELLO
 * presents it, and STRIPE_ATTACH on the session's connection makes the session take them
 * (docs/protocol.md, "Stripes"). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "avec_log.h"
#include "avec_transport.h"

enum { JOB_NONE, JOB_SEND, JOB_RECV, JOB_QUIT };

typedef struct avec_stripes {
  int n;
  int fd[AVEC_MAX_STRIPES];
  pthread_t th[AVEC_MAX_STRIPES];
  int started;
  pthread_mutex_t mu;
  pthread_cond_t cv, done_cv;
  uint64_t gen;
  int job;
  const uint8_t *src;
  uint8_t *dst;
  size_t total;
  uint64_t seq0;
  int pending, failed;
  long chunks_got[AVEC_MAX_STRIPES];
} avec_stripes;

typedef struct {
  avec_stripes *s;
  int i;
} worker_arg;
static worker_arg args[AVEC_MAX_STRIPES]; /* one session per process: one set of stripes */

static size_t slice_begin(size_t size, int i, int n) { return (size_t)((unsigned __int128)size * (unsigned)i / (unsigned)n); }

static int send_all_fd(int fd, struct iovec *iov, int n) {
  while (n > 0) {
    struct msghdr m = {0};
    m.msg_iov = iov;
    m.msg_iovlen = (size_t)n;
    ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    avec_iov_advance(&iov, &n, (size_t)w);
  }
  return 0;
}

static int recv_all_fd(int fd, void *p, size_t n) {
  char *b = p;
  while (n) {
    ssize_t r = recv(fd, b, n, MSG_WAITALL);
    if (r > 0) {
      b += r;
      n -= (size_t)r;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    return -1; /* EOF, error, or SO_RCVTIMEO */
  }
  return 0;
}

/* One stripe's share of a transfer: its slice of every chunk. Returns the chunks done, or -1. */
static long run_share(avec_stripes *s, int i) {
  long chunks = (long)((s->total + AVEC_CHUNK - 1) / AVEC_CHUNK);
  for (long k = 0; k < chunks; k++) {
    size_t off = (size_t)k * AVEC_CHUNK, cs = s->total - off < AVEC_CHUNK ? s->total - off : AVEC_CHUNK;
    size_t b = slice_begin(cs, i, s->n), e = slice_begin(cs, i + 1, s->n);
    if (s->job == JOB_SEND) {
      avec_stripe_piece p = {AVEC_STRIPE_PIECE_MAGIC, (uint32_t)(e - b), s->seq0 + (uint64_t)k};
      struct iovec v[2] = {{&p, sizeof p}, {(void *)(s->src + off + b), e - b}};
      if (send_all_fd(s->fd[i], v, e > b ? 2 : 1)) return -1;
    } else {
      avec_stripe_piece p;
      if (recv_all_fd(s->fd[i], &p, sizeof p) || p.magic != AVEC_STRIPE_PIECE_MAGIC) {
        LOG_ERROR("stripe %d: no piece header for chunk %ld (%s)", i, k, strerror(errno));
        return -1;
      }
      if (p.len == 0 && p.seq == ~0ull) return k; /* the server stopped: the status says why */
      if (p.len != e - b || p.seq != s->seq0 + (uint64_t)k) {
        LOG_ERROR("stripe %d: chunk %ld: piece of %u bytes, seq %llu; expected %zu bytes, seq %llu", i, k, p.len,
                  (unsigned long long)p.seq, e - b, (unsigned long long)(s->seq0 + (uint64_t)k));
        return -1;
      }
      if (e > b && recv_all_fd(s->fd[i], s->dst + off + b, e - b)) {
        LOG_ERROR("stripe %d: chunk %ld data: %s", i, k, strerror(errno));
        return -1;
      }
    }
  }
  if (s->job == JOB_SEND) return chunks;
  /* A complete D2H copy: the server sends nothing more on the stripes for it. */
  return chunks;
}

static void *worker(void *arg) {
  worker_arg *a = arg;
  avec_stripes *s = a->s;
  uint64_t seen = 0;
  pthread_mutex_lock(&s->mu);
  for (;;) {
    while (s->gen == seen) pthread_cond_wait(&s->cv, &s->mu);
    seen = s->gen;
    if (s->job == JOB_QUIT) break;
    pthread_mutex_unlock(&s->mu);
    long got = run_share(s, a->i);
    pthread_mutex_lock(&s->mu);
    s->chunks_got[a->i] = got;
    if (got < 0) s->failed = 1;
    if (--s->pending == 0) pthread_cond_signal(&s->done_cv);
  }
  pthread_mutex_unlock(&s->mu);
  return NULL;
}

long avec_stripes_transfer(avec_stripes *s, int send, const void *src, void *dst, size_t n, uint64_t seq0) {
  pthread_mutex_lock(&s->mu);
  if (s->failed) {
    pthread_mutex_unlock(&s->mu);
    return -1;
  }
  s->job = send ? JOB_SEND : JOB_RECV;
  s->src = src;
  s->dst = dst;
  s->total = n;
  s->seq0 = seq0;
  s->pending = s->n;
  s->gen++;
  pthread_cond_broadcast(&s->cv);
  while (s->pending) pthread_cond_wait(&s->done_cv, &s->mu);
  long got = s->failed ? -1 : s->chunks_got[0];
  for (int i = 1; i < s->n && got >= 0; i++)
    if (s->chunks_got[i] != got) got = -1; /* the stripes disagree where the server stopped */
  if (got < 0) s->failed = 1;
  pthread_mutex_unlock(&s->mu);
  return got;
}

void avec_stripes_close(avec_stripes *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++)
    if (s->fd[i] >= 0) shutdown(s->fd[i], SHUT_RDWR);
  if (s->started) {
    pthread_mutex_lock(&s->mu);
    s->job = JOB_QUIT;
    s->gen++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->started; i++) pthread_join(s->th[i], NULL);
  }
  for (int i = 0; i < s->n; i++)
    if (s->fd[i] >= 0) close(s->fd[i]);
  free(s);
}

int avec_join_connect(avec_conn *c, uint64_t session_id, const avec_hello_ext *ext, uint32_t index) {
  char host[256], port[16];
  if (avec_endpoint_split(c->endpoint, host, sizeof host, port, sizeof port)) return -1;
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host, port, &hints, &res)) return -1;
  int fd = -1;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() too */
    if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd < 0) return -1;
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {c->reply_timeout_ms / 1000, (c->reply_timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct {
    avec_frame_hdr h;
    avec_hello hello;
    avec_stripe_join j;
  } req;
  memset(&req, 0, sizeof req);
  avec_frame_hdr_make(&req.h, AVEC_OP_HELLO, 0, 1, 0, sizeof req.hello + sizeof req.j);
  req.hello.wire_version = AVEC_WIRE_VERSION;
  req.hello.flags = AVEC_HELLO_STRIPE_JOIN;
  req.hello.client_pid = (uint32_t)getpid();
  req.hello.ticket_len = sizeof req.j;
  gethostname(req.hello.client_host, sizeof req.hello.client_host - 1);
  req.j.session_id = session_id;
  memcpy(req.j.token, ext->stripe_token, sizeof req.j.token);
  req.j.index = index;
  struct iovec v = {&req, sizeof req};
  if (send_all_fd(fd, &v, 1)) {
    close(fd);
    return -1;
  }
  return fd;
}

int avec_join_answer(int fd, char *msg, size_t msg_cap) {
  avec_frame_hdr h;
  uint8_t payload[sizeof(avec_hello_reply) + sizeof(avec_hello_refusal) + AVEC_MAX_REFUSAL_MESSAGE];
  if (recv_all_fd(fd, &h, sizeof h) || avec_frame_hdr_check_reply(&h, 1) || h.payload_len > sizeof payload ||
      recv_all_fd(fd, payload, h.payload_len)) {
    snprintf(msg, msg_cap, "no answer to the stripe's HELLO");
    return -1;
  }
  avec_hello_reply r;
  memcpy(&r, payload, sizeof r < h.payload_len ? sizeof r : h.payload_len);
  if (h.payload_len >= sizeof r.r && r.r.status == 0) return 0;
  uint32_t reason;
  avec_hello_refusal_decode(payload, h.payload_len, &reason, msg, msg_cap);
  return -1;
}

int avec_stripes_open(avec_conn *c, uint64_t session_id, const avec_hello_ext *ext, char *msg, size_t msg_cap) {
  if (msg_cap) msg[0] = 0;
  int n = (int)ext->stripes;
  if (n <= 0 || n > (int)AVEC_MAX_STRIPES) return -1;
  avec_stripes *s = calloc(1, sizeof *s);
  if (!s) return -1;
  s->n = n;
  for (int i = 0; i < n; i++) s->fd[i] = -1;
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_cond_init(&s->done_cv, NULL);
  int ok = 1;
  for (int i = 0; i < n && ok; i++) ok = (s->fd[i] = avec_join_connect(c, session_id, ext, (uint32_t)i)) >= 0;
  avec_stripe_attach a = {(uint32_t)n, 0};
  avec_reply_hdr rep;
  uint32_t st = ok ? avec_conn_call(c, AVEC_OP_STRIPE_ATTACH, 0, 0, &a, sizeof a, NULL, 0, &rep, sizeof rep, NULL)
                   : AVEC_STATUS_LOST;
  /* Every stripe that reached the server is answered, whether the attach worked or not. */
  for (int i = 0; i < n && ok; i++)
    if (avec_join_answer(s->fd[i], msg, msg_cap)) ok = 0;
  if (!ok || st) {
    if (!msg[0] && msg_cap) snprintf(msg, msg_cap, "%s", ok ? "the server did not take the stripes" : "a stripe could not connect");
    LOG_WARN("stripes: %s (status %u); copies use the one connection", msg, st);
    avec_stripes_close(s);
    return -1;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the workers must not take the program's signals */
  for (int i = 0; i < n; i++) {
    args[i] = (worker_arg){s, i};
    if (pthread_create(&s->th[i], NULL, worker, &args[i])) break;
    s->started++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (s->started != n) {
    avec_stripes_close(s);
    return -1;
  }
  c->stripes = s;
  LOG_INFO("stripes: %d connections attached", n);
  return 0;
}

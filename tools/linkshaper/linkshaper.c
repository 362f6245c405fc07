/* linkshaper: a TCP proxy that makes loopback look like an edge link, for machines without `tc`.
 *
 *   linkshaper --listen HOST:PORT --connect HOST:PORT [--delay-ms D] [--rate-mbit R] [--queue-kb Q]
 *              [--shared-link] [--precise] [--quiet]
 *
 * Each accepted connection gets its own upstream connection. Each direction is modelled as a link with
 * a bandwidth R (Mbit/s, 0 = unlimited) and a one-way propagation delay D (ms, fractional allowed):
 * a segment that arrives at time t leaves the link's "wire" at depart = max(t, wire_free) + bytes*8/R
 * and is delivered at depart + D. So an 8-byte ping-pong sees 2*D of added round trip and a bulk stream
 * sees at most R. Data waiting in the model (in flight on the wire plus queued) is bounded by Q KiB
 * (default: the bandwidth-delay product plus 256 KiB); past that the proxy stops reading, so the sender
 * sees back-pressure as it would from a real bottleneck.
 *
 * Reader thread per direction: read, cut into segments of <= 16 KiB, stamp each with its delivery time,
 * queue. Writer thread per direction: wait until the head's delivery time, write it. EOF and errors
 * propagate (half-close, then close). Both sockets use TCP_NODELAY.
 *
 * --shared-link: all connections share one wire per direction (one rate R between them, as on a real
 * link), so that N parallel connections (avec's stripes, N-stream TCP) cannot get N times the rate.
 *
 * Delivery times: the writers sleep with a timer slack of 1 ns (the default 50 us would add up to that much,
 * at random, to every segment). A sleeping thread is still woken late by tens of microseconds on an idle
 * (virtual) machine, which makes round trips through the proxy swing between runs; --precise sleeps until
 * PRECISE_SPIN_NS before a delivery time and spins the rest (a busy core per direction while traffic
 * flows: for benchmarks on machines with cores to spare, not for small CI machines). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SEG_MAX (16 * 1024)
#define READ_MAX (64 * 1024)

static double g_delay_s = 0;    /* one-way propagation delay */
static double g_rate_bps = 0;   /* bits per second; 0 = unlimited */
static size_t g_queue_cap = 0;  /* bytes */
static int g_quiet = 0;
static int g_shared = 0;           /* one wire per direction for all connections */
static int g_precise = 0;          /* spin the last stretch before a delivery time */
#define PRECISE_SPIN_NS 200000
static pthread_mutex_t g_wire_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t g_wire_free_ns[2];  /* --shared-link: when each direction's wire is free */
static struct sockaddr_storage g_up;
static socklen_t g_up_len;

typedef struct seg {
  struct seg *next;
  int64_t deliver_ns;  /* CLOCK_MONOTONIC */
  size_t len;          /* 0 = end of stream */
  char data[];
} seg;

typedef struct pipe_dir {
  int in, out;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  seg *head, *tail;
  size_t queued;       /* bytes in the model */
  int64_t wire_free_ns;
  int closed;          /* writer failed: reader should stop */
  struct conn *conn;
} pipe_dir;

typedef struct conn {
  pipe_dir dir[2];
  atomic_int live_threads;
  int fds[2];
} conn;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static void sleep_until(int64_t ns) {
  int64_t wake = g_precise ? ns - PRECISE_SPIN_NS : ns;
  struct timespec t = {.tv_sec = wake / 1000000000, .tv_nsec = wake % 1000000000};
  if (wake > now_ns())
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL) == EINTR) {}
  while (g_precise && now_ns() < ns) {}
}

static void release(conn *c) {
  if (atomic_fetch_sub(&c->live_threads, 1) == 1) {
    close(c->fds[0]);
    close(c->fds[1]);
    for (int i = 0; i < 2; i++) {
      seg *s = c->dir[i].head;
      while (s) { seg *n = s->next; free(s); s = n; }
      pthread_mutex_destroy(&c->dir[i].mu);
      pthread_cond_destroy(&c->dir[i].cv);
    }
    free(c);
  }
}

static void enqueue(pipe_dir *d, const char *data, size_t len) {
  seg *s = malloc(sizeof(seg) + len);
  if (!s) abort();
  s->next = NULL;
  s->len = len;
  if (len) memcpy(s->data, data, len);
  pthread_mutex_lock(&d->mu);
  while (len && d->queued + len > g_queue_cap && d->queued > 0 && !d->closed) pthread_cond_wait(&d->cv, &d->mu);
  int64_t t = now_ns();
  int64_t ser = g_rate_bps > 0 ? (int64_t)(len * 8.0 / g_rate_bps * 1e9) : 0;
  int64_t start;
  if (g_shared) {
    int which = d == &d->conn->dir[0] ? 0 : 1;
    pthread_mutex_lock(&g_wire_mu);
    start = g_wire_free_ns[which] > t ? g_wire_free_ns[which] : t;
    g_wire_free_ns[which] = start + ser;
    pthread_mutex_unlock(&g_wire_mu);
  } else {
    start = d->wire_free_ns > t ? d->wire_free_ns : t;
    d->wire_free_ns = start + ser;
  }
  s->deliver_ns = start + ser + (int64_t)(g_delay_s * 1e9);
  if (d->tail) d->tail->next = s; else d->head = s;
  d->tail = s;
  d->queued += len;
  pthread_cond_broadcast(&d->cv);
  pthread_mutex_unlock(&d->mu);
}

static void *reader(void *arg) {
  pipe_dir *d = arg;
  char *buf = malloc(READ_MAX);
  for (;;) {
    ssize_t r = read(d->in, buf, READ_MAX);
    if (r <= 0) break;
    pthread_mutex_lock(&d->mu);
    int closed = d->closed;
    pthread_mutex_unlock(&d->mu);
    if (closed) break;
    for (ssize_t off = 0; off < r; off += SEG_MAX) {
      size_t n = (size_t)(r - off) < SEG_MAX ? (size_t)(r - off) : SEG_MAX;
      enqueue(d, buf + off, n);
    }
  }
  enqueue(d, NULL, 0); /* end of stream, delivered after the data before it */
  free(buf);
  release(d->conn);
  return NULL;
}

static int full_write(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) return -1;
    p += w; n -= (size_t)w;
  }
  return 0;
}

static void *writer(void *arg) {
  pipe_dir *d = arg;
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  for (;;) {
    pthread_mutex_lock(&d->mu);
    while (!d->head) pthread_cond_wait(&d->cv, &d->mu);
    seg *s = d->head;
    pthread_mutex_unlock(&d->mu);
    if (s->deliver_ns > now_ns()) sleep_until(s->deliver_ns);
    int eof = s->len == 0;
    int bad = !eof && full_write(d->out, s->data, s->len);
    pthread_mutex_lock(&d->mu);
    d->head = s->next;
    if (!d->head) d->tail = NULL;
    d->queued -= s->len;
    if (bad) d->closed = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    free(s);
    if (eof || bad) break;
  }
  /* Half-close towards the receiver; on a write error also stop the opposite reader's source. */
  shutdown(d->out, SHUT_WR);
  pthread_mutex_lock(&d->mu);
  int bad = d->closed;
  pthread_mutex_unlock(&d->mu);
  if (bad) shutdown(d->in, SHUT_RDWR);
  release(d->conn);
  return NULL;
}

static void parse_hostport(const char *hp, struct sockaddr_storage *ss, socklen_t *len) {
  char host[256];
  snprintf(host, sizeof host, "%s", hp);
  char *c = strrchr(host, ':');
  if (!c) { fprintf(stderr, "linkshaper: want HOST:PORT, got %s\n", hp); exit(2); }
  *c = 0;
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
  if (getaddrinfo(host, c + 1, &hints, &res)) { fprintf(stderr, "linkshaper: cannot resolve %s\n", hp); exit(2); }
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  *len = res->ai_addrlen;
  freeaddrinfo(res);
}

static void start_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 256 * 1024);
  if (pthread_create(&t, &a, fn, arg)) abort();
  pthread_attr_destroy(&a);
}

int main(int argc, char **argv) {
  const char *listen_at = NULL, *connect_to = NULL;
  double delay_ms = 0, rate_mbit = 0;
  long queue_kb = -1;
  static struct option opts[] = {{"listen", 1, 0, 'l'},   {"connect", 1, 0, 'c'}, {"delay-ms", 1, 0, 'd'},
                                 {"rate-mbit", 1, 0, 'r'}, {"queue-kb", 1, 0, 'q'}, {"quiet", 0, 0, 'Q'},
                                 {"shared-link", 0, 0, 'S'}, {"precise", 0, 0, 'P'},   {"help", 0, 0, 'h'},
                                 {0, 0, 0, 0}};
  int o;
  while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (o) {
      case 'l': listen_at = optarg; break;
      case 'c': connect_to = optarg; break;
      case 'd': delay_ms = atof(optarg); break;
      case 'r': rate_mbit = atof(optarg); break;
      case 'q': queue_kb = atol(optarg); break;
      case 'Q': g_quiet = 1; break;
      case 'S': g_shared = 1; break;
      case 'P': g_precise = 1; break;
      default:
        fprintf(stderr, "usage: linkshaper --listen HOST:PORT --connect HOST:PORT [--delay-ms D] [--rate-mbit R] "
                        "[--queue-kb Q] [--shared-link] [--precise] [--quiet]\n");
        return o == 'h' ? 0 : 2;
    }
  }
  if (!listen_at || !connect_to || delay_ms < 0 || rate_mbit < 0) {
    fprintf(stderr, "linkshaper: --listen and --connect are required (see --help)\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  g_delay_s = delay_ms / 1000.0;
  g_rate_bps = rate_mbit * 1e6;
  double bdp = g_rate_bps > 0 ? g_rate_bps / 8 * g_delay_s : 0;
  g_queue_cap = queue_kb >= 0 ? (size_t)queue_kb * 1024 : (size_t)bdp + 256 * 1024;
  if (g_queue_cap < SEG_MAX) g_queue_cap = SEG_MAX;
  parse_hostport(connect_to, &g_up, &g_up_len);
  struct sockaddr_storage la;
  socklen_t ll;
  parse_hostport(listen_at, &la, &ll);
  int ls = socket(la.ss_family, SOCK_STREAM, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(ls, (struct sockaddr *)&la, ll) || listen(ls, 128)) { perror("linkshaper: listen"); return 1; }
  if (!g_quiet)
    fprintf(stderr, "linkshaper: %s -> %s, one-way delay %.3f ms, rate %s%.0f Mbit/s, queue %zu KiB\n", listen_at,
            connect_to, delay_ms, rate_mbit > 0 ? "" : "unlimited ", rate_mbit, g_queue_cap / 1024);
  for (;;) {
    int cfd = accept(ls, NULL, NULL);
    if (cfd < 0) continue;
    int ufd = socket(g_up.ss_family, SOCK_STREAM, 0);
    if (connect(ufd, (struct sockaddr *)&g_up, g_up_len)) {
      if (!g_quiet) perror("linkshaper: upstream connect");
      close(cfd); close(ufd);
      continue;
    }
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(ufd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn *c = calloc(1, sizeof *c);
    c->fds[0] = cfd; c->fds[1] = ufd;
    atomic_init(&c->live_threads, 4);
    for (int i = 0; i < 2; i++) {
      pipe_dir *d = &c->dir[i];
      d->in = i == 0 ? cfd : ufd;
      d->out = i == 0 ? ufd : cfd;
      d->conn = c;
      pthread_mutex_init(&d->mu, NULL);
      pthread_cond_init(&d->cv, NULL);
    }
    for (int i = 0; i < 2; i++) { start_thread(reader, &c->dir[i]); start_thread(writer, &c->dir[i]); }
  }
}

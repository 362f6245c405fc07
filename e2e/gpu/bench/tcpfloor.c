/* tcpfloor: the physical floor of the data path — one-stream TCP bandwidth and 8-byte ping-pong RTT.
 *   tcpfloor serve PORT                 accept connections on 127.0.0.1:PORT (runs until killed)
 *   tcpfloor bw HOST:PORT MIB [--big|--cold-src]
 *                                       send MIB MiB on one stream, print MB/s (until the sink's ack);
 *                                       default: 1 MiB buffers on both sides (hot in cache);
 *                                       --cold-src: send from one MIB-sized buffer (each byte once, as a large
 *                                       cudaMemcpy source is read), receive into a reused 1 MiB buffer;
 *                                       --big: MIB-sized buffers on both sides
 *   tcpfloor bwn HOST:PORT MIB N        the same MIB split over N parallel streams (one thread each,
 *                                       --cold-src: each from its own part of one MIB buffer), print the
 *                                       aggregate MB/s (tcp_bw_N_streams_MBps): the floor of N stripes
 *   tcpfloor rtt HOST:PORT N            N ping-pongs of 8 bytes, print median/p10/p99 in microseconds
 * Both sides set TCP_NODELAY, as the shim and the executor do. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int full_read(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return -1;
    p += r; n -= (size_t)r;
  }
  return 0;
}
static int full_write(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) {
    ssize_t r = write(fd, p, n);
    if (r <= 0) return -1;
    p += r; n -= (size_t)r;
  }
  return 0;
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void *serve_conn(void *arg) {
  int fd = (int)(intptr_t)arg;
  nodelay(fd);
  char mode;
  if (full_read(fd, &mode, 1) == 0) {
    if (mode == 'B') {
      static __thread char buf[1 << 20];
      uint64_t total = 0;
      ssize_t r;
      while ((r = read(fd, buf, sizeof buf)) > 0) total += (uint64_t)r;
      full_write(fd, &total, 8);
    } else if (mode == 'L') {  /* large region: the announced size, written through once (cold memory) */
      uint64_t size = 0, total = 0;
      if (full_read(fd, &size, 8) == 0 && size > 0 && size <= (8ull << 30)) {
        char *region = malloc(size);
        ssize_t r;
        if (region) memset(region, 0, size);  /* touched before the clock starts, like reused staging */
        full_write(fd, "R", 1);
        if (region)
          while ((r = read(fd, region + (total % size), (size_t)(size - total % size) < (4u << 20) ? (size_t)(size - total % size) : (4u << 20))) > 0)
            total += (uint64_t)r;
        free(region);
      }
      full_write(fd, &total, 8);
    } else if (mode == 'P') {
      uint64_t v;
      while (full_read(fd, &v, 8) == 0)
        if (full_write(fd, &v, 8)) break;
    }
  }
  close(fd);
  return NULL;
}

static int connect_to(const char *hp) {
  char host[256];
  snprintf(host, sizeof host, "%s", hp);
  char *c = strrchr(host, ':');
  if (!c) { fprintf(stderr, "tcpfloor: want HOST:PORT\n"); exit(2); }
  *c = 0;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(c + 1))};
  inet_pton(AF_INET, host, &a.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("tcpfloor: connect"); exit(1); }
  nodelay(fd);
  return fd;
}

typedef struct {
  const char *hp;
  char *buf;
  uint64_t bytes, acked;
  int cold, fd;
} stream_job;

static void *stream_send(void *arg) {
  stream_job *j = arg;
  size_t chunk = 1 << 20;
  for (uint64_t sent = 0; sent < j->bytes; sent += chunk) {
    size_t n = j->bytes - sent < chunk ? (size_t)(j->bytes - sent) : chunk;
    if (full_write(j->fd, j->buf + (j->cold ? sent : 0), n)) break;
  }
  shutdown(j->fd, SHUT_WR);
  if (full_read(j->fd, &j->acked, 8)) j->acked = 0;
  return NULL;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "serve")) {
    int ls = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 64)) { perror("tcpfloor: bind"); return 1; }
    for (;;) {
      int fd = accept(ls, NULL, NULL);
      if (fd < 0) continue;
      pthread_t t;
      pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
      pthread_detach(t);
    }
  }
  if (argc >= 4 && !strcmp(argv[1], "bw")) {
    int fd = connect_to(argv[2]);
    uint64_t total = (uint64_t)atoll(argv[3]) << 20, acked = 0;
    int big = argc >= 5 && !strcmp(argv[4], "--big");
    int cold = argc >= 5 && !strcmp(argv[4], "--cold-src");
    size_t chunk = 1 << 20;
    char *buf = malloc(big || cold ? total : chunk);
    memset(buf, 0x5a, big || cold ? total : chunk);  /* touched once so page faults are not timed */
    full_write(fd, big ? "L" : "B", 1);
    if (big) {
      char ready;
      full_write(fd, &total, 8);
      full_read(fd, &ready, 1);
    }
    double t0 = now_s();
    for (uint64_t sent = 0; sent < total; sent += chunk) full_write(fd, buf + (big || cold ? sent : 0), chunk);
    shutdown(fd, SHUT_WR);
    if (full_read(fd, &acked, 8) || acked != total) { fprintf(stderr, "tcpfloor: short ack\n"); return 1; }
    double dt = now_s() - t0;
    printf("%s %.1f\n", big ? "tcp_bw_bigbuf_MBps" : cold ? "tcp_bw_coldsrc_MBps" : "tcp_bw_MBps", total / dt / 1e6);
    printf("tcp_bw_bytes %llu seconds %.4f\n", (unsigned long long)total, dt);
    return 0;
  }
  if (argc >= 5 && !strcmp(argv[1], "bwn")) {
    uint64_t total = (uint64_t)atoll(argv[3]) << 20;
    int n = atoi(argv[4]), cold = argc >= 6 && !strcmp(argv[5], "--cold-src");
    if (n < 1 || n > 64) { fprintf(stderr, "tcpfloor: 1..64 streams\n"); return 2; }
    stream_job jobs[64];
    pthread_t th[64];
    char *buf = malloc(cold ? total : (size_t)n << 20);
    memset(buf, 0x5a, cold ? total : (size_t)n << 20);
    for (int i = 0; i < n; i++) {
      uint64_t b = total * (uint64_t)i / (uint64_t)n, e = total * (uint64_t)(i + 1) / (uint64_t)n;
      jobs[i] = (stream_job){argv[2], cold ? buf + b : buf + ((size_t)i << 20), e - b, 0, cold, connect_to(argv[2])};
      full_write(jobs[i].fd, "B", 1);
    }
    double t0 = now_s();
    for (int i = 0; i < n; i++) pthread_create(&th[i], NULL, stream_send, &jobs[i]);
    uint64_t acked = 0;
    for (int i = 0; i < n; i++) { pthread_join(th[i], NULL); acked += jobs[i].acked; }
    double dt = now_s() - t0;
    if (acked != total) { fprintf(stderr, "tcpfloor: short ack\n"); return 1; }
    printf("tcp_bw_%d_streams%s_MBps %.1f\n", n, cold ? "_coldsrc" : "", total / dt / 1e6);
    return 0;
  }
  if (argc >= 4 && !strcmp(argv[1], "rtt")) {
    int fd = connect_to(argv[2]), n = atoi(argv[3]);
    full_write(fd, "P", 1);
    double *s = malloc(sizeof(double) * (size_t)n);
    uint64_t v = 0;
    for (int i = 0; i < 20; i++) { full_write(fd, &v, 8); full_read(fd, &v, 8); }  /* warm-up */
    for (int i = 0; i < n; i++) {
      double t0 = now_s();
      v = (uint64_t)i;
      if (full_write(fd, &v, 8) || full_read(fd, &v, 8) || v != (uint64_t)i) {
        fprintf(stderr, "tcpfloor: ping %d failed or came back altered\n", i);
        return 1;
      }
      s[i] = (now_s() - t0) * 1e6;
    }
    qsort(s, (size_t)n, sizeof(double), cmp_d);
    printf("tcp_rtt_us_median %.2f\n", s[n / 2]);
    printf("tcp_rtt_us_p10 %.2f p99 %.2f n %d\n", s[n / 10], s[n * 99 / 100], n);
    return 0;
  }
  fprintf(stderr, "usage: tcpfloor serve PORT | bw HOST:PORT MIB | rtt HOST:PORT N\n");
  return 2;
}

/* avec_ping: the data-plane protocol's own round trip. Opens a session (HELLO, ticket from AVEC_TICKET
 * when set), then N PING frames, each waiting for its reply; prints median/p10/p99 in microseconds.
 *   avec_ping HOST:PORT N */
#define _GNU_SOURCE
#include "avec_wire.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec * 1e-3;
}
static int full_read(int fd, void *buf, size_t n) {
  char *p = buf;
  while (n) { ssize_t r = read(fd, p, n); if (r <= 0) return -1; p += r; n -= (size_t)r; }
  return 0;
}
static int full_write(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n) { ssize_t r = write(fd, p, n); if (r <= 0) return -1; p += r; n -= (size_t)r; }
  return 0;
}
static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}
/* Reads one reply frame; returns its status word (or -1 on a broken connection). */
static long read_reply(int fd, uint32_t want_id, char *payload, size_t cap) {
  avec_frame_hdr h;
  if (full_read(fd, &h, sizeof h)) return -1;
  if (h.magic != AVEC_WIRE_MAGIC || h.payload_len > cap || h.request_id != want_id) {
    fprintf(stderr, "avec_ping: unexpected frame (magic %08x len %u id %u)\n", h.magic, h.payload_len, h.request_id);
    return -1;
  }
  if (full_read(fd, payload, h.payload_len)) return -1;
  return h.payload_len >= 4 ? (long)((avec_reply_hdr *)payload)->status : 0;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: avec_ping HOST:PORT N\n"); return 2; }
  char host[256];
  snprintf(host, sizeof host, "%s", argv[1]);
  char *c = strrchr(host, ':');
  if (!c) return 2;
  *c = 0;
  int n = atoi(argv[2]);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(c + 1))};
  inet_pton(AF_INET, host, &a.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (connect(fd, (struct sockaddr *)&a, sizeof a)) { perror("avec_ping: connect"); return 1; }
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const char *ticket = getenv("AVEC_TICKET");
  size_t tl = ticket ? strlen(ticket) : 0;
  static char buf[1 << 20];
  avec_frame_hdr h = {AVEC_WIRE_MAGIC, AVEC_WIRE_VERSION, AVEC_OP_HELLO, 0, 1, 0, (uint32_t)(sizeof(avec_hello) + tl)};
  avec_hello hello;
  memset(&hello, 0, sizeof hello);
  hello.wire_version = AVEC_WIRE_VERSION;
  hello.flags = getenv("AVEC_PING_INFO_ONLY") ? AVEC_HELLO_INFO_ONLY : 0;
  hello.client_pid = (uint32_t)getpid();
  hello.ticket_len = (uint32_t)tl;
  snprintf(hello.client_host, sizeof hello.client_host, "avec_ping");
  memcpy(buf, &h, sizeof h);
  memcpy(buf + sizeof h, &hello, sizeof hello);
  if (tl) memcpy(buf + sizeof h + sizeof hello, ticket, tl);
  double t0 = now_us();
  if (full_write(fd, buf, sizeof h + sizeof hello + tl)) return 1;
  long st = read_reply(fd, 1, buf, sizeof buf);
  printf("avec_hello_us %.1f status %ld\n", now_us() - t0, st);
  if (st != 0) return 1;
  double *s = malloc(sizeof(double) * (size_t)n);
  for (int i = 0; i < n + 20; i++) {
    avec_frame_hdr p = {AVEC_WIRE_MAGIC, AVEC_WIRE_VERSION, AVEC_OP_PING, 0, (uint32_t)(i + 2), 0, 0};
    double t = now_us();
    if (full_write(fd, &p, sizeof p)) return 1;
    if (read_reply(fd, (uint32_t)(i + 2), buf, sizeof buf) != 0) { fprintf(stderr, "avec_ping: bad ping reply\n"); return 1; }
    if (i >= 20) s[i - 20] = now_us() - t;
  }
  qsort(s, (size_t)n, sizeof(double), cmp_d);
  printf("avec_ping_us_median %.2f\n", s[n / 2]);
  printf("avec_ping_us_p10 %.2f p99 %.2f n %d\n", s[n / 10], s[n * 99 / 100], n);
  avec_frame_hdr bye = {AVEC_WIRE_MAGIC, AVEC_WIRE_VERSION, AVEC_OP_GOODBYE, 0, 0, 0, 0};
  full_write(fd, &bye, sizeof bye);
  close(fd);
  return 0;
}

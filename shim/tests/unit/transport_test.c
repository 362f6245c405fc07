/* Transport tests against a scripted in-process server (a test double of the executor's framing only):
 * batching and ordering, the idle flush timer, chunked replies, error replies, direct large sends,
 * protocol errors and EOF detection (a vanished server fails the call instead of hanging it). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "../test.h"
#include "avec_transport.h"

static int lfd, port;

static int read_exact(int fd, void *p, size_t n) {
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r <= 0) return -1;
    p = (char *)p + r;
    n -= (size_t)r;
  }
  return 0;
}

static int read_frame(int fd, avec_frame_hdr *h, uint8_t *payload, size_t cap) {
  if (read_exact(fd, h, sizeof *h)) return -1;
  if (h->payload_len > cap) return -1;
  return read_exact(fd, payload, h->payload_len);
}

static void send_reply(int fd, uint32_t id, uint32_t flags, uint32_t status, const void *data, size_t n) {
  avec_frame_hdr h;
  avec_frame_hdr_make(&h, 0, AVEC_F_REPLY | flags, id, 0, (uint32_t)(sizeof(avec_reply_hdr) + n));
  avec_reply_hdr r = {status, 0};
  if (write(fd, &h, sizeof h) < 0 || write(fd, &r, sizeof r) < 0 || (n && write(fd, data, n) < 0)) {}
}

/* A DEVICE_OUTPUT frame (what the session's driver printed) ahead of request `id`'s reply; `claim` is the
 * payload length the header announces (a lying one is a protocol error). */
static void send_output(int fd, uint32_t id, const char *text, size_t n, uint32_t claim) {
  avec_frame_hdr h;
  avec_frame_hdr_make(&h, AVEC_OP_DEVICE_OUTPUT, AVEC_F_REPLY, id, 0, claim);
  avec_reply_hdr r = {0, 0};
  if (write(fd, &h, sizeof h) < 0 || write(fd, &r, sizeof r) < 0 || (n && write(fd, text, n) < 0)) {}
}

typedef struct script {
  int scenario;
  int ops[16];
  int nops;
  uint64_t big_sum;
  int timer_seen;
} script;

static uint8_t payload[AVEC_MAX_PAYLOAD];

static void *server(void *arg) {
  script *s = arg;
  int fd = accept(lfd, NULL, NULL);
  avec_frame_hdr h;
  switch (s->scenario) {
    case 1: /* three posts then one call: all arrive, in order */
      while (s->nops < 4 && read_frame(fd, &h, payload, sizeof payload) == 0) {
        s->ops[s->nops++] = h.opcode;
        if (h.opcode == AVEC_OP_PING) send_reply(fd, h.request_id, 0, 0, NULL, 0);
      }
      break;
    case 2: /* the idle timer flushes a lone post */
      if (read_frame(fd, &h, payload, sizeof payload) == 0) s->timer_seen = h.opcode == AVEC_OP_EVENT_RECORD;
      break;
    case 3: /* chunked reply of 10000 bytes in three frames, then an error reply */
      if (read_frame(fd, &h, payload, sizeof payload) == 0) {
        uint8_t data[10000];
        for (int i = 0; i < 10000; i++) data[i] = (uint8_t)(i * 13);
        send_reply(fd, h.request_id, AVEC_F_MORE, 0, data, 4000);
        send_reply(fd, h.request_id, AVEC_F_MORE, 0, data + 4000, 4000);
        send_reply(fd, h.request_id, 0, 0, data + 8000, 2000);
      }
      if (read_frame(fd, &h, payload, sizeof payload) == 0) send_reply(fd, h.request_id, 0, 700, NULL, 0);
      break;
    case 4: /* a large direct post arrives intact */
      if (read_frame(fd, &h, payload, sizeof payload) == 0) {
        for (uint32_t i = 0; i < h.payload_len; i++) s->big_sum += payload[i];
        s->ops[s->nops++] = (int)h.payload_len;
      }
      if (read_frame(fd, &h, payload, sizeof payload) == 0) send_reply(fd, h.request_id, 0, 0, NULL, 0);
      break;
    case 5: /* the server vanishes after reading the request */
      read_frame(fd, &h, payload, sizeof payload);
      break;
    case 7: /* two replies 3 ms late, then one at once */
      for (int i = 0; i < 3 && read_frame(fd, &h, payload, sizeof payload) == 0; i++) {
        if (i < 2) usleep(3000);
        send_reply(fd, h.request_id, 0, 0, NULL, 0);
      }
      break;
    case 8: /* device output ahead of a reply, between the frames of a chunked reply, then one too large */
      if (read_frame(fd, &h, payload, sizeof payload) == 0) {
        send_output(fd, h.request_id, "avec_print 42\n", 14, sizeof(avec_reply_hdr) + 14);
        send_output(fd, h.request_id, "avec_print 7\n", 13, sizeof(avec_reply_hdr) + 13);
        send_reply(fd, h.request_id, 0, 0, NULL, 0);
      }
      if (read_frame(fd, &h, payload, sizeof payload) == 0) {
        uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
        send_reply(fd, h.request_id, AVEC_F_MORE, 0, data, 4);
        send_output(fd, h.request_id, "mid\n", 4, sizeof(avec_reply_hdr) + 4);
        send_reply(fd, h.request_id, 0, 0, data + 4, 4);
      }
      if (read_frame(fd, &h, payload, sizeof payload) == 0)
        send_output(fd, h.request_id, "x", 1, sizeof(avec_reply_hdr) + AVEC_DEVICE_OUTPUT_MAX + 1);
      read_frame(fd, &h, payload, sizeof payload);
      break;
    case 6: /* a reply with the wrong request id */
      if (read_frame(fd, &h, payload, sizeof payload) == 0) send_reply(fd, h.request_id + 5, 0, 0, NULL, 0);
      read_frame(fd, &h, payload, sizeof payload);
      break;
  }
  close(fd);
  return NULL;
}

static void run(script *s, pthread_t *t, avec_conn *c) {
  char ep[64];
  snprintf(ep, sizeof ep, "127.0.0.1:%d", port);
  pthread_create(t, NULL, server, s);
  CHECK_EQ(avec_conn_open(c, ep, 2000), 0);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 8) || getsockname(lfd, (struct sockaddr *)&a, &al))
    return 2;
  port = ntohs(a.sin_port);
  setenv("AVEC_REPLY_TIMEOUT_S", "20", 1);

  {
    CASE("iov advance after partial writes");
    char a1[4], a2[6], a3[2];
    struct iovec v[3] = {{a1, 4}, {a2, 6}, {a3, 2}}, *iov = v;
    int n = 3;
    avec_iov_advance(&iov, &n, 6); /* all of the first, 2 of the second */
    CHECK(n == 2 && iov == &v[1] && iov->iov_base == a2 + 2 && iov->iov_len == 4);
    avec_iov_advance(&iov, &n, 4); /* exactly the rest of the second */
    CHECK(n == 1 && iov == &v[2] && iov->iov_len == 2);
    avec_iov_advance(&iov, &n, 2);
    CHECK_EQ(n, 0);
  }

  {
    CASE("batching and order");
    script s = {.scenario = 1};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    avec_u32 v = {1, 0};
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_STREAM_CREATE, 0, 1, &v, sizeof v, NULL, 0), 0);
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_EVENT_CREATE, 0, 1, &v, sizeof v, NULL, 0), 0);
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_LAUNCH, 0, 1, &v, sizeof v, NULL, 0), 0);
    CHECK_EQ(c.flushes, 0); /* nothing written yet: batched */
    avec_reply_hdr r;
    size_t got = 0;
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, &got), 0);
    CHECK_EQ(got, sizeof r);
    CHECK_EQ(c.flushes, 1); /* batch + request in one write */
    pthread_join(t, NULL);
    CHECK_EQ(s.nops, 4);
    CHECK(s.ops[0] == AVEC_OP_STREAM_CREATE && s.ops[1] == AVEC_OP_EVENT_CREATE && s.ops[2] == AVEC_OP_LAUNCH &&
          s.ops[3] == AVEC_OP_PING);
    avec_conn_close(&c);
  }
  {
    CASE("idle flush timer");
    script s = {.scenario = 2};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    avec_conn_start_timer(&c);
    avec_event_record er = {1, 0, 0, 0};
    double t0 = now_s();
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_EVENT_RECORD, 0, 1, &er, sizeof er, NULL, 0), 0);
    pthread_join(t, NULL); /* the server returns once the frame arrived without any flush by us */
    double dt = now_s() - t0;
    CHECK(s.timer_seen);
    CHECK(dt < 0.5);
    avec_conn_close(&c);
  }
  {
    CASE("chunked and error replies");
    script s = {.scenario = 3};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    uint8_t dst[10000];
    avec_memcpy_dtoh req = {0x1000, sizeof dst, 0, 0};
    CHECK_EQ(avec_conn_call_into(&c, AVEC_OP_MEMCPY_DTOH, 0, 1, &req, sizeof req, dst, sizeof dst), 0);
    int ok = 1;
    for (int i = 0; i < 10000; i++) ok &= dst[i] == (uint8_t)(i * 13);
    CHECK(ok);
    CHECK_EQ(avec_conn_call_into(&c, AVEC_OP_MEMCPY_DTOH, 0, 1, &req, sizeof req, dst, sizeof dst), 700);
    CHECK(!c.dead); /* an error status is not a transport failure */
    pthread_join(t, NULL);
    avec_conn_close(&c);
  }
  {
    CASE("large direct post");
    script s = {.scenario = 4};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    size_t n = 3 * 1024 * 1024 + 17;
    uint8_t *big = malloc(n);
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) { big[i] = (uint8_t)(i * 31 + 7); sum += big[i]; }
    avec_memcpy_htod hd = {0x2000, 0, 0};
    for (size_t i = 0; i < sizeof hd; i++) sum += ((uint8_t *)&hd)[i];
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_MEMCPY_HTOD, 0, 1, &hd, sizeof hd, big, n), 0);
    avec_reply_hdr r;
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, NULL), 0);
    pthread_join(t, NULL);
    CHECK_EQ(s.ops[0], (int)(n + sizeof hd));
    CHECK(s.big_sum == sum);
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_MEMCPY_HTOD, 0, 1, &hd, sizeof hd, big, AVEC_MAX_PAYLOAD), AVEC_STATUS_BAD_FRAME);
    free(big);
    avec_conn_close(&c);
  }
  {
    CASE("a reply wait spins about as long as the last one took, up to AVEC_REPLY_SPIN_US");
    CHECK_EQ(avec_spin_window_ns(0, 250000, 5000000), 250000L);        /* nothing seen yet: the base */
    CHECK_EQ(avec_spin_window_ns(2200000, 250000, 5000000), 2750000L); /* a 2 ms link's round trip */
    CHECK_EQ(avec_spin_window_ns(9000000, 250000, 5000000), 250000L);  /* a pause past the cap: the base */
    CHECK_EQ(avec_spin_window_ns(2200000, 250000, 0), 0L);             /* AVEC_REPLY_SPIN_US=0: never */
    setenv("AVEC_REPLY_SPIN_US", "4000", 1);
    script s = {.scenario = 7};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    unsetenv("AVEC_REPLY_SPIN_US");
    CHECK(c.reply_spin_ns == 4000000L && c.last_wait_ns == 0);
    avec_reply_hdr r;
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, NULL), 0);
    CHECK(c.last_wait_ns >= 3000000L && c.last_wait_ns < 1000000000L); /* the late reply's wait, spun or slept */
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, NULL), 0);
    long late = c.last_wait_ns;
    CHECK(late >= 3000000L);
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, NULL), 0);
    /* an answer within the base window leaves the rhythm as it was (a loaded machine may take longer) */
    CHECK(c.last_wait_ns == late || c.last_wait_ns < 3000000L);
    avec_conn_spin_short(&c); /* the program asked its waits not to spin: the base window only */
    CHECK(c.reply_spin_ns == 250000L);
    c.reply_spin_ns = 100000L;
    avec_conn_spin_short(&c); /* never raised */
    CHECK(c.reply_spin_ns == 100000L);
    pthread_join(t, NULL);
    avec_conn_close(&c);
  }
  {
    CASE("device output goes to stdout, in order, ahead of the reply it came with");
    FILE *cap = tmpfile();
    fflush(stdout);
    int saved = dup(1);
    dup2(fileno(cap), 1);
    script s = {.scenario = 8};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    avec_reply_hdr r;
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_CTX_SYNCHRONIZE, 0, 1, NULL, 0, NULL, 0, &r, sizeof r, NULL), 0);
    uint8_t dst[8];
    avec_memcpy_dtoh req = {0x1000, sizeof dst, 0, 0};
    CHECK_EQ(avec_conn_call_into(&c, AVEC_OP_MEMCPY_DTOH, 0, 1, &req, sizeof req, dst, sizeof dst), 0);
    CHECK(dst[0] == 1 && dst[7] == 8);
    CHECK(!c.dead);
    /* more text than a DEVICE_OUTPUT frame may carry: a protocol error, the call fails */
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_CTX_SYNCHRONIZE, 0, 1, NULL, 0, NULL, 0, &r, sizeof r, NULL), AVEC_STATUS_LOST);
    CHECK(c.dead);
    avec_conn_close(&c);
    pthread_join(t, NULL);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    char out[64] = {0};
    rewind(cap);
    size_t n = fread(out, 1, sizeof out - 1, cap);
    fclose(cap);
    CHECK_EQ(n, (size_t)31);
    CHECK(strcmp(out, "avec_print 42\navec_print 7\nmid\n") == 0);
  }
  {
    CASE("server vanishes");
    script s = {.scenario = 5};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    avec_reply_hdr r;
    double t0 = now_s();
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, NULL), AVEC_STATUS_LOST);
    CHECK(now_s() - t0 < 5); /* EOF is detected; the 20 s backstop is not what ended it */
    CHECK_EQ(avec_conn_post(&c, AVEC_OP_LAUNCH, 0, 0, NULL, 0, NULL, 0), AVEC_STATUS_LOST);
    pthread_join(t, NULL);
    avec_conn_close(&c);
  }
  {
    CASE("wrong reply id");
    script s = {.scenario = 6};
    pthread_t t;
    avec_conn c;
    run(&s, &t, &c);
    avec_reply_hdr r;
    CHECK_EQ(avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, &r, sizeof r, NULL), AVEC_STATUS_LOST);
    CHECK(c.dead);
    avec_conn_close(&c);
    pthread_join(t, NULL);
  }
  {
    CASE("unreachable");
    avec_conn c;
    /* port of the closed listener below: connection refused, fast */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in b = {0};
    b.sin_family = AF_INET;
    b.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t bl = sizeof b;
    bind(fd, (struct sockaddr *)&b, sizeof b);
    getsockname(fd, (struct sockaddr *)&b, &bl);
    close(fd);
    char ep[64];
    snprintf(ep, sizeof ep, "127.0.0.1:%d", ntohs(b.sin_port));
    CHECK(avec_conn_open(&c, ep, 2000) < 0);
    CHECK(avec_conn_open(&c, "bad endpoint", 2000) < 0);
  }
  close(lfd);
  return TEST_SUMMARY("shim transport");
}

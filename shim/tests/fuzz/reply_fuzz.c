/* libFuzzer target: arbitrary bytes as a server's reply stream. The shim's transport must answer every
 * call with a status (no crash, no hang, no write past the caller's buffers) whatever the server sends:
 * truncated frames, wrong ids, oversized payloads, bogus MORE sequences, EOF anywhere, refused-HELLO tails
 * whose lengths lie (the first reply is also decoded as one, as cuInit does). Each input is
 * split into the bytes the fake server sends before closing its end of a socketpair. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avec_transport.h"

static void conn_on(avec_conn *c, int fd) {
  memset(c, 0, sizeof *c);
  c->fd = fd;
  pthread_mutex_init(&c->lock, NULL);
  pthread_cond_init(&c->batch_cv, NULL);
  c->batch = malloc(AVEC_BATCH_CAP);
  c->reply_timeout_ms = 2000;
  c->next_id = 1;
  strcpy(c->endpoint, "fuzz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) return 0;
  /* the whole reply stream is queued before the client reads (inputs are small: fits the socket buffer) */
  if (size > 64 * 1024) size = 64 * 1024;
  int sz = 256 * 1024;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(sv[1], data + off, size - off);
    if (w <= 0) break;
    off += (size_t)w;
  }
  shutdown(sv[1], SHUT_WR); /* EOF after the input */
  avec_conn c;
  conn_on(&c, sv[0]);
  /* reply ids start at 1: the fuzzer can learn to answer them */
  uint8_t reply[sizeof(avec_hello_reply) + sizeof(avec_hello_refusal) + AVEC_MAX_REFUSAL_MESSAGE];
  size_t got = 0;
  uint32_t st = avec_conn_call(&c, AVEC_OP_PING, 0, 0, NULL, 0, NULL, 0, reply, sizeof reply, &got);
  if (got > sizeof reply) abort();
  uint32_t reason = 0;
  char msg[AVEC_MAX_REFUSAL_MESSAGE + 1];
  if (avec_hello_refusal_decode(reply, got, &reason, msg, sizeof msg) == 0) {
    for (const char *m = msg; *m; m++)
      if ((unsigned char)*m < 0x20) abort(); /* the log line must stay one line */
    if (strlen(msg) > AVEC_MAX_REFUSAL_MESSAGE) abort();
  }
  /* the same bytes as a HELLO reply announcing an avec_hello_ext (stripes, compression) */
  static avec_hello_result res;
  size_t hn = size < sizeof res ? size : sizeof res;
  memcpy(&res, data, hn);
  avec_hello_ext ext;
  if (avec_hello_ext_decode(&res, hn, &ext) == 0 && ext.stripes > AVEC_MAX_STRIPES) abort();
  char tiny[4];
  avec_hello_refusal_decode(reply, got, &reason, tiny, sizeof tiny);
  uint8_t dst[9000];
  avec_memcpy_dtoh q = {0x1000, sizeof dst, 0, 0};
  st = avec_conn_call_into(&c, AVEC_OP_MEMCPY_DTOH, 0, 1, &q, sizeof q, dst, sizeof dst);
  st = avec_conn_call_into(&c, AVEC_OP_MEMCPY_DTOH, 0, 1, &q, sizeof q, dst, 100);
  (void)st;
  avec_conn_post(&c, AVEC_OP_LAUNCH, 0, 1, reply, 16, NULL, 0);
  close(sv[0]);
  close(sv[1]);
  free(c.batch);
  pthread_mutex_destroy(&c.lock);
  pthread_cond_destroy(&c.batch_cv);
  return 0;
}

/* The client end of one data-plane connection (see wire/avec_wire.h).
 *
 * Fire-and-forget frames are appended to a batch buffer under one mutex and flushed: before every
 * synchronous request, when the batch is full, and by an idle timer thread ~100 us after the first
 * unflushed frame. Large payloads (bulk host-to-device data) are written straight from the caller's
 * buffer with sendmsg (no copy). Replies are read with poll() so a vanished server (EOF) or, as a last
 * resort, a very long silence fails the call instead of hanging it. Built into both libraries as a static
 * archive with hidden symbols. */
#ifndef AVEC_TRANSPORT_H
#define AVEC_TRANSPORT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "avec_wire.h"

/* Shim-local status, never on the wire: the connection is gone (EOF, reset, timeout). */
#define AVEC_STATUS_LOST 0x20001u

#define AVEC_BATCH_CAP (256u * 1024u)
#define AVEC_DIRECT_MIN (32u * 1024u) /* payload parts at least this large bypass the batch buffer */

struct avec_stripes; /* stripe connections of a session (stripes.c) */

typedef struct avec_conn {
  int fd;
  pthread_mutex_t lock; /* guards the socket, the batch and the fields below */
  pthread_cond_t batch_cv;
  uint8_t *batch;
  size_t batch_len;
  uint32_t next_id;
  int dead;
  int stop_timer;
  int timer_started;
  int timer_waiting;    /* the flush thread sleeps on batch_cv (else it polls and needs no signal) */
  pthread_t timer;
  int reply_timeout_ms;
  long reply_spin_ns;   /* the longest a reply wait spins before it sleeps in poll() (AVEC_REPLY_SPIN_US) */
  long last_wait_ns;    /* the last wait that outlasted the base spin: the next one spins about as long */
  uint64_t frames_sent, flushes; /* statistics for tests and debug logs */
  uint64_t quiet_sent;           /* of those, AVEC_OP_FENCE_QUIET ones (stream.c's fenced synchronize) */
  char endpoint[256];
  struct avec_stripes *stripes;  /* NULL: one connection; set once after HELLO, then only read */
  uint64_t h2d_seq, d2h_seq;     /* striped chunks so far per direction (both ends count them) */
  int zstd;                      /* compressed bulk chunks negotiated (AVEC_COMPRESS=1 and offered) */
  uint32_t features;             /* AVEC_FEATURE_* the HELLO reply granted (with its ext below) */
  uint64_t session_id;
  avec_hello_ext ext;            /* the token that joins connections to the session */
} avec_conn;

/* Copies at least this large use the stripes when there are any. */
#define AVEC_STRIPE_MIN (1u << 20)

/* Parses "host:port" ("[v6]:port" too). Returns 0 or -1. */
int avec_endpoint_split(const char *endpoint, char *host, size_t host_len, char *port, size_t port_len);

/* Resolves the endpoint and ticket: AVEC_SERVER / AVEC_TICKET, else the files `endpoint` and `ticket` in
 * $AVEC_CLAIM_DIR (default /var/run/avec/claim). Returns 0 when an endpoint was found. */
int avec_config_load(char *endpoint, size_t endpoint_len, char *ticket, size_t ticket_len);

/* Connects (TCP_NODELAY) within `connect_timeout_ms`. Returns 0 or a negative errno. */
int avec_conn_open(avec_conn *c, const char *endpoint, int connect_timeout_ms);
/* Starts the idle-flush timer thread (call once after a successful HELLO). */
void avec_conn_start_timer(avec_conn *c);
void avec_conn_close(avec_conn *c);
/* The program asked its GPU waits not to spin (a context scheduled BLOCKING_SYNC or YIELD): reply waits spin
 * only the short base window from now on, never through a whole round trip. */
void avec_conn_spin_short(avec_conn *c);

/* Fire-and-forget: appends one frame (header + a + b). Returns 0 or AVEC_STATUS_LOST. */
uint32_t avec_conn_post(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a, size_t alen,
                        const void *b, size_t blen);
/* Synchronous: flushes, sends the request, reads one reply frame into `reply` (payload, starting with
 * avec_reply_hdr). Returns the reply's status, AVEC_STATUS_LOST, or AVEC_STATUS_BAD_FRAME when the reply
 * does not fit `reply_cap` or does not parse. `*reply_len` gets the payload length. */
uint32_t avec_conn_call(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a, size_t alen,
                        const void *b, size_t blen, void *reply, size_t reply_cap, size_t *reply_len);
/* Synchronous with a chunked reply (AVEC_F_MORE): the data after each avec_reply_hdr is read straight
 * into dst, which must receive exactly dst_len bytes. */
uint32_t avec_conn_call_into(avec_conn *c, uint16_t op, uint32_t flags, uint32_t ctx, const void *a,
                             size_t alen, void *dst, size_t dst_len);
/* Flushes the batch now (e.g. before the process waits on something else). */
uint32_t avec_conn_flush(avec_conn *c);

/* Frames sent on the connection so far (every post, request and chunk header) and how many of them were
 * AVEC_OP_FENCE_QUIET, read together; and both counts right after this thread's last request, and last
 * post, went out (equal frame counts: nothing was sent after it). */
void avec_conn_counts(avec_conn *c, uint64_t *frames, uint64_t *quiet);
extern __thread uint64_t avec_conn_request_seq, avec_conn_request_quiet, avec_conn_post_seq, avec_conn_post_quiet;

/* Bulk copies over the stripes (c->stripes set). H2D is fire-and-forget: it returns once every byte is in
 * a socket (pageable-copy semantics), after the batch before it; D2H waits for the data and the status. */
uint32_t avec_conn_htod_striped(avec_conn *c, uint32_t flags, uint32_t ctx, uint64_t dst, uint32_t stream,
                                const void *src, size_t n);
uint32_t avec_conn_dtoh_striped(avec_conn *c, uint32_t flags, uint32_t ctx, uint64_t src, uint32_t stream,
                                void *dst, size_t n);

/* Stripes (stripes.c). Opens `ext->stripes` connections to `endpoint` for session `session_id`, joins
 * them (STRIPE_ATTACH on c) and sets c->stripes. Returns 0, or -1 with c left on one connection (the
 * reason is logged; a refused stripe's words are in `msg`). */
int avec_stripes_open(avec_conn *c, uint64_t session_id, const avec_hello_ext *ext, char *msg, size_t msg_cap);
/* Runs one striped transfer of n bytes (chunks of AVEC_CHUNK, chunk k's pieces carry seq0 + k) on every
 * stripe in parallel and waits for it. send: from src; else into dst. Returns the chunks received whole
 * before the server's abort piece (d2h; n's chunk count when complete) or -1 when a stripe failed. */
long avec_stripes_transfer(struct avec_stripes *s, int send, const void *src, void *dst, size_t n, uint64_t seq0);
void avec_stripes_close(struct avec_stripes *s);
/* A connection that joins session `session_id` (a stripe, or with index AVEC_JOIN_CALLBACKS the callback
 * connection): connects (blocking socket, timeouts as the session's) and sends its HELLO with the ext's
 * token. Returns the socket or -1. The session answers it once told to take it (STRIPE_ATTACH /
 * CALLBACK_ATTACH on c): avec_join_answer reads that answer, 0 or -1 with the refusal's words in msg. */
int avec_join_connect(avec_conn *c, uint64_t session_id, const avec_hello_ext *ext, uint32_t index);
int avec_join_answer(int fd, char *msg, size_t msg_cap);

/* Framing helpers (pure; unit-tested). */
struct iovec;
/* After a partial write of `done` bytes: drops the vectors written whole and moves into the next one. */
void avec_iov_advance(struct iovec **iov, int *n, size_t done);
void avec_frame_hdr_make(avec_frame_hdr *h, uint16_t op, uint32_t flags, uint32_t id, uint32_t ctx,
                         uint32_t payload_len);
/* Checks a reply header against the request id it answers. Returns 0 if acceptable. */
int avec_frame_hdr_check_reply(const avec_frame_hdr *h, uint32_t expect_id);

/* Reads the avec_hello_refusal tail of a refused HELLO reply: `payload` is the reply payload as received
 * (`len` bytes, starting with avec_hello_reply). Bounds-checked against `len` and AVEC_MAX_REFUSAL_MESSAGE.
 * Returns 0 and fills *reason and `msg` (NUL-terminated, cut to msg_cap - 1 bytes, control characters
 * replaced by '?' so it stays on one log line) when the tail is there and consistent; otherwise (an older
 * server, or a broken tail) returns -1 with *reason = AVEC_REFUSAL_UNSPECIFIED and msg = "". */
int avec_hello_refusal_decode(const void *payload, size_t len, uint32_t *reason, char *msg, size_t msg_cap);
/* What a successful HELLO brings back: the reply header and the devices it lists. */
typedef struct avec_hello_result {
  avec_hello_reply r;
  avec_device_info d[AVEC_MAX_DEVICES];
  avec_hello_ext ext_room; /* the ext follows the r.device_count devices: room for it when all 16 are there */
} avec_hello_result;

/* The avec_hello_ext of a successful HELLO reply of `got` payload bytes: 0 and *ext filled when
 * r.features announce one and it is there; -1 otherwise (*ext zeroed). Pure (fuzzed). */
int avec_hello_ext_decode(const avec_hello_result *res, size_t got, avec_hello_ext *ext);

/* Connects to `endpoint` (AVEC_CONNECT_TIMEOUT_MS, default 10 s) and opens a session with HELLO (`ticket`,
 * `flags`). Returns 0 with `out` filled and the connection open; a negative errno when the endpoint cannot
 * be reached; 1 when the server refused or answered badly: *status is the reply status
 * (AVEC_STATUS_BAD_FRAME for a reply too short for the devices it announces), *reason and `msg` the
 * server's refusal words if it sent any (see avec_hello_refusal_decode), and the connection is closed. */
int avec_session_hello(avec_conn *c, const char *endpoint, const char *ticket, uint32_t flags,
                       avec_hello_result *out, uint32_t *status, uint32_t *reason, char *msg, size_t msg_cap);
/* HELLO flags for the bulk paths the environment asks for: AVEC_STRIPES=N (0..8 stripe connections,
 * default AVEC_STRIPES_DEFAULT) and AVEC_COMPRESS=1 (zstd, when libzstd.so.1 loads). A session asking
 * for either gets what the server grants: avec_session_hello sets them up. */
#define AVEC_STRIPES_DEFAULT 0
uint32_t avec_bulk_hello_flags(void);
/* A short name for an AVEC_REFUSAL_* code ("draining", "ticket-expired", ...; "unspecified" if unknown). */
const char *avec_refusal_name(uint32_t reason);

#endif

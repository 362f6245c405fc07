#include <string.h>
#include <sys/uio.h>

#include "avec_transport.h"

void avec_frame_hdr_make(avec_frame_hdr *h, uint16_t op, uint32_t flags, uint32_t id, uint32_t ctx,
                         uint32_t payload_len) {
  memset(h, 0, sizeof *h);
  h->magic = AVEC_WIRE_MAGIC;
  h->version = AVEC_WIRE_VERSION;
  h->opcode = op;
  h->flags = flags;
  h->request_id = id;
  h->ctx = ctx;
  h->payload_len = payload_len;
}

int avec_frame_hdr_check_reply(const avec_frame_hdr *h, uint32_t expect_id) {
  if (h->magic != AVEC_WIRE_MAGIC) return -1;
  if (h->version != AVEC_WIRE_VERSION) return -2;
  if (!(h->flags & AVEC_F_REPLY)) return -3;
  if (h->request_id != expect_id) return -4;
  if (h->payload_len > AVEC_MAX_PAYLOAD) return -5;
  if (h->payload_len < sizeof(avec_reply_hdr)) return -6;
  return 0;
}

int avec_hello_refusal_decode(const void *payload, size_t len, uint32_t *reason, char *msg, size_t msg_cap) {
  *reason = AVEC_REFUSAL_UNSPECIFIED;
  if (msg_cap) msg[0] = 0;
  const size_t head = sizeof(avec_hello_reply) + sizeof(avec_hello_refusal);
  if (!payload || len < head) return -1;
  avec_hello_refusal f;
  memcpy(&f, (const uint8_t *)payload + sizeof(avec_hello_reply), sizeof f);
  if (f.message_len > AVEC_MAX_REFUSAL_MESSAGE || f.message_len > len - head) return -1;
  *reason = f.reason;
  if (!msg_cap) return 0;
  size_t n = f.message_len < msg_cap - 1 ? f.message_len : msg_cap - 1;
  const uint8_t *text = (const uint8_t *)payload + head;
  for (size_t i = 0; i < n; i++) msg[i] = text[i] < 0x20 || text[i] == 0x7f ? '?' : (char)text[i];
  msg[n] = 0;
  return 0;
}

const char *avec_refusal_name(uint32_t reason) {
  switch (reason) {
    case AVEC_REFUSAL_TICKET_MALFORMED: return "ticket-malformed";
    case AVEC_REFUSAL_TICKET_UNKNOWN_KEY: return "ticket-unknown-key";
    case AVEC_REFUSAL_TICKET_BAD_SIGNATURE: return "ticket-bad-signature";
    case AVEC_REFUSAL_TICKET_EXPIRED: return "ticket-expired";
    case AVEC_REFUSAL_TICKET_NOT_YET_VALID: return "ticket-not-yet-valid";
    case AVEC_REFUSAL_TICKET_WRONG_NODE: return "ticket-wrong-node";
    case AVEC_REFUSAL_TICKET_UNSUPPORTED: return "ticket-unsupported";
    case AVEC_REFUSAL_DRAINING: return "draining";
    case AVEC_REFUSAL_NODE_SESSION_LIMIT: return "node-session-limit";
    case AVEC_REFUSAL_CLAIM_SESSION_LIMIT: return "claim-session-limit";
    case AVEC_REFUSAL_UNKNOWN_DEVICE: return "unknown-device";
    case AVEC_REFUSAL_INSUFFICIENT_MEMORY: return "insufficient-memory";
    case AVEC_REFUSAL_COMPUTE_SHARE: return "compute-share";
    case AVEC_REFUSAL_TOO_MANY_CONNECTIONS: return "too-many-connections";
    case AVEC_REFUSAL_HELLO_TIMEOUT: return "hello-timeout";
    case AVEC_REFUSAL_EXECUTOR_FAILED: return "executor-failed";
    case AVEC_REFUSAL_SERVER_ERROR: return "server-error";
    default: return "unspecified";
  }
}

int avec_hello_ext_decode(const avec_hello_result *res, size_t got, avec_hello_ext *ext) {
  memset(ext, 0, sizeof *ext);
  if (got < sizeof res->r || !res->r.features || res->r.device_count > AVEC_MAX_DEVICES) return -1;
  size_t at = sizeof res->r + (size_t)res->r.device_count * sizeof(avec_device_info);
  if (got < at + sizeof *ext) return -1;
  memcpy(ext, (const uint8_t *)res + at, sizeof *ext);
  if (ext->stripes > AVEC_MAX_STRIPES) ext->stripes = 0;
  return 0;
}

void avec_iov_advance(struct iovec **iov, int *n, size_t done) {
  while (*n > 0 && done >= (*iov)->iov_len) {
    done -= (*iov)->iov_len;
    (*iov)++;
    (*n)--;
  }
  if (*n > 0) {
    (*iov)->iov_base = (char *)(*iov)->iov_base + done;
    (*iov)->iov_len -= done;
  }
}

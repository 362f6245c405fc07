#include <string.h>

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

/* Opening a session: connect, send HELLO with the ticket, check the reply. Shared by libcuda's cuInit and
 * libnvidia-ml's nvmlInit, which differ only in the HELLO flags and in how they report a failure. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avec_codec.h"
#include "avec_log.h"
#include "avec_transport.h"

uint32_t avec_bulk_hello_flags(void) {
  uint32_t flags = 0;
  const char *s = getenv("AVEC_STRIPES");
  long n = s && *s ? strtol(s, NULL, 10) : AVEC_STRIPES_DEFAULT;
  if (n > (long)AVEC_MAX_STRIPES) n = AVEC_MAX_STRIPES;
  if (n > 0) flags |= AVEC_HELLO_STRIPES | (uint32_t)n << AVEC_HELLO_STRIPES_SHIFT;
  const char *z = getenv("AVEC_COMPRESS");
  if (z && *z && strcmp(z, "0") != 0) {
    if (avec_codec_available()) flags |= AVEC_HELLO_ZSTD;
    else LOG_WARN("AVEC_COMPRESS: libzstd.so.1 cannot be loaded here; copies are not compressed");
  }
  return flags;
}

/* What the server granted of what the HELLO asked for: compression, stripes (opened now; a failure leaves
 * the session on its one connection). */
static void avec_bulk_setup(avec_conn *c, const avec_hello_result *out, size_t got) {
  avec_hello_ext ext;
  if (avec_hello_ext_decode(out, got, &ext)) return;
  c->features = out->r.features;
  c->session_id = out->r.session_id;
  c->ext = ext;
  c->zstd = (out->r.features & AVEC_FEATURE_ZSTD) != 0;
  if (c->zstd) LOG_INFO("bulk copies: compressed where a chunk's sample shrinks (zstd)");
  if ((out->r.features & AVEC_FEATURE_STRIPES) && ext.stripes) {
    char msg[AVEC_MAX_REFUSAL_MESSAGE + 1];
    avec_stripes_open(c, out->r.session_id, &ext, msg, sizeof msg);
  }
}

int avec_session_hello(avec_conn *c, const char *endpoint, const char *ticket, uint32_t flags,
                       avec_hello_result *out, uint32_t *status, uint32_t *reason, char *msg, size_t msg_cap) {
  *status = 0;
  *reason = AVEC_REFUSAL_UNSPECIFIED;
  if (msg_cap) msg[0] = 0;
  const char *ct = getenv("AVEC_CONNECT_TIMEOUT_MS");
  int timeout = ct ? atoi(ct) : 0;
  int rc = avec_conn_open(c, endpoint, timeout > 0 ? timeout : 10000);
  if (rc) return rc;

  struct {
    avec_hello h;
    char ticket[AVEC_MAX_TICKET];
  } req;
  memset(&req, 0, sizeof req);
  size_t tlen = strnlen(ticket, AVEC_MAX_TICKET);
  req.h.wire_version = AVEC_WIRE_VERSION;
  req.h.flags = flags;
  req.h.client_pid = (uint32_t)getpid();
  req.h.ticket_len = (uint32_t)tlen;
  gethostname(req.h.client_host, sizeof req.h.client_host - 1);
  memcpy(req.ticket, ticket, tlen);

  size_t got = 0;
  uint32_t st = avec_conn_call(c, AVEC_OP_HELLO, 0, 0, &req, sizeof req.h + tlen, NULL, 0, out, sizeof *out, &got);
  if (st == 0 && (got < sizeof out->r || out->r.device_count > AVEC_MAX_DEVICES ||
                  got < sizeof out->r + out->r.device_count * sizeof(avec_device_info)))
    st = AVEC_STATUS_BAD_FRAME; /* a reply too short for the devices it announces */
  if (st == 0) {
    avec_bulk_setup(c, out, got);
    return 0;
  }
  avec_hello_refusal_decode(out, got, reason, msg, msg_cap);
  avec_conn_close(c);
  *status = st;
  return 1;
}

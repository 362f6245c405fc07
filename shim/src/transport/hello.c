/* Opening a session: connect, send HELLO with the ticket, check the reply. Shared by libcuda's cuInit and
 * libnvidia-ml's nvmlInit, which differ only in the HELLO flags and in how they report a failure. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avec_transport.h"

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
  if (st == 0) return 0;
  avec_hello_refusal_decode(out, got, reason, msg, msg_cap);
  avec_conn_close(c);
  *status = st;
  return 1;
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avec_log.h"
#include "avec_transport.h"

int avec_endpoint_split(const char *ep, char *host, size_t host_len, char *port, size_t port_len) {
  const char *colon;
  const char *h = ep;
  size_t hl;
  if (!ep || !*ep) return -1;
  if (ep[0] == '[') {
    const char *close = strchr(ep, ']');
    if (!close || close[1] != ':') return -1;
    h = ep + 1;
    hl = (size_t)(close - h);
    colon = close + 1;
  } else {
    colon = strrchr(ep, ':');
    if (!colon) return -1;
    hl = (size_t)(colon - ep);
  }
  if (hl == 0 || hl >= host_len || strlen(colon + 1) == 0 || strlen(colon + 1) >= port_len) return -1;
  for (const char *p = colon + 1; *p; p++)
    if (*p < '0' || *p > '9') return -1;
  memcpy(host, h, hl);
  host[hl] = 0;
  strcpy(port, colon + 1);
  return 0;
}

/* Reads a small file, trims trailing whitespace. Returns length or -1. */
static int read_small(const char *dir, const char *name, char *out, size_t cap) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = fread(out, 1, cap - 1, f);
  fclose(f);
  while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' ' || out[n - 1] == '\t')) n--;
  out[n] = 0;
  return (int)n;
}

int avec_config_load(char *endpoint, size_t endpoint_len, char *ticket, size_t ticket_len) {
  const char *dir = getenv("AVEC_CLAIM_DIR");
  if (!dir || !*dir) dir = "/var/run/avec/claim";
  const char *env_ep = getenv("AVEC_SERVER");
  const char *env_t = getenv("AVEC_TICKET");
  endpoint[0] = 0;
  ticket[0] = 0;
  if (env_ep && *env_ep) {
    snprintf(endpoint, endpoint_len, "%s", env_ep);
    LOG_DEBUG("endpoint %s from AVEC_SERVER", endpoint);
  } else if (read_small(dir, "endpoint", endpoint, endpoint_len) > 0) {
    LOG_DEBUG("endpoint %s from %s/endpoint", endpoint, dir);
  }
  if (env_t && *env_t) {
    snprintf(ticket, ticket_len, "%s", env_t);
    LOG_DEBUG("ticket from AVEC_TICKET (%zu bytes)", strlen(ticket));
  } else if (read_small(dir, "ticket", ticket, ticket_len) > 0) {
    LOG_DEBUG("ticket from %s/ticket (%zu bytes)", dir, strlen(ticket));
  }
  return endpoint[0] ? 0 : -1;
}

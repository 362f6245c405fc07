/* libnvidia-ml.so.1: the NVML subset nvidia-smi-style tools, PyTorch and CuPy use, answered from an
 * info-only session (HELLO with AVEC_HELLO_INFO_ONLY) opened by nvmlInit. Memory totals are the claim's
 * limit; "used" comes from the server. Independent of libcuda's tables (NVML never asks libcuda here). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#pragma GCC visibility push(default)
#include <nvml.h>
#pragma GCC visibility pop

#include "avec_log.h"
#include "avec_shim.h"
#include "avec_transport.h"

#define API __attribute__((visibility("default")))

struct nvmlDevice_st {
  int index;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int init_count;
static avec_conn conn;
static int connected;
static avec_hello_reply hello;
static avec_device_info devs[AVEC_MAX_DEVICES];
static struct nvmlDevice_st handles[AVEC_MAX_DEVICES];
static int ndev;

int avec_nvml_unsupported(const char *name, int *warned) {
  if (!__atomic_exchange_n(warned, 1, __ATOMIC_RELAXED)) LOG_WARN("%s is not supported by the remote NVML", name);
  return NVML_ERROR_NOT_SUPPORTED;
}

static void after_fork_child(void);

static nvmlReturn_t open_session(void) {
  char endpoint[256], ticket[AVEC_MAX_TICKET + 1];
  if (avec_config_load(endpoint, sizeof endpoint, ticket, sizeof ticket)) {
    LOG_ERROR("nvmlInit: no remoting endpoint configured (AVEC_SERVER or AVEC_CLAIM_DIR/endpoint)");
    return NVML_ERROR_DRIVER_NOT_LOADED;
  }
  static avec_hello_result rep;
  uint32_t st, reason;
  char msg[AVEC_MAX_REFUSAL_MESSAGE + 1];
  int rc = avec_session_hello(&conn, endpoint, ticket, AVEC_HELLO_INFO_ONLY, &rep, &st, &reason, msg, sizeof msg);
  if (rc < 0) {
    LOG_ERROR("nvmlInit: cannot reach remoting server %s: %s", endpoint, strerror(-rc));
    return NVML_ERROR_DRIVER_NOT_LOADED;
  }
  if (rc > 0) {
    if (st == AVEC_STATUS_BAD_TICKET || st == AVEC_STATUS_REFUSED)
      LOG_ERROR("server %s refused the NVML session: %s", endpoint, msg[0] ? msg : avec_refusal_name(reason));
    else
      LOG_ERROR("nvmlInit: remoting server %s refused the session (status 0x%x)", endpoint, st);
    /* A server that cannot start the session is not a permission problem. */
    if (st == AVEC_STATUS_BAD_TICKET) return NVML_ERROR_NO_PERMISSION;
    if (st == AVEC_STATUS_REFUSED && reason != AVEC_REFUSAL_EXECUTOR_FAILED && reason != AVEC_REFUSAL_SERVER_ERROR)
      return NVML_ERROR_NO_PERMISSION;
    return NVML_ERROR_DRIVER_NOT_LOADED;
  }
  hello = rep.r;
  ndev = (int)rep.r.device_count;
  memcpy(devs, rep.d, sizeof(avec_device_info) * (size_t)ndev);
  for (int i = 0; i < ndev; i++) {
    handles[i].index = i;
    devs[i].name[sizeof devs[i].name - 1] = 0;
  }
  connected = 1;
  static int atfork_done;
  if (!atfork_done) {
    pthread_atfork(NULL, NULL, after_fork_child);
    atfork_done = 1;
  }
  return NVML_SUCCESS;
}

/* A forked child must not use (or say GOODBYE on) the parent's NVML session. */
static void after_fork_child(void) {
  pthread_mutex_init(&lock, NULL);
  if (connected && conn.fd >= 0) close(conn.fd);
  conn.fd = -1;
  conn.dead = 1;
  connected = 0;
  init_count = 0;
}

static nvmlReturn_t init(void) {
  nvmlReturn_t r = NVML_SUCCESS;
  pthread_mutex_lock(&lock);
  if (init_count == 0) r = open_session();
  if (r == NVML_SUCCESS) init_count++;
  pthread_mutex_unlock(&lock);
  return r;
}

API nvmlReturn_t nvmlInit_v2(void) { return init(); }
#undef nvmlInit
API nvmlReturn_t nvmlInit(void) { return init(); }
API nvmlReturn_t nvmlInitWithFlags(unsigned int flags) { return init(); }

API nvmlReturn_t nvmlShutdown(void) {
  pthread_mutex_lock(&lock);
  nvmlReturn_t r = NVML_SUCCESS;
  if (init_count == 0) r = NVML_ERROR_UNINITIALIZED;
  else if (--init_count == 0 && connected) {
    avec_conn_close(&conn);
    connected = 0;
  }
  pthread_mutex_unlock(&lock);
  return r;
}

API const char *nvmlErrorString(nvmlReturn_t r) {
  switch (r) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_NO_PERMISSION: return "Insufficient Permissions";
    case NVML_ERROR_NOT_FOUND: return "Not Found";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    case NVML_ERROR_GPU_IS_LOST: return "GPU is lost";
    case NVML_ERROR_FUNCTION_NOT_FOUND: return "Function Not Found";
    default: return "Unknown Error";
  }
}

#define READY() do { if (!init_count) return NVML_ERROR_UNINITIALIZED; } while (0)
#define DEV(h, d)                                                            \
  READY();                                                                   \
  if (!(h) || (h) < handles || (h) >= handles + ndev) return NVML_ERROR_INVALID_ARGUMENT; \
  const avec_device_info *d = &devs[(h)->index]

static nvmlReturn_t copy_str(char *out, unsigned len, const char *s) {
  if (!out) return NVML_ERROR_INVALID_ARGUMENT;
  if (strlen(s) + 1 > len) return NVML_ERROR_INSUFFICIENT_SIZE;
  memcpy(out, s, strlen(s) + 1);
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlSystemGetDriverVersion(char *version, unsigned int length) {
  READY();
  char v[32];
  /* CUDA 13.0 corresponds to the 580 driver branch; the exact server build is not on the wire. */
  snprintf(v, sizeof v, "%s", hello.driver_version >= 13000 ? "580.00" : "575.00");
  return copy_str(version, length, v);
}

API nvmlReturn_t nvmlSystemGetNVMLVersion(char *version, unsigned int length) {
  READY();
  return copy_str(version, length, "13.580.00");
}

API nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *v) {
  READY();
  if (!v) return NVML_ERROR_INVALID_ARGUMENT;
  *v = (int)hello.driver_version;
  return NVML_SUCCESS;
}
API nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *v) { return nvmlSystemGetCudaDriverVersion(v); }

static nvmlReturn_t get_count(unsigned int *n) {
  READY();
  if (!n) return NVML_ERROR_INVALID_ARGUMENT;
  *n = (unsigned)ndev;
  return NVML_SUCCESS;
}
API nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *n) { return get_count(n); }
#undef nvmlDeviceGetCount
API nvmlReturn_t nvmlDeviceGetCount(unsigned int *n) { return get_count(n); }

static nvmlReturn_t by_index(unsigned int i, nvmlDevice_t *d) {
  READY();
  if (!d || i >= (unsigned)ndev) return NVML_ERROR_INVALID_ARGUMENT;
  *d = &handles[i];
  return NVML_SUCCESS;
}
API nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int i, nvmlDevice_t *d) { return by_index(i, d); }
#undef nvmlDeviceGetHandleByIndex
API nvmlReturn_t nvmlDeviceGetHandleByIndex(unsigned int i, nvmlDevice_t *d) { return by_index(i, d); }

static void format_uuid(const uint8_t *u, char *out, size_t len) {
  snprintf(out, len, "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2],
           u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

static void format_bus(const avec_device_info *d, char *out, size_t len, int legacy) {
  snprintf(out, len, legacy ? "%04x:%02x:%02x.0" : "%08x:%02x:%02x.0", (unsigned)d->pci_domain, (unsigned)d->pci_bus,
           (unsigned)d->pci_device);
  for (char *p = out; *p; p++)
    if (*p >= 'a' && *p <= 'f') *p = (char)(*p - 'a' + 'A');
}

API nvmlReturn_t nvmlDeviceGetHandleByUUID(const char *uuid, nvmlDevice_t *dev) {
  READY();
  if (!uuid || !dev) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < ndev; i++) {
    char s[64];
    format_uuid(devs[i].uuid, s, sizeof s);
    if (!strcasecmp(s, uuid)) { *dev = &handles[i]; return NVML_SUCCESS; }
  }
  return NVML_ERROR_NOT_FOUND;
}

static nvmlReturn_t by_bus(const char *bus, nvmlDevice_t *dev) {
  READY();
  if (!bus || !dev) return NVML_ERROR_INVALID_ARGUMENT;
  for (int i = 0; i < ndev; i++) {
    char a[32], b[32];
    format_bus(&devs[i], a, sizeof a, 0);
    format_bus(&devs[i], b, sizeof b, 1);
    if (!strcasecmp(a, bus) || !strcasecmp(b, bus)) { *dev = &handles[i]; return NVML_SUCCESS; }
  }
  return NVML_ERROR_NOT_FOUND;
}
API nvmlReturn_t nvmlDeviceGetHandleByPciBusId_v2(const char *bus, nvmlDevice_t *dev) { return by_bus(bus, dev); }
#undef nvmlDeviceGetHandleByPciBusId
API nvmlReturn_t nvmlDeviceGetHandleByPciBusId(const char *bus, nvmlDevice_t *dev) { return by_bus(bus, dev); }

API nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t h, char *name, unsigned int length) {
  DEV(h, d);
  return copy_str(name, length, d->name);
}

API nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t h, char *uuid, unsigned int length) {
  DEV(h, d);
  char s[64];
  format_uuid(d->uuid, s, sizeof s);
  return copy_str(uuid, length, s);
}

API nvmlReturn_t nvmlDeviceGetIndex(nvmlDevice_t h, unsigned int *index) {
  DEV(h, d);
  (void)d;
  if (!index) return NVML_ERROR_INVALID_ARGUMENT;
  *index = (unsigned)h->index;
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMinorNumber(nvmlDevice_t h, unsigned int *minor) { return nvmlDeviceGetIndex(h, minor); }

API nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t h, int *major, int *minor) {
  DEV(h, d);
  if (!major || !minor) return NVML_ERROR_INVALID_ARGUMENT;
  *major = d->cc_major;
  *minor = d->cc_minor;
  return NVML_SUCCESS;
}

/* used = total - free as the server reports it for this claim; total = the claim's limit. */
static void memory(const avec_device_info *d, unsigned long long *total, unsigned long long *free_,
                   unsigned long long *used) {
  avec_mem_info rep = {0};
  size_t got = 0;
  *total = d->total_mem;
  *free_ = d->total_mem;
  pthread_mutex_lock(&lock);
  uint32_t st = connected ? avec_conn_call(&conn, AVEC_OP_MEM_GET_INFO, 0, 0, NULL, 0, NULL, 0, &rep, sizeof rep, &got)
                          : AVEC_STATUS_LOST;
  pthread_mutex_unlock(&lock);
  if (st == 0 && got >= sizeof rep && rep.total) {
    *total = rep.total < d->total_mem ? rep.total : d->total_mem;
    *free_ = rep.free < *total ? rep.free : *total;
  }
  *used = *total - *free_;
}

API nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t h, nvmlMemory_t *m) {
  DEV(h, d);
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  memory(d, &m->total, &m->free, &m->used);
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t h, nvmlMemory_v2_t *m) {
  DEV(h, d);
  if (!m) return NVML_ERROR_INVALID_ARGUMENT;
  if (m->version != nvmlMemory_v2) return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
  m->reserved = 0;
  memory(d, &m->total, &m->free, &m->used);
  return NVML_SUCCESS;
}

static nvmlReturn_t pci_info(nvmlDevice_t h, nvmlPciInfo_t *p) {
  DEV(h, d);
  if (!p) return NVML_ERROR_INVALID_ARGUMENT;
  memset(p, 0, sizeof *p);
  p->domain = (unsigned)d->pci_domain;
  p->bus = (unsigned)d->pci_bus;
  p->device = (unsigned)d->pci_device;
  p->pciDeviceId = 0x10de; /* vendor NVIDIA; the device id is not on the wire */
  format_bus(d, p->busId, sizeof p->busId, 0);
  format_bus(d, p->busIdLegacy, sizeof p->busIdLegacy, 1);
  return NVML_SUCCESS;
}
API nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t h, nvmlPciInfo_t *p) { return pci_info(h, p); }
API nvmlReturn_t nvmlDeviceGetPciInfo_v2(nvmlDevice_t h, nvmlPciInfo_t *p) { return pci_info(h, p); }
#undef nvmlDeviceGetPciInfo
API nvmlReturn_t nvmlDeviceGetPciInfo(nvmlDevice_t h, nvmlPciInfo_t *p) { return pci_info(h, p); }

API nvmlReturn_t nvmlDeviceGetComputeMode(nvmlDevice_t h, nvmlComputeMode_t *mode) {
  DEV(h, d);
  (void)d;
  if (!mode) return NVML_ERROR_INVALID_ARGUMENT;
  *mode = NVML_COMPUTEMODE_DEFAULT;
  return NVML_SUCCESS;
}

API nvmlReturn_t nvmlDeviceGetPersistenceMode(nvmlDevice_t h, nvmlEnableState_t *mode) {
  DEV(h, d);
  (void)d;
  if (!mode) return NVML_ERROR_INVALID_ARGUMENT;
  *mode = NVML_FEATURE_ENABLED;
  return NVML_SUCCESS;
}

/* Other processes of the GPU node are not visible to a claim. */
static nvmlReturn_t no_processes(nvmlDevice_t h, unsigned int *count, void *infos) {
  DEV(h, d);
  (void)d; (void)infos;
  if (!count) return NVML_ERROR_INVALID_ARGUMENT;
  *count = 0;
  return NVML_SUCCESS;
}
API nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t h, unsigned int *n, nvmlProcessInfo_t *p) {
  return no_processes(h, n, p);
}
API nvmlReturn_t nvmlDeviceGetGraphicsRunningProcesses_v3(nvmlDevice_t h, unsigned int *n, nvmlProcessInfo_t *p) {
  return no_processes(h, n, p);
}

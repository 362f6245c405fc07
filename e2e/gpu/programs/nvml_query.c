/* nvidia-smi style NVML queries through dlopen("libnvidia-ml.so.1"): count, name, UUID, memory, PCI,
 * driver version. Memory totals through the shim are the session's limit: printed as comments. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct {
  char busIdLegacy[16];
  unsigned int domain, bus, device, pciDeviceId, pciSubSystemId;
  char busId[32];
} nvmlPciInfo_t;

#define SYM(var, name)                                                \
  do {                                                                \
    *(void **)&var = dlsym(h, name);                                  \
    if (!var) { printf("ERR missing symbol %s\n", name); errors++; } \
  } while (0)

int main(void) {
  int errors = 0;
  void *h = dlopen("libnvidia-ml.so.1", RTLD_NOW);
  if (!h) { printf("ERR dlopen libnvidia-ml.so.1\nerrors: 1\n"); return 1; }
  nvmlReturn_t (*init)(void), (*shutdown)(void), (*count)(unsigned *), (*byIndex)(unsigned, nvmlDevice_t *);
  nvmlReturn_t (*getName)(nvmlDevice_t, char *, unsigned), (*getUuid)(nvmlDevice_t, char *, unsigned);
  nvmlReturn_t (*getMem)(nvmlDevice_t, nvmlMemory_t *), (*getPci)(nvmlDevice_t, nvmlPciInfo_t *);
  nvmlReturn_t (*drv)(char *, unsigned), (*cudaDrv)(int *);
  const char *(*errstr)(nvmlReturn_t);
  SYM(init, "nvmlInit_v2");
  SYM(shutdown, "nvmlShutdown");
  SYM(count, "nvmlDeviceGetCount_v2");
  SYM(byIndex, "nvmlDeviceGetHandleByIndex_v2");
  SYM(getName, "nvmlDeviceGetName");
  SYM(getUuid, "nvmlDeviceGetUUID");
  SYM(getMem, "nvmlDeviceGetMemoryInfo");
  SYM(getPci, "nvmlDeviceGetPciInfo_v3");
  SYM(drv, "nvmlSystemGetDriverVersion");
  SYM(cudaDrv, "nvmlSystemGetCudaDriverVersion_v2");
  SYM(errstr, "nvmlErrorString");
  if (errors) { printf("errors: %d\n", errors); return 1; }
  nvmlReturn_t r = init();
  printf("nvmlInit_v2: %d\n", r);
  if (r) { printf("errors: 1\n"); return 1; }
  unsigned n = 0;
  r = count(&n);
  printf("device count: %d (%d)\n", n, r);
  char buf[96];
  r = drv(buf, sizeof buf);
  printf("# driver version: %s\n", r ? "?" : buf);
  printf("driver version ok: %d\n", r == 0 && strlen(buf) > 0);
  int cv = 0;
  r = cudaDrv(&cv);
  printf("cuda driver version: %d (%d)\n", cv, r);
  for (unsigned i = 0; i < n; i++) {
    nvmlDevice_t d;
    r = byIndex(i, &d);
    if (r) { printf("ERR handle %u: %d\n", i, r); errors++; continue; }
    r = getName(d, buf, sizeof buf);
    printf("dev%u name: %s (%d)\n", i, r ? "" : buf, r);
    r = getUuid(d, buf, sizeof buf);
    printf("dev%u uuid: %s (%d)\n", i, r ? "" : buf, r);
    nvmlMemory_t m;
    r = getMem(d, &m);
    printf("dev%u memory: %d used<=total %d free<=total %d\n", i, r, m.used <= m.total, m.free <= m.total);
    printf("# dev%u memory total=%llu free=%llu used=%llu\n", i, m.total, m.free, m.used);
    nvmlPciInfo_t p;
    memset(&p, 0, sizeof p);
    r = getPci(d, &p);
    printf("dev%u pci: %s (%d)\n", i, r ? "" : p.busId, r);
  }
  nvmlDevice_t bad;
  r = byIndex(999, &bad);
  printf("bad index: %d %s\n", r, errstr(r));
  printf("nvmlShutdown: %d\n", shutdown());
  printf("errors: %d\n", errors);
  return errors ? 1 : 0;
}

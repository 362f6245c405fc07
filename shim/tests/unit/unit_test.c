/* Unit tests of the shim's pure parts, linked statically with the shim's objects: framing, endpoint and
 * config parsing, the proc-address table (version-exactness, per-thread variants, every lookup the traced
 * CUDA 13.0 clients made), module image sizing, SHA-256/MD2/HMAC-MD2 vectors, the integrity digest, the
 * range table, error names, parameter packing. Usage: unit_test DATA_DIR [FATBIN] */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../test.h"
#include "avec_digest.h"
#include "errors_table.h"
#include "proc_table.h"
#include "shim_cuda.h"

void avec_integrity_digest(uint32_t driver_version, uint32_t code, uint32_t pid, uint32_t tid_low,
                           uint64_t cudart_table_addr, uint64_t integrity_table_addr, uint64_t slot1_addr,
                           uint64_t seconds, const avec_device_info *devs, int ndev, uint64_t out[2]);

CUresult cuMemcpyHtoD_v2_ptds(CUdeviceptr d, const void *s, size_t n);

static void (*avec_proc_v1(void))(void) {
  const avec_proc_entry *e;
  avec_proc_resolve("cuGetProcAddress", 11030, 0, &e);
  return e->fn;
}

static void hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", p[i]);
}

static void test_framing(void) {
  CASE("framing");
  avec_frame_hdr h;
  avec_frame_hdr_make(&h, AVEC_OP_MEM_ALLOC, AVEC_F_REPLY, 7, 3, 24);
  CHECK_EQ(h.magic, AVEC_WIRE_MAGIC);
  CHECK_EQ(h.version, AVEC_WIRE_VERSION);
  CHECK_EQ(h.opcode, AVEC_OP_MEM_ALLOC);
  CHECK_EQ(h.ctx, 3);
  CHECK_EQ(avec_frame_hdr_check_reply(&h, 7), 0);
  CHECK(avec_frame_hdr_check_reply(&h, 8) != 0);            /* wrong request id */
  avec_frame_hdr bad = h;
  bad.magic ^= 1;
  CHECK(avec_frame_hdr_check_reply(&bad, 7) != 0);
  bad = h;
  bad.flags = 0;
  CHECK(avec_frame_hdr_check_reply(&bad, 7) != 0);           /* not a reply */
  bad = h;
  bad.payload_len = AVEC_MAX_PAYLOAD + 1;
  CHECK(avec_frame_hdr_check_reply(&bad, 7) != 0);           /* oversized */
  bad = h;
  bad.payload_len = 4;
  CHECK(avec_frame_hdr_check_reply(&bad, 7) != 0);           /* shorter than a reply header */
  bad = h;
  bad.version = 2;
  CHECK(avec_frame_hdr_check_reply(&bad, 7) != 0);
}

/* Builds a refused HELLO reply payload: avec_hello_reply + avec_hello_refusal(reason, declared) + text. */
static size_t refusal_payload(uint8_t *out, uint32_t status, uint32_t reason, uint32_t declared, const char *text) {
  avec_hello_reply r;
  memset(&r, 0, sizeof r);
  r.r.status = status;
  avec_hello_refusal f = {reason, declared};
  size_t n = strlen(text);
  memcpy(out, &r, sizeof r);
  memcpy(out + sizeof r, &f, sizeof f);
  memcpy(out + sizeof r + sizeof f, text, n);
  return sizeof r + sizeof f + n;
}

static void test_hello_refusal(void) {
  CASE("hello refusal");
  static uint8_t buf[2048];
  uint32_t reason = 99;
  char msg[AVEC_MAX_REFUSAL_MESSAGE + 1];
  size_t n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_DRAINING, 17, "node is draining!");
  CHECK_EQ(n, 48 + 17);
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), 0);
  CHECK_EQ(reason, AVEC_REFUSAL_DRAINING);
  CHECK(!strcmp(msg, "node is draining!"));
  CHECK(!strcmp(avec_refusal_name(reason), "draining"));
  CHECK(!strcmp(avec_refusal_name(AVEC_REFUSAL_TICKET_EXPIRED), "ticket-expired"));
  CHECK(!strcmp(avec_refusal_name(12345), "unspecified"));

  /* an empty message is fine; the reason still counts */
  n = refusal_payload(buf, AVEC_STATUS_BAD_TICKET, AVEC_REFUSAL_TICKET_EXPIRED, 0, "");
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), 0);
  CHECK_EQ(reason, AVEC_REFUSAL_TICKET_EXPIRED);
  CHECK_EQ(msg[0], 0);

  /* an older server: the bare avec_hello_reply */
  reason = 99;
  strcpy(msg, "stale");
  CHECK_EQ(avec_hello_refusal_decode(buf, sizeof(avec_hello_reply), &reason, msg, sizeof msg), -1);
  CHECK_EQ(reason, AVEC_REFUSAL_UNSPECIFIED);
  CHECK_EQ(msg[0], 0);
  CHECK_EQ(avec_hello_refusal_decode(buf, sizeof(avec_hello_reply) + 4, &reason, msg, sizeof msg), -1); /* half a tail */
  CHECK_EQ(avec_hello_refusal_decode(NULL, 0, &reason, msg, sizeof msg), -1);

  /* the declared length runs past what arrived, or past the protocol's bound: no read beyond `len` */
  n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_DRAINING, 18, "node is draining!");
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), -1);
  CHECK_EQ(reason, AVEC_REFUSAL_UNSPECIFIED);
  char longtext[AVEC_MAX_REFUSAL_MESSAGE + 2];
  memset(longtext, 'x', sizeof longtext - 1);
  longtext[sizeof longtext - 1] = 0;
  n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_DRAINING, AVEC_MAX_REFUSAL_MESSAGE + 1, longtext);
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), -1);
  n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_DRAINING, 0xFFFFFFFFu, "x");
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), -1); /* no wrap-around */
  /* exactly the bound: accepted */
  longtext[AVEC_MAX_REFUSAL_MESSAGE] = 0;
  n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_NODE_SESSION_LIMIT, AVEC_MAX_REFUSAL_MESSAGE, longtext);
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), 0);
  CHECK_EQ(strlen(msg), AVEC_MAX_REFUSAL_MESSAGE);

  /* a small caller buffer cuts the text; control characters cannot split the log line */
  n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_SERVER_ERROR, 8, "a\nb\x1b[1mc");
  char small[6];
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, small, sizeof small), 0);
  CHECK(!strcmp(small, "a?b?["));
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), 0);
  CHECK(!strcmp(msg, "a?b?[1mc"));
  CHECK(strchr(msg, '\n') == NULL);
  /* UTF-8 passes through */
  n = refusal_payload(buf, AVEC_STATUS_REFUSED, AVEC_REFUSAL_DRAINING, 6, "n\xc3\xb6" "de!");
  CHECK_EQ(avec_hello_refusal_decode(buf, n, &reason, msg, sizeof msg), 0);
  CHECK(!strcmp(msg, "n\xc3\xb6" "de!"));
}

static void test_endpoint_config(const char *tmpdir) {
  CASE("endpoint");
  char host[64], port[16];
  CHECK_EQ(avec_endpoint_split("gpu-1.example:4700", host, sizeof host, port, sizeof port), 0);
  CHECK(!strcmp(host, "gpu-1.example") && !strcmp(port, "4700"));
  CHECK_EQ(avec_endpoint_split("[fd00::1]:80", host, sizeof host, port, sizeof port), 0);
  CHECK(!strcmp(host, "fd00::1") && !strcmp(port, "80"));
  CHECK(avec_endpoint_split("noport", host, sizeof host, port, sizeof port) != 0);
  CHECK(avec_endpoint_split("h:", host, sizeof host, port, sizeof port) != 0);
  CHECK(avec_endpoint_split(":80", host, sizeof host, port, sizeof port) != 0);
  CHECK(avec_endpoint_split("h:8x", host, sizeof host, port, sizeof port) != 0);

  CASE("config");
  char ep[256], ticket[512], path[512];
  unsetenv("AVEC_SERVER");
  unsetenv("AVEC_TICKET");
  setenv("AVEC_CLAIM_DIR", tmpdir, 1);
  CHECK(avec_config_load(ep, sizeof ep, ticket, sizeof ticket) != 0); /* nothing configured */
  snprintf(path, sizeof path, "%s/endpoint", tmpdir);
  FILE *f = fopen(path, "w");
  fputs("10.0.0.5:4700\n", f);
  fclose(f);
  snprintf(path, sizeof path, "%s/ticket", tmpdir);
  f = fopen(path, "w");
  fputs("avec1.abc.def\n", f);
  fclose(f);
  CHECK_EQ(avec_config_load(ep, sizeof ep, ticket, sizeof ticket), 0);
  CHECK(!strcmp(ep, "10.0.0.5:4700"));
  CHECK(!strcmp(ticket, "avec1.abc.def")); /* trailing newline trimmed */
  setenv("AVEC_SERVER", "127.0.0.1:1", 1);
  setenv("AVEC_TICKET", "t2", 1);
  CHECK_EQ(avec_config_load(ep, sizeof ep, ticket, sizeof ticket), 0);
  CHECK(!strcmp(ep, "127.0.0.1:1") && !strcmp(ticket, "t2")); /* env wins */
  unsetenv("AVEC_SERVER");
  unsetenv("AVEC_TICKET");

  CASE("log level");
  CHECK_EQ(avec_log_parse(NULL), AVEC_LOG_ERROR);
  CHECK_EQ(avec_log_parse("debug"), AVEC_LOG_DEBUG);
  CHECK_EQ(avec_log_parse("warn"), AVEC_LOG_WARN);
  CHECK_EQ(avec_log_parse("bogus"), AVEC_LOG_ERROR);
}

static const char *resolve(const char *api, int version, int per_thread) {
  const avec_proc_entry *e;
  int rc = avec_proc_resolve(api, version, per_thread, &e);
  return rc == AVEC_PROC_OK ? e->symbol : rc == AVEC_PROC_VERSION ? "<version>" : "<none>";
}

static void test_proc_table(const char *datadir) {
  CASE("proc-address version-exact");
  CHECK(!strcmp(resolve("cuMemAlloc", 2000, 0), "cuMemAlloc"));
  CHECK(!strcmp(resolve("cuMemAlloc", 3019, 0), "cuMemAlloc"));
  CHECK(!strcmp(resolve("cuMemAlloc", 3020, 0), "cuMemAlloc_v2"));
  CHECK(!strcmp(resolve("cuMemAlloc", 13000, 0), "cuMemAlloc_v2"));
  CHECK(!strcmp(resolve("cuMemAlloc", 1000, 0), "<version>"));
  CHECK(!strcmp(resolve("cuNoSuchThing", 13000, 0), "<none>"));
  CHECK(!strcmp(resolve("cuGetProcAddress", 11030, 0), "cuGetProcAddress"));
  CHECK(!strcmp(resolve("cuGetProcAddress", 12000, 0), "cuGetProcAddress_v2"));
  CHECK(!strcmp(resolve("cuCtxCreate", 12050, 0), "cuCtxCreate_v4"));
  CHECK(!strcmp(resolve("cuCtxCreate", 11040, 0), "cuCtxCreate_v3"));
  CHECK(!strcmp(resolve("cuStreamGetCaptureInfo", 11030, 0), "cuStreamGetCaptureInfo_v2"));

  CASE("proc-address per-thread");
  CHECK(!strcmp(resolve("cuMemcpyHtoD", 7000, 1), "cuMemcpyHtoD_v2_ptds"));
  CHECK(!strcmp(resolve("cuMemcpyHtoD", 7000, 0), "cuMemcpyHtoD_v2"));
  CHECK(!strcmp(resolve("cuLaunchKernel", 7000, 1), "cuLaunchKernel_ptsz"));
  CHECK(!strcmp(resolve("cuStreamGetCaptureInfo", 12030, 1), "cuStreamGetCaptureInfo_v3_ptsz"));
  CHECK(!strcmp(resolve("cuInit", 2000, 1), "cuInit")); /* no per-thread variant: the default one */

  CASE("cuGetProcAddress entry points");
  void *p = NULL;
  CUdriverProcAddressQueryResult st = 99;
  CHECK_EQ(cuGetProcAddress_v2("cuGetProcAddress", &p, 12000, 0, &st), CUDA_SUCCESS);
  CHECK(p == (void *)cuGetProcAddress_v2 && st == CU_GET_PROC_ADDRESS_SUCCESS);
  /* driver 580 (measured): misses are CUDA_SUCCESS with a status; a version above the driver's is refused */
  CHECK_EQ(cuGetProcAddress_v2("cuMemAlloc", &p, 1000, 0, &st), CUDA_SUCCESS);
  CHECK(p == NULL && st == CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT);
  CHECK_EQ(cuGetProcAddress_v2("cuDefinitelyNotAFunction", &p, 12000, 0, &st), CUDA_SUCCESS);
  CHECK(p == NULL && st == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  CHECK_EQ(cuGetProcAddress_v2("", &p, 0, 0, &st), CUDA_SUCCESS);
  CHECK(p == NULL && st == CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND);
  CHECK_EQ(cuGetProcAddress_v2("cuInit", &p, 14000, 0, &st), CUDA_ERROR_INVALID_VALUE);
  CHECK(p == NULL);
  CUresult (*v1)(const char *, void **, int, cuuint64_t) =
      (CUresult(*)(const char *, void **, int, cuuint64_t))avec_proc_v1();
  CHECK_EQ(v1("cuDefinitelyNotAFunction", &p, 12000, 0), CUDA_ERROR_NOT_FOUND); /* old entry point: no status */
  CHECK_EQ(cuGetProcAddress_v2("cuMemcpyHtoD", &p, 13000, CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM, &st), 0);
  CHECK(p == (void *)cuMemcpyHtoD_v2_ptds);

  CASE("traced lookups");
  char path[512], line[256];
  snprintf(path, sizeof path, "%s/traced-lookups.txt", datadir);
  FILE *f = fopen(path, "r");
  CHECK(f != NULL);
  int lookups = 0, mismatches = 0;
  while (f && fgets(line, sizeof line, f)) {
    char kind, name[200];
    int ver = 0, flags = 0, status = 0;
    if (line[0] == '#') continue;
    if (sscanf(line, "%c %199s %d %d %d", &kind, name, &ver, &flags, &status) < 2) continue;
    lookups++;
    if (kind == 'S') {
      size_t lo = 0, hi = avec_symbol_table_len;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcmp(avec_symbol_table[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
      }
      int found = lo < avec_symbol_table_len && !strcmp(avec_symbol_table[lo].name, name);
      if (!found) { mismatches++; fprintf(stderr, "  dlsym name not exported: %s\n", name); }
      continue;
    }
    p = NULL;
    CUresult r = cuGetProcAddress_v2(name, &p, ver, (cuuint64_t)flags, &st);
    int found = r == CUDA_SUCCESS && p != NULL;
    if (found != (status == 0)) {
      mismatches++;
      fprintf(stderr, "  %s v%d flags %d: shim %s, driver %s\n", name, ver, flags, found ? "found" : "missing",
              status == 0 ? "found" : "missing");
    }
  }
  if (f) fclose(f);
  CHECK(lookups > 700);
  CHECK_EQ(mismatches, 0);
}

static void test_image_size(const char *fatbin_path) {
  CASE("image size");
  const void *start;
  uint8_t fb[64] = {0};
  uint32_t magic = 0xBA55ED50u;
  uint16_t ver = 1, hsz = 16;
  uint64_t fat = 48;
  memcpy(fb, &magic, 4); memcpy(fb + 4, &ver, 2); memcpy(fb + 6, &hsz, 2); memcpy(fb + 8, &fat, 8);
  CHECK_EQ(avec_image_size(fb, &start), 64);
  CHECK(start == fb);
  struct { int magic, version; const void *data; void *fn; } wrap = {0x466243B1, 1, fb, NULL};
  CHECK_EQ(avec_image_size(&wrap, &start), 64);
  CHECK(start == fb); /* the wrapper is followed to the fatbin */
  const char *ptx = ".version 8.0\n.target sm_90\n";
  CHECK_EQ(avec_image_size(ptx, &start), strlen(ptx) + 1);
  const char *ptx2 = ".version 8.0\n.target sm_90\n.visible .entry k1(\n.param .u64 a)\n{}\n.entry k2 ()\n{}\n";
  char **pn;
  CHECK_EQ(avec_image_kernel_names(ptx2, strlen(ptx2), &pn), 2);
  CHECK(!strcmp(pn[0], "k1") && !strcmp(pn[1], "k2"));
  avec_free_names(pn, 2);
  uint8_t zfat[16 + 64] = {0}; /* a fatbin whose only entry is compressed: not readable here */
  uint64_t zsize = 64, zflags = 0x8000 | 0x11;
  uint32_t zh = 0x40;
  uint16_t two = 2;
  memcpy(zfat, &magic, 4); memcpy(zfat + 6, &hsz, 2); memcpy(zfat + 8, &zsize, 8);
  memcpy(zfat + 16, &two, 2); memcpy(zfat + 20, &zh, 4); memcpy(zfat + 16 + 0x28, &zflags, 8);
  CHECK_EQ(avec_image_kernel_names(zfat, sizeof zfat, &pn), -1);
  /* a 64-bit ELF whose section headers end at 0x200 + 3 * 64 */
  uint8_t elf[0x300] = {0x7f, 'E', 'L', 'F', 2, 1, 1};
  uint64_t shoff = 0x200;
  uint16_t shentsize = 64, shnum = 3;
  memcpy(elf + 0x28, &shoff, 8); memcpy(elf + 0x3a, &shentsize, 2); memcpy(elf + 0x3c, &shnum, 2);
  CHECK_EQ(avec_image_size(elf, &start), 0x200 + 3 * 64);
  if (fatbin_path) {
    FILE *f = fopen(fatbin_path, "rb");
    CHECK(f != NULL);
    if (f) {
      struct stat st;
      fstat(fileno(f), &st);
      uint8_t *buf = malloc((size_t)st.st_size);
      CHECK_EQ(fread(buf, 1, (size_t)st.st_size, f), st.st_size);
      fclose(f);
      CHECK_EQ(avec_image_size(buf, &start), st.st_size); /* nvcc's own fatbin: header size + fatSize */
      char **names;
      int n = avec_image_kernel_names(buf, (size_t)st.st_size, &names);
      CHECK_EQ(n, 2); /* scale and big_params; globals and device sections are not kernels */
      int has_scale = 0, has_big = 0;
      for (int i = 0; i < n; i++) {
        has_scale |= !strcmp(names[i], "scale");
        has_big |= !strcmp(names[i], "big_params");
      }
      CHECK(has_scale && has_big);
      if (n > 0) avec_free_names(names, n);
      free(buf);
    }
  }
}

static void test_sha256_vectors(void);
static void test_md2_vectors(void);

static void test_digests(void) {
  CASE("sha256 (accelerated if available)");
  int accel = avec_sha256_accelerated();
  printf("sha256: %s path\n", accel ? "SHA-NI" : "portable");
  test_sha256_vectors();
  CASE("sha256 (portable)");
  avec_sha256_portable_only(1);
  CHECK_EQ(avec_sha256_accelerated(), 0);
  test_sha256_vectors();
  avec_sha256_portable_only(0);
  CHECK_EQ(avec_sha256_accelerated(), accel);
  CASE("sha256 paths agree");
  uint8_t *big = malloc(1000003), a1[32], a2[32];
  for (int i = 0; i < 1000003; i++) big[i] = (uint8_t)(i * 7 + (i >> 9));
  avec_sha256_once(big, 1000003, a1);
  avec_sha256_portable_only(1);
  avec_sha256_once(big, 1000003, a2);
  avec_sha256_portable_only(0);
  CHECK(!memcmp(a1, a2, 32));
  free(big);
  test_md2_vectors();
}

static void test_sha256_vectors(void) {
  uint8_t d[32];
  char h[65];
  avec_sha256_once("", 0, d); hex(d, 32, h);
  CHECK(!strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
  avec_sha256_once("abc", 3, d); hex(d, 32, h);
  CHECK(!strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
  const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  avec_sha256_once(m448, strlen(m448), d); hex(d, 32, h);
  CHECK(!strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
  avec_sha256 s;
  avec_sha256_init(&s);
  char a[1000];
  memset(a, 'a', sizeof a);
  for (int i = 0; i < 1000; i++) avec_sha256_update(&s, a, sizeof a); /* one million 'a' in pieces */
  avec_sha256_final(&s, d); hex(d, 32, h);
  CHECK(!strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

static void test_md2_vectors(void) {
  uint8_t d[32];
  char h[65];
  CASE("md2 (RFC 1319 vectors)");
  static const char *in[] = {"", "a", "abc", "message digest", "abcdefghijklmnopqrstuvwxyz",
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                             "12345678901234567890123456789012345678901234567890123456789012345678901234567890"};
  static const char *out[] = {"8350e5a3e24c153df2275c9f80692773", "32ec01ec4a6dac72c0ab96fb34c0b5d1",
                              "da853b0d3f88d99b30283a69e6ded6bb", "ab4f496bfb2a530b219ff33031fe06b0",
                              "4e8ddff3650292ab5a4108c3aa47940b", "da33def2a42df13975352846c30338cd",
                              "d5976f79d83d3a0dc9806c3c66f3efd8"};
  for (int i = 0; i < 7; i++) {
    avec_md2(in[i], strlen(in[i]), d); hex(d, 16, h);
    CHECK(!strcmp(h, out[i]));
  }

  CASE("hmac-md2");
  /* Expected values computed with Python's stdlib hmac over an independent MD2 (RFC-vector checked). */
  avec_hmac_md2((const uint8_t *)"Jefe", 4, "what do ya want for nothing?", 28, d); hex(d, 16, h);
  CHECK(!strcmp(h, "292f9d34f9e311846de86c495d7adfa2"));
  uint8_t msg[76];
  for (int i = 0; i < 76; i++) msg[i] = (uint8_t)i;
  static const uint8_t key[16] = {0x14, 0x6a, 0xdd, 0xae, 0x53, 0xa9, 0xa7, 0x52,
                                  0xaa, 0x08, 0x41, 0x36, 0x0b, 0xf5, 0x5a, 0x9f};
  avec_hmac_md2(key, 16, msg, sizeof msg, d); hex(d, 16, h);
  CHECK(!strcmp(h, "70179cf997c1374ec2d4e2c0c4fd2e23"));

  CASE("integrity digest record layout");
  /* The record is u32 version, code, pid, tid; u64 table, table, slot, seconds; then per device 16-byte UUID
   * + 3 x i32 PCI. Bytes 0..75 are reproduced by choosing the fields accordingly. */
  avec_device_info dev;
  memset(&dev, 0, sizeof dev);
  uint32_t w[4];
  uint64_t q[4];
  memcpy(w, msg, 16);
  memcpy(q, msg + 16, 32);
  memcpy(dev.uuid, msg + 48, 16);
  memcpy(&dev.attrs[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID], msg + 64, 4);
  memcpy(&dev.attrs[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID], msg + 68, 4);
  memcpy(&dev.attrs[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID], msg + 72, 4);
  dev.pci_bus = 0x7777; /* the record uses the attributes the runtime reads, not these fields */
  uint64_t o[2];
  avec_integrity_digest(w[0], w[1], w[2], w[3], q[0], q[1], q[2], q[3], &dev, 1, o);
  hex((const uint8_t *)o, 16, h);
  CHECK(!strcmp(h, "70179cf997c1374ec2d4e2c0c4fd2e23"));
}

static void test_ranges(void) {
  CASE("ranges");
  avec_range_table t = AVEC_RANGE_TABLE_INIT;
  avec_range a = {0x1000, 0x100, AVEC_RANGE_DEVICE, 0, NULL, 1}, b = {0x3000, 0x1000, AVEC_RANGE_DEVICE, 0, NULL, 2};
  CHECK_EQ(avec_ranges_insert(&t, &b), 0);
  CHECK_EQ(avec_ranges_insert(&t, &a), 0);
  avec_range overlap = {0x10f0, 0x20, AVEC_RANGE_DEVICE, 0, NULL, 3};
  CHECK(avec_ranges_insert(&t, &overlap) != 0);
  avec_range empty = {0x9000, 0, AVEC_RANGE_DEVICE, 0, NULL, 4};
  CHECK(avec_ranges_insert(&t, &empty) != 0);
  avec_range got;
  CHECK_EQ(avec_ranges_find(&t, 0x10ff, &got), 0);
  CHECK_EQ(got.id, 1);
  CHECK(avec_ranges_find(&t, 0x1100, NULL) != 0);       /* one past the end */
  CHECK(avec_ranges_find(&t, 0xfff, NULL) != 0);
  CHECK_EQ(avec_ranges_contains(&t, 0x3000, 0x1000), 0);
  CHECK(avec_ranges_contains(&t, 0x3001, 0x1000) != 0); /* runs past the allocation */
  CHECK(avec_ranges_contains(&t, 0x2000, 1) != 0);      /* between allocations */
  CHECK(avec_ranges_remove(&t, 0x3001, NULL) != 0);     /* only by base */
  CHECK_EQ(avec_ranges_remove(&t, 0x3000, &got), 0);
  CHECK_EQ(got.size, 0x1000);
  CHECK_EQ(avec_ranges_count(&t), 1);
  for (uint64_t i = 0; i < 1000; i++) { /* growth and ordering */
    avec_range r = {0x100000 + i * 0x200, 0x100, AVEC_RANGE_DEVICE, 0, NULL, i};
    avec_ranges_insert(&t, &r);
  }
  CHECK_EQ(avec_ranges_count(&t), 1001);
  CHECK_EQ(avec_ranges_find(&t, 0x100000 + 777 * 0x200 + 5, &got), 0);
  CHECK_EQ(got.id, 777);
  int owner;
  avec_range mine = {0x900000, 0x10, AVEC_RANGE_DEVICE, 0, &owner, 5000};
  avec_range mine2 = {0x900100, 0x10, AVEC_RANGE_GLOBAL, 0, &owner, 5001};
  CHECK_EQ(avec_ranges_insert(&t, &mine), 0);
  CHECK_EQ(avec_ranges_insert(&t, &mine2), 0);
  CHECK_EQ(avec_ranges_remove_ctx(&t, &owner, NULL), 2); /* a context reset drops exactly its ranges */
  CHECK_EQ(avec_ranges_count(&t), 1001);
  CHECK(avec_ranges_find(&t, 0x900100, NULL) != 0);
  CHECK_EQ(avec_ranges_find(&t, 0x100000 + 999 * 0x200, &got), 0); /* order kept */
}

static void test_errors(void) {
  CASE("error names");
  const char *s = NULL;
  CHECK_EQ(cuGetErrorName(CUDA_ERROR_INVALID_VALUE, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "CUDA_ERROR_INVALID_VALUE"));
  CHECK_EQ(cuGetErrorName(CUDA_ERROR_NOT_SUPPORTED, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "CUDA_ERROR_NOT_SUPPORTED"));
  CHECK_EQ(cuGetErrorString(CUDA_ERROR_OUT_OF_MEMORY, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "out of memory")); /* the driver's short strings */
  CHECK_EQ(cuGetErrorString(CUDA_ERROR_INVALID_VALUE, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "invalid argument"));
  CHECK_EQ(cuGetErrorString(CUDA_ERROR_ILLEGAL_ADDRESS, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "an illegal memory access was encountered"));
  CHECK_EQ(cuGetErrorString(CUDA_ERROR_INVALID_SOURCE, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "device kernel image is invalid"));
  CHECK_EQ(cuGetErrorString(CUDA_SUCCESS, &s), CUDA_SUCCESS);
  CHECK(s && !strcmp(s, "no error"));
  CHECK_EQ(cuGetErrorString(CUDA_ERROR_TENSOR_MEMORY_LEAK, &s), CUDA_SUCCESS); /* described in cuda.h only */
  CHECK(s && strlen(s) > 10);
  CHECK_EQ(cuGetErrorName((CUresult)12345, &s), CUDA_ERROR_INVALID_VALUE);
  CHECK(avec_error_table_len > 90);
}

static void test_geometry(void) {
  CASE("launch geometry");
  int32_t dev[AVEC_DEV_ATTR_SLOTS] = {0};
  dev[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X] = 1024; dev[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y] = 1024;
  dev[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z] = 64; dev[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X] = 2147483647;
  dev[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y] = 65535; dev[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z] = 65535;
  dev[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 1024;
  struct CUfunc_st f;
  memset(&f, 0, sizeof f);
  f.attrs[CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK] = 512;
  f.attrs[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES] = 48 * 1024;
  unsigned g[3] = {100000, 1, 1}, b[3] = {256, 2, 1};
  CHECK_EQ(avec_check_geometry(&f, dev, g, b, 1024), CUDA_SUCCESS);
  unsigned b2[3] = {2048, 1, 1};
  CHECK_EQ(avec_check_geometry(&f, dev, g, b2, 0), CUDA_ERROR_INVALID_VALUE); /* block dim */
  unsigned b3[3] = {32, 32, 1};
  CHECK_EQ(avec_check_geometry(&f, dev, g, b3, 0), CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES); /* > the function's 512 */
  unsigned b4[3] = {64, 32, 1};
  CHECK_EQ(avec_check_geometry(&f, dev, g, b4, 0), CUDA_ERROR_INVALID_VALUE); /* > the device's 1024 */
  CHECK_EQ(avec_check_geometry(&f, dev, g, b, 100 * 1024), CUDA_ERROR_INVALID_VALUE); /* smem without opt-in */
  f.attrs[CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES] = 200 * 1024;            /* after cuFuncSetAttribute */
  CHECK_EQ(avec_check_geometry(&f, dev, g, b, 100 * 1024), CUDA_SUCCESS);
  unsigned g2[3] = {1, 70000, 1};
  CHECK_EQ(avec_check_geometry(&f, dev, g2, b, 0), CUDA_ERROR_INVALID_VALUE); /* grid y */
  unsigned g3[3] = {0, 1, 1};
  CHECK_EQ(avec_check_geometry(&f, dev, g3, b, 0), CUDA_ERROR_INVALID_VALUE);
}

static void test_visible(void) {
  CASE("CUDA_VISIBLE_DEVICES");
  avec_device_info d[3];
  memset(d, 0, sizeof d);
  for (int i = 0; i < 3; i++) d[i].uuid[0] = (uint8_t)(0xa0 + i), d[i].uuid[1] = 0x5b;
  uint32_t m[AVEC_MAX_DEVICES];
  CHECK_EQ(avec_visible_devices(NULL, d, 3, m), 3);
  CHECK(m[0] == 0 && m[2] == 2);
  CHECK_EQ(avec_visible_devices("", d, 3, m), 0);
  CHECK_EQ(avec_visible_devices("-1", d, 3, m), 0);
  CHECK_EQ(avec_visible_devices("2,0", d, 3, m), 2);
  CHECK(m[0] == 2 && m[1] == 0); /* reordered */
  CHECK_EQ(avec_visible_devices("1,7,0", d, 3, m), 1); /* the list ends at the first invalid entry */
  CHECK_EQ(avec_visible_devices("0,0", d, 3, m), 1);
  CHECK_EQ(avec_visible_devices("GPU-a15b", d, 3, m), 1);
  CHECK_EQ(m[0], 1);
  CHECK_EQ(avec_visible_devices("GPU-A2, 0", d, 3, m), 2); /* case-insensitive prefix, spaces */
  CHECK(m[0] == 2 && m[1] == 0);
  CHECK_EQ(avec_visible_devices("GPU-ff", d, 3, m), 0);
  CHECK_EQ(avec_visible_devices("abc", d, 3, m), 0);
}

static void test_pack(void) {
  CASE("parameter packing");
  avec_param params[3] = {{0, 8}, {8, 4}, {16, 8}};
  struct CUfunc_st f;
  memset(&f, 0, sizeof f);
  f.num_params = 3;
  f.params = params;
  f.param_bytes = 24;
  uint64_t p0 = 0x1122334455667788ull, p2 = 42;
  int p1 = -7;
  void *args[3] = {&p0, &p1, &p2};
  uint8_t out[64];
  memset(out, 0xee, sizeof out);
  CHECK_EQ(avec_pack_params(&f, args, NULL, out, sizeof out), 24);
  uint64_t r0; int r1; uint64_t r2;
  memcpy(&r0, out, 8); memcpy(&r1, out + 8, 4); memcpy(&r2, out + 16, 8);
  CHECK(r0 == p0 && r1 == p1 && r2 == p2);
  CHECK_EQ(out[12], 0); /* padding is zeroed */
  CHECK_EQ(avec_pack_params(&f, args, NULL, out, 16), -1); /* does not fit */
  uint8_t blob[20] = {1, 2, 3};
  size_t blen = sizeof blob;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, blob, CU_LAUNCH_PARAM_BUFFER_SIZE, &blen, CU_LAUNCH_PARAM_END};
  CHECK_EQ(avec_pack_params(&f, NULL, extra, out, sizeof out), 20);
  CHECK(out[0] == 1 && out[2] == 3);
  void *bad_extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, blob, CU_LAUNCH_PARAM_END};
  CHECK_EQ(avec_pack_params(&f, NULL, bad_extra, out, sizeof out), -1); /* size missing */
  CHECK_EQ(avec_pack_params(&f, NULL, NULL, out, sizeof out), -1);      /* params required */
  f.params_unknown = 1;
  CHECK_EQ(avec_pack_params(&f, args, NULL, out, sizeof out), 0);
}

/* MODULE_KERNEL_NAMES replies: well-formed ones decode; anything malformed or beyond the bounds is refused. */
static size_t names_reply(uint8_t *buf, uint32_t count, const char *names, size_t bytes) {
  avec_kernel_names h = {{0, 0}, count, (uint32_t)bytes};
  memcpy(buf, &h, sizeof h);
  memcpy(buf + sizeof h, names, bytes);
  return sizeof h + bytes;
}

static void test_kernel_names_reply(void) {
  CASE("kernel names replies");
  static uint8_t buf[sizeof(avec_kernel_names) + 4096];
  char **v;
  size_t n = names_reply(buf, 2, "alpha\0beta\0", 11);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), 2);
  CHECK(!strcmp(v[0], "alpha") && !strcmp(v[1], "beta"));
  avec_free_names(v, 2);
  n = names_reply(buf, 0, "", 0);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), 0); /* a module without kernels */
  avec_free_names(v, 0);
  CHECK_EQ(avec_kernel_names_decode(buf, sizeof(avec_kernel_names) - 1, &v), -1); /* short header */
  n = names_reply(buf, 3, "alpha\0beta\0", 11);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), -1); /* fewer names than counted */
  n = names_reply(buf, 1, "alpha\0beta\0", 11);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), -1); /* bytes left over */
  n = names_reply(buf, 2, "alpha\0beta", 10);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), -1); /* last name unterminated */
  n = names_reply(buf, 2, "alpha\0\0", 7);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), -1); /* empty name */
  n = names_reply(buf, 1, "alpha\0", 6);
  CHECK_EQ(avec_kernel_names_decode(buf, n - 1, &v), -1); /* truncated: bytes says more than arrived */
  CHECK_EQ(avec_kernel_names_decode(buf, n + 1, &v), -1); /* more than bytes says */
  char longname[AVEC_MAX_NAME + 2];
  memset(longname, 'k', AVEC_MAX_NAME + 1);
  longname[AVEC_MAX_NAME + 1] = 0;
  n = names_reply(buf, 1, longname, AVEC_MAX_NAME + 2);
  CHECK_EQ(avec_kernel_names_decode(buf, n, &v), -1); /* a name over AVEC_MAX_NAME */
  avec_kernel_names big = {{0, 0}, AVEC_MAX_KERNEL_NAMES + 1, 0};
  memcpy(buf, &big, sizeof big);
  CHECK_EQ(avec_kernel_names_decode(buf, sizeof big, &v), -1); /* absurd count */
  big.count = 1;
  big.bytes = AVEC_MAX_KERNEL_NAME_BYTES + 1;
  memcpy(buf, &big, sizeof big);
  CHECK_EQ(avec_kernel_names_decode(buf, sizeof big, &v), -1); /* absurd size */
}

int main(int argc, char **argv) {
  const char *datadir = argc > 1 ? argv[1] : "shim/tests/data";
  char tmpdir[] = "/tmp/avec-shim-unit-XXXXXX";
  if (!mkdtemp(tmpdir)) return 2;
  test_framing();
  test_hello_refusal();
  test_endpoint_config(tmpdir);
  test_proc_table(datadir);
  test_image_size(argc > 2 ? argv[2] : NULL);
  test_kernel_names_reply();
  test_digests();
  test_ranges();
  test_errors();
  test_pack();
  test_geometry();
  test_visible();
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  if (system(cmd)) {}
  return TEST_SUMMARY("shim unit");
}

// exptrace CPU test client: resolves the tables the way cudart does (dlopen RTLD_LOCAL, dlsym of
// cuGetProcAddress_v2, cuGetProcAddress through itself, cuGetExportTable through that) and calls slots.
#include <dlfcn.h>
#include <stdio.h>
#include <stdint.h>
typedef struct { unsigned char b[16]; } U;
typedef int (*gpa_t)(const char *, void **, int, unsigned long long, void *);
typedef int (*get_t)(const void **, const U *);
static void setter(void **o, void *v) { *o = v; }
int main(void) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW);  /* local, like cudart */
  gpa_t gpa = (gpa_t)dlsym(h, "cuGetProcAddress_v2");
  gpa_t gpa2; gpa("cuGetProcAddress", (void **)&gpa2, 12000, 0, 0);
  get_t get; gpa2("cuGetExportTable", (void **)&get, 3000, 0, 0);
  U a = {{0x21, 0x31, 0x8c, 0x60}}, c = {{0xc6, 0x93, 0x33, 0x6e}}, x = {{0x99}};
  const uintptr_t *t; get((const void **)&t, &a);
  int out = 0;
  int r = ((int (*)(int *, int))t[1])(&out, 2);
  long s = ((long (*)(long, long, long, long, long, long))t[3])(1, 2, 3, 4, 5, 6);
  printf("size %lu slot1 rc %d out %x slot3 %ld slot2 %lx\n", (unsigned long)t[0], r, out, s, (unsigned long)t[2]);
  const uintptr_t *t2; get((const void **)&t2, &c);
  void *o; ((int (*)(void **, void *, void *))t2[2])(&o, 0, (void *)0x55);
  printf("cls get %p\n", o);
  get_t get2 = (get_t)dlsym(h, "cuGetExportTable");
  const void *t3; printf("unknown rc %d, direct same table %d\n", get2(&t3, &x), (get2((const void **)&t3, &a), t3 == (const void *)t));
  U it = {{0x6e, 0x16, 0x3f, 0xbe}};
  const uintptr_t *t4; get((const void **)&t4, &it);
  void *got = 0;
  int n = ((int (*)(void **, void (*)(void **, void *)))t4[0])(&got, setter);
  int (*fname)(const char **, void *); gpa2("cuFuncGetName", (void **)&fname, 12000, 0, 0);
  const char *nm = 0; fname(&nm, (void *)0x42);
  printf("iter %d got %p name %s\n", n, got, nm);
  return 0;
}

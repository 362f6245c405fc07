/* Force-included into every shim object (mk/shim.mk): bind the few libc symbols whose default version
 * moved in glibc 2.32-2.34 (libpthread merged into libc) to their original x86-64 versions, so libraries
 * built here (glibc 2.36) still load into containers with an older glibc: the shim is injected into
 * arbitrary user images. glibc >= 2.34 keeps these versions as compatible aliases of the same code; on an
 * older glibc they live in libpthread.so.0, which the libraries therefore list as NEEDED. */
#ifndef AVEC_GLIBC_H
#define AVEC_GLIBC_H
#include <features.h> /* defines __GLIBC__ (this header is included before anything else) */
#if defined(__x86_64__) && defined(__GLIBC__)
__asm__(".symver pthread_create,pthread_create@GLIBC_2.2.5");
__asm__(".symver pthread_join,pthread_join@GLIBC_2.2.5");
__asm__(".symver pthread_once,pthread_once@GLIBC_2.2.5");
__asm__(".symver pthread_mutex_trylock,pthread_mutex_trylock@GLIBC_2.2.5");
__asm__(".symver pthread_sigmask,pthread_sigmask@GLIBC_2.2.5");
/* wire/avec_codec.h loads libzstd on demand (libdl.so.2 before glibc 2.34) */
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
#endif
#endif

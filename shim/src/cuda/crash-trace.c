/* AVEC_LOG=debug: a crash of the process (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) prints the faulting
 * address and a native backtrace before the signal takes its course (the handler that was installed
 * before, e.g. Python's faulthandler, still runs). Frames inside libcuda.so.1 show as offsets that
 * `addr2line -e libcuda.so.1` resolves against the build. Async-signal-safe: write() and backtrace only. */
#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "shim_cuda.h"

static const int signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static struct sigaction previous[sizeof signals / sizeof signals[0]];

static void put_hex(char *p, uint64_t v) {
  for (int i = 15; i >= 0; i--, v >>= 4) p[i] = "0123456789abcdef"[v & 15];
}

static void on_crash(int sig, siginfo_t *info, void *uctx) {
  char line[] = "avec: fatal signal    at address 0x0000000000000000; backtrace:\n";
  line[19] = (char)('0' + sig / 10);
  line[20] = (char)('0' + sig % 10);
  put_hex(line + 35, (uint64_t)(uintptr_t)(info ? info->si_addr : 0));
  ssize_t w = write(2, line, sizeof line - 1);
  (void)w;
  void *frames[64];
  int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, 2);
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
    if (signals[i] != sig) continue;
    sigaction(sig, &previous[i], NULL); /* hand over to whoever handled it before (or the default) */
    if ((previous[i].sa_flags & SA_SIGINFO) && previous[i].sa_sigaction) previous[i].sa_sigaction(sig, info, uctx);
    else if (previous[i].sa_handler != SIG_DFL && previous[i].sa_handler != SIG_IGN) previous[i].sa_handler(sig);
    else raise(sig);
  }
}

void avec_crash_trace_install(void) {
  if (avec_log_level() < AVEC_LOG_DEBUG) return;
  void *warm[1];
  backtrace(warm, 1); /* loads libgcc now: not inside the signal handler */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_crash;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) sigaction(signals[i], &sa, &previous[i]);
}

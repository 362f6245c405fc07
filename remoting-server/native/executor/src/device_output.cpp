#include "device_output.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "log.h"

namespace avec {

namespace {
constexpr size_t kChunk = 64 * 1024;
constexpr int kPipeBytes = 1 << 20;  // room for a burst while the drain thread is not scheduled

void close_fd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}
}  // namespace

bool DeviceOutput::start() {
  if (active_) return true;
  const char* step = nullptr;
  // A process started without a stdout gets /dev/null there first, so the pipe cannot land on descriptor 1.
  if (fcntl(STDOUT_FILENO, F_GETFD) < 0) {
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0 && null != STDOUT_FILENO) {
      dup2(null, STDOUT_FILENO);
      close(null);
    }
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) step = "pipe";
  else {
    rd_ = fds[0];
    wr_ = fds[1];
    if (fcntl(rd_, F_SETFL, fcntl(rd_, F_GETFL) | O_NONBLOCK) != 0) step = "nonblocking read end";
  }
  if (!step) fcntl(wr_, F_SETPIPE_SZ, kPipeBytes);  // best effort: the default 64 KiB works, with more wake-ups
  if (!step && (wake_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) step = "eventfd";
  if (!step && (saved_stdout_ = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)) < 0) step = "save stdout";  // for stop()
  if (!step) {
    chunk_.reset(new char[kChunk]);
    try {
      thread_ = std::thread([this] { drain(); });
    } catch (const std::exception&) {
      step = "thread";
    }
  }
  if (!step) {
    fflush(stdout);  // what was printed before belongs to the old stdout
    if (dup2(wr_, STDOUT_FILENO) < 0) step = "dup2";
  }
  if (step) {
    int err = errno;
    undo();
    AVEC_LOG(warn, "device_output_unavailable").str("step", step).str("error", strerror(err))
        .str("effect", "device printf stays in this process's stdout");
    return false;
  }
  close_fd(&wr_);  // stdout is the pipe's only write end now
  active_ = true;
  return true;
}

void DeviceOutput::join() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (write(wake_, &one, sizeof one) < 0) {}  // an eventfd write cannot fail here; the thread wakes on it
  thread_.join();
}

void DeviceOutput::undo() {
  join();
  for (int* fd : {&rd_, &wr_, &wake_, &saved_stdout_}) close_fd(fd);
}

void DeviceOutput::drain() {
  struct pollfd p[2] = {{rd_, POLLIN, 0}, {wake_, POLLIN, 0}};
  for (;;) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    std::lock_guard<std::mutex> l(mu_);
    read_locked();
    if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) return;  // no writer left: nothing more can come
  }
}

void DeviceOutput::read_locked() {
  for (;;) {
    ssize_t n = read(rd_, chunk_.get(), kChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    size_t keep = std::min<size_t>((size_t)n, cap_ - std::min(cap_, pending_.size()));
    pending_.append(chunk_.get(), keep);
    if (keep < (size_t)n) {
      if (!dropped_) {
        AVEC_LOG(warn, "device_output_dropped").unum("bytes", (size_t)n - keep).unum("cap", cap_)
            .str("why", "no reply has carried the device output away for a while")
            .str("then", "later drops are counted in device_output_end");
      }
      dropped_ += (size_t)n - keep;
    }
    if ((size_t)n < kChunk) return;  // a pipe read returns less only when the pipe is empty
  }
}

bool DeviceOutput::take(std::string* out) {
  if (!active_) return false;
  fflush(stdout);
  std::lock_guard<std::mutex> l(mu_);
  read_locked();
  if (pending_.empty()) return false;
  out->swap(pending_);
  pending_.clear();
  return true;
}

uint64_t DeviceOutput::stop() {
  if (!active_) return 0;
  active_ = false;
  fflush(stdout);
  // Stdout goes back first: the pipe then has no writer, so nothing can block on it while the thread stops.
  dup2(saved_stdout_, STDOUT_FILENO);
  join();
  read_locked();  // the thread is gone: no lock needed
  uint64_t unsent = pending_.size();
  pending_.clear();
  undo();
  return unsent;
}

}  // namespace avec

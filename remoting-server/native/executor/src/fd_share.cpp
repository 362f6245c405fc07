#include "fd_share.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.h"
#include "sha256.h"

namespace avec {

namespace {
constexpr int kTimeoutS = 5;  // a peer that connects and says nothing does not hold the thread longer

void set_timeouts(int fd) {
  struct timeval tv = {kTimeoutS, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

bool unix_addr(const std::string& path, sockaddr_un* a) {
  memset(a, 0, sizeof *a);
  a->sun_family = AF_UNIX;
  if (path.size() >= sizeof a->sun_path) return false;
  memcpy(a->sun_path, path.c_str(), path.size() + 1);
  return true;
}
}  // namespace

FdShare::~FdShare() {
  if (listen_fd_ >= 0) {
    if (stop_[1] >= 0 && write(stop_[1], "x", 1) < 0) {}
    if (thread_.joinable()) thread_.join();
    close(listen_fd_);
    unlink(path_.c_str());
  }
  for (int i = 0; i < 2; i++)
    if (stop_[i] >= 0) close(stop_[i]);
  for (auto& e : fds_) close(e.second);
}

bool FdShare::start(std::string* why) {
  if (listen_fd_ < 0) {
    uint8_t rnd[8];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
      *why = "no randomness for the fd socket name";
      return false;
    }
    std::string path = dir_ + "/fd-" + std::to_string(getpid()) + "-" + hex(rnd, sizeof rnd) + ".sock";
    sockaddr_un a;
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = s >= 0 && unix_addr(path, &a) && bind(s, (sockaddr*)&a, sizeof a) == 0;
    ok = ok && chmod(path.c_str(), 0600) == 0 && listen(s, 16) == 0 && pipe2(stop_, O_CLOEXEC) == 0;
    if (!ok) {
      *why = "cannot serve shareable handles at " + path + ": " + strerror(errno);
      if (s >= 0) close(s);
      unlink(path.c_str());
      return false;
    }
    listen_fd_ = s;
    path_ = path;
    thread_ = std::thread(&FdShare::serve, this);
  }
  return true;
}

bool FdShare::offer(const IpcToken& token, int fd, std::string* why) {
  if (listen_fd_ < 0) {
    close(fd);
    *why = "fd socket not started";
    return false;
  }
  std::lock_guard<std::mutex> l(mu_);
  auto it = fds_.find(token);
  if (it != fds_.end()) close(it->second);
  fds_[token] = fd;
  return true;
}

void FdShare::withdraw(const IpcToken& token) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = fds_.find(token);
  if (it == fds_.end()) return;
  close(it->second);
  fds_.erase(it);
}

void FdShare::serve() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (p[1].revents) return;
    int c = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    answer(c);
    close(c);
  }
}

// One request: the peer (a process of this user) names a token; it gets the fd with a status byte 1, or a
// status byte 0 alone when the token is not offered here.
void FdShare::answer(int c) {
  ucred cred = {};
  socklen_t len = sizeof cred;
  if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.uid != geteuid()) {
    AVEC_LOG(warn, "fd_share_refused").str("reason", "peer is another user").num("uid", (int64_t)cred.uid);
    return;
  }
  set_timeouts(c);
  IpcToken t;
  if (recv(c, t.data(), t.size(), MSG_WAITALL) != (ssize_t)t.size()) return;
  std::lock_guard<std::mutex> l(mu_);
  auto it = fds_.find(t);
  char status = it == fds_.end() ? 0 : 1;
  iovec io = {&status, 1};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  if (status) {
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    cmsghdr* cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &it->second, sizeof(int));
  }
  if (sendmsg(c, &m, MSG_NOSIGNAL) != 1) AVEC_LOG(info, "fd_share_send_failed").str("reason", strerror(errno));
  else AVEC_LOG(debug, "fd_shared").num("peer_pid", cred.pid).num("sent", status);
}

int FdShare::fetch(const std::string& path, const IpcToken& token, std::string* why) {
  sockaddr_un a;
  if (!unix_addr(path, &a)) {
    *why = "fd socket path too long";
    return -1;
  }
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *why = std::string("socket: ") + strerror(errno);
    return -1;
  }
  set_timeouts(s);
  if (connect(s, (sockaddr*)&a, sizeof a) != 0) {
    *why = "the exporting session is gone (" + std::string(strerror(errno)) + ")";
    close(s);
    return -1;
  }
  char status = 0;
  iovec io = {&status, 1};
  msghdr m = {};
  m.msg_iov = &io;
  m.msg_iovlen = 1;
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  m.msg_control = ctl;
  m.msg_controllen = sizeof ctl;
  int fd = -1;
  if (send(s, token.data(), token.size(), MSG_NOSIGNAL) == (ssize_t)token.size() &&
      recvmsg(s, &m, MSG_CMSG_CLOEXEC) == 1) {
    for (cmsghdr* cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
      if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS && cm->cmsg_len == CMSG_LEN(sizeof(int)))
        memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  }
  close(s);
  if (fd >= 0 && status != 1) {
    close(fd);
    fd = -1;
  }
  if (fd < 0) *why = status == 0 ? "the exporting session no longer offers this handle" : "no fd received";
  return fd;
}

}  // namespace avec

// Passing a shareable OS handle (a POSIX file descriptor the driver exported) from the session that made it
// to another session's executor process on this node. The exporting session offers the fd under the IPC
// token it published; a small thread accepts on a unix socket in the node's private IPC directory and, to a
// peer of the same user that names an offered token, sends that fd with SCM_RIGHTS. The importer checks the
// scope in the registry entry first; the exporter checks the token (and the peer's user) again. No CUDA call
// ever runs on that thread: it only reads its token table.
#pragma once
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "ipc_registry.h"

namespace avec {

class FdShare {
 public:
  explicit FdShare(std::string dir) : dir_(std::move(dir)) {}
  ~FdShare();
  FdShare(const FdShare&) = delete;
  FdShare& operator=(const FdShare&) = delete;

  // Makes the socket and starts its thread (once). False (with `why`) when the socket cannot be made.
  bool start(std::string* why);
  // Serves `fd` (this object owns it from now on, also on failure) under `token`; false before start().
  bool offer(const IpcToken& token, int fd, std::string* why);
  // Stops serving `token` and closes its fd.
  void withdraw(const IpcToken& token);
  // The socket peers connect to (empty before start()).
  const std::string& path() const { return path_; }

  // The importing side: a new fd for `token` from the socket at `path`, or -1 (with `why`).
  static int fetch(const std::string& path, const IpcToken& token, std::string* why);

 private:
  void serve();
  void answer(int conn);
  std::string dir_, path_;
  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};  // a pipe: a byte on it ends the thread
  std::thread thread_;
  std::mutex mu_;
  std::map<IpcToken, int> fds_;
};

}  // namespace avec

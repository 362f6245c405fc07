// Stripe connections of a session: extra TCP connections that carry the slices of large copies in
// parallel (one thread each), so a copy is not limited to what one TCP stream (one core copying on each
// side) can move. They are negotiated in HELLO, handed over by the listener and authenticated by the
// session's random token (docs/protocol.md, "Stripes").
#pragma once
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "avec_wire.h"
#include "conn.h"
#include "join_channel.h"  // receive_joined_fd: joins arrive from the listener over the session's channel

namespace avec {

// Bytes [size*i/n, size*(i+1)/n) of a striped chunk travel on stripe i.
inline size_t stripe_slice_begin(size_t size, size_t i, size_t n) { return (size_t)((unsigned __int128)size * i / n); }

// Reads a joining connection's HELLO, checks session id and token (constant time) and asks `index_ok`
// about its index (nullptr: fine, else why not). Answers it either way (a refusal says why). Returns the
// index with `fd` kept, or -1 with `fd` closed and *why set.
int64_t answer_join(int fd, uint64_t session_id, const uint8_t token[AVEC_STRIPE_TOKEN_BYTES],
                    const std::function<const char*(uint32_t index)>& index_ok, std::string* why);

class StripeSet {
 public:
  StripeSet() = default;
  ~StripeSet();
  StripeSet(const StripeSet&) = delete;
  StripeSet& operator=(const StripeSet&) = delete;

  // Takes `count` stripe connections from `channel` (descriptors the listener passed with SCM_RIGHTS),
  // reads each one's HELLO, checks session id, token and index, and answers it (a refusal says why). A
  // connection that fails the check is refused and closed and does not count. Returns "" once `count`
  // stripes are attached, else why not (and holds none).
  std::string attach(int channel, uint64_t session_id, const uint8_t token[AVEC_STRIPE_TOKEN_BYTES], uint32_t count,
                     int timeout_ms, int stall_timeout_ms);
  size_t size() const { return workers_.size(); }
  // One chunk, its slices on every stripe in parallel. False: a stripe failed or desynchronized (the
  // session must end: the streams can no longer be matched).
  bool read_chunk(uint8_t* buf, size_t size, uint64_t seq);
  bool write_chunk(const uint8_t* buf, size_t size, uint64_t seq);
  // Tells the client that no (more) data of the current transfer comes: a piece of length 0 on every stripe.
  bool write_abort();
  void close_all();

 private:
  enum class Job { none, read, write, abort, quit };
  struct Worker {
    std::unique_ptr<FdConn> conn;
    std::thread thread;
  };
  void run(size_t i, uint64_t seen);
  bool dispatch(Job j, uint8_t* buf, size_t size, uint64_t seq);

  std::vector<Worker> workers_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t generation_ = 0;
  Job job_ = Job::none;
  uint8_t* buf_ = nullptr;
  size_t size_ = 0;
  uint64_t seq_ = 0;
  size_t pending_ = 0;
  bool failed_ = false;
};

}  // namespace avec

// The session process's stdout, captured: the CUDA driver writes a kernel's device printf to the stdout of
// the process that runs it (at synchronizations, launches, blocking copies, module loads and context
// destruction), and that process is the session's, on the GPU node. The session sends what was written to
// its client (DEVICE_OUTPUT frames) ahead of its next reply. One session per process: capturing takes over
// file descriptor 1 until stop().
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace avec {

class DeviceOutput {
 public:
  // Past `cap` bytes held unsent, more output is dropped (counted, logged once).
  explicit DeviceOutput(size_t cap = 8u << 20) : cap_(cap) {}
  ~DeviceOutput() { stop(); }
  DeviceOutput(const DeviceOutput&) = delete;
  DeviceOutput& operator=(const DeviceOutput&) = delete;

  // Points stdout at a pipe that a thread of its own keeps empty (the driver must never block on a full
  // pipe while the session waits in a driver call). False, logged, with stdout untouched when a step fails.
  bool start();
  bool active() const { return active_; }
  // Moves everything written so far, in order, into *out (after flushing stdio's buffer, through which the
  // driver may print); false when there is nothing. With no output: one fflush and one non-blocking read.
  bool take(std::string* out);
  // Puts stdout back and stops the thread; returns the bytes written but never taken (nobody to send them to).
  uint64_t stop();
  uint64_t dropped() const { return dropped_; }  // bytes dropped over the cap

 private:
  void drain();        // the thread: reads whatever arrives, under mu_
  void read_locked();  // reads the pipe dry (non-blocking) into pending_, up to the cap
  void join();         // stops the thread
  void undo();         // stops the thread, closes what start() opened

  size_t cap_;
  bool active_ = false;
  int rd_ = -1, wr_ = -1, wake_ = -1, saved_stdout_ = -1;
  std::thread thread_;
  std::mutex mu_;  // both threads read the pipe only under it, so bytes cannot change places
  std::string pending_;
  std::unique_ptr<char[]> chunk_;
  std::atomic<uint64_t> dropped_{0};
};

}  // namespace avec

// Shared by the integration tests: executor processes (Listener) and a raw-frame client (Client).
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cuda.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "check.h"
#include "wire.h"

namespace avectest {

extern std::string g_exec;

inline std::string slurp(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, nullptr);
}

// A listener process and its log.
struct Listener {
  pid_t pid = -1;
  int port = 0;
  std::string log;

  explicit Listener(std::vector<std::string> extra = {}, const std::string& backend = "emulated",
                    const std::string& lib_path = "") {
    char tmpl[] = "/tmp/avec-exec-log-XXXXXX";
    int fd = mkstemp(tmpl);
    log = tmpl;
    std::vector<std::string> args = {g_exec, "--listen", "127.0.0.1:0", "--backend", backend, "--log-level", "info",
                                     "--emulated-memory", "268435456"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid = fork();
    if (pid == 0) {
      dup2(fd, 2);
      dup2(fd, 1);  // what a session prints to stdout (device printf not sent to its client) goes to the log
      if (!lib_path.empty()) setenv("LD_LIBRARY_PATH", lib_path.c_str(), 1);
      std::vector<char*> av;
      for (auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
      av.push_back(nullptr);
      execv(av[0], av.data());
      _exit(127);
    }
    close(fd);
    for (int i = 0; i < 200 && !port; i++) {  // wait for the "listening" line (up to 4 s)
      std::string text = slurp(log);
      size_t at = text.find("\"event\":\"listening\",\"address\":\"127.0.0.1:");
      if (at != std::string::npos) port = atoi(text.c_str() + at + strlen("\"event\":\"listening\",\"address\":\"127.0.0.1:"));
      else sleep_ms(20);
    }
  }
  ~Listener() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    unlink(log.c_str());
  }
  bool alive() const { return pid > 0 && waitpid(pid, nullptr, WNOHANG) == 0; }
  // Waits until the log contains all the given fragments on one line.
  bool wait_line(std::initializer_list<std::string> parts, int ms = 5000) const {
    for (int t = 0; t < ms; t += 20) {
      std::istringstream in(slurp(log));
      std::string line;
      while (std::getline(in, line)) {
        bool all = true;
        for (auto& p : parts) all = all && line.find(p) != std::string::npos;
        if (all) return true;
      }
      sleep_ms(20);
    }
    return false;
  }
};

struct Client {
  int fd = -1;
  explicit Client(int port) {
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) { close(fd); fd = -1; return; }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  explicit Client(int sockfd, bool) : fd(sockfd) {
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Client() { if (fd >= 0) close(fd); }
  bool send(const Bytes& b) {
    size_t off = 0;
    while (off < b.size()) {
      ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += (size_t)n;
    }
    return true;
  }
  bool read_exact(void* p, size_t n) {
    uint8_t* d = static_cast<uint8_t*>(p);
    while (n) {
      ssize_t r = ::recv(fd, d, n, 0);
      if (r <= 0) return false;
      d += r;
      n -= (size_t)r;
    }
    return true;
  }
  bool reply(Reply* r) {
    if (!read_exact(&r->hdr, sizeof r->hdr)) return false;
    if (r->hdr.magic != AVEC_WIRE_MAGIC || !(r->hdr.flags & AVEC_F_REPLY) || r->hdr.payload_len > AVEC_MAX_PAYLOAD) return false;
    r->payload.resize(r->hdr.payload_len);
    return read_exact(r->payload.data(), r->payload.size());
  }
  // The next reply that is not DEVICE_OUTPUT; the DEVICE_OUTPUT frames ahead of it go to *output.
  bool reply_after_output(Reply* r, std::vector<Reply>* output) {
    for (;;) {
      if (!reply(r)) return false;
      if (r->hdr.opcode != AVEC_OP_DEVICE_OUTPUT) return true;
      output->push_back(std::move(*r));
      *r = Reply();
    }
  }
  Reply call(const Bytes& b) {
    Reply r;
    if (!send(b) || !reply(&r)) r.payload.clear();
    return r;
  }
  // Collects a multi-frame D2H reply; returns the final status.
  uint32_t read_data(Bytes* out) {
    for (;;) {
      Reply r;
      if (!reply(&r)) return 0xffffffffu;
      out->insert(out->end(), r.payload.begin() + 8, r.payload.end());
      if (!(r.hdr.flags & AVEC_F_MORE)) return r.status();
    }
  }
  bool closed_by_peer() {
    uint8_t b;
    return ::recv(fd, &b, 1, 0) == 0;
  }
  bool hello_ok(avec_hello_reply* out = nullptr, const std::string& ticket = "") {
    Reply r = call(hello(0, ticket));
    if (out) *out = r.as<avec_hello_reply>();
    return r.status() == 0 && r.payload.size() >= sizeof(avec_hello_reply) + sizeof(avec_device_info);
  }
  uint64_t alloc(uint64_t n, uint32_t* status = nullptr) {
    Reply r = call(mem_alloc(n, 2));
    if (status) *status = r.status();
    return r.status() == 0 ? r.as<avec_mem_alloc_reply>().dptr : 0;
  }
};

inline int run_cmd(const std::string& cmd, std::string* out) {
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out->append(buf, n);
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace avectest

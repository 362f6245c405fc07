// The standalone listener (--listen): accepts connections without blocking, reads each HELLO without
// consuming it (MSG_PEEK) under a deadline, checks the ticket and the session caps, and only then forks
// the session process. Nothing unauthenticated ever holds a process: a connection waiting for its HELLO
// is one entry in a poll set, and their number is capped (overall and per client address).
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "ticket.h"

namespace avec {

struct ListenerOptions {
  std::string host, port;
  int hello_timeout_ms = 5000;        // connect -> complete HELLO
  size_t max_pending = 256;           // connections whose HELLO is not yet complete
  size_t max_pending_per_peer = 64;   // of those, from one client address (many pods may share one)
  size_t max_sessions = 64;           // live session processes
  size_t max_sessions_per_claim = 8;  // live sessions of one claim (a ticket's `maxs` may lower it); info-only
                                      // (NVML) sessions do not count
  std::string ticket_keys;            // keyring directory; empty: no ticket check (and no claim caps)
  std::string node;
};

// What the session process is given: the accepted socket (HELLO still unread), with tickets the verified
// claims, and the channel (a Unix socket) on which the listener passes it the session's stripe connections.
// Returns the process exit status.
using SessionStarter =
    std::function<int(int fd, const std::string& session_id, const TicketClaims* claims, int stripe_channel)>;

// The numeric session id of a session id string (the HELLO reply's session_id; stripes name it).
uint64_t session_number(const std::string& id);

// Runs until SIGTERM/SIGINT; returns the listener's exit status. `session_prefix` names session ids.
int run_listener(const ListenerOptions& o, const std::string& session_prefix, const SessionStarter& start);

}  // namespace avec

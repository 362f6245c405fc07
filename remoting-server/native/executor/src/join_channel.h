// The channel on which a front door (the executor's own listener, or the remoting server's addon
// listener) hands a session the connections that join it (stripes, the callback connection): one
// AF_UNIX SOCK_DGRAM socketpair per session, one descriptor per datagram (SCM_RIGHTS). Linked into both.
#pragma once
#include <cstdint>

#include "avec_wire.h"

namespace avec {

// A session gets at most this many joined connections passed over its lifetime (a bound on what a client
// holding the session id, with or without the token, can make a front door hand over).
constexpr uint32_t kMaxForwardedStripes = 4 * AVEC_MAX_STRIPES;

// Passes `fd` to the session without blocking; false if its end is gone or its queue is full.
bool pass_fd(int channel, int fd);
// The next descriptor passed on `channel` within `wait_ms` (close-on-exec), or -1.
int receive_joined_fd(int channel, int wait_ms);

}  // namespace avec

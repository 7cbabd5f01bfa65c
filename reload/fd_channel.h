// One end of the takeover Unix stream socket: frames of reload/takeover_protocol.h
// with file descriptors passed beside them (SCM_RIGHTS). The descriptors of
// a frame are attached to its first byte, so they arrive no later than the
// frame's last byte; the channel queues them and hands each message the
// ones it carries. Usable from a loop (readSome on readiness) or blocking
// (receive with a timeout) before a loop runs.
#pragma once

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "reload/sockets.h"
#include "reload/takeover_protocol.h"

namespace corral::reload::takeover {

struct Received {
  Message message;
  std::vector<UniqueFd> fds;  // fdCount(message) of them, in entry order
};

class Channel {
 public:
  explicit Channel(UniqueFd fd) : fd_(std::move(fd)) {}
  int fd() const { return fd_.get(); }

  // Writes the whole frame (waiting up to 5 s for room), fds on its first byte.
  Status send(const Message& m, const std::vector<int>& fds = {});
  // Reads what the socket holds now (non-blocking socket or after readiness).
  // False once the peer closed its end.
  Result<bool> readSome();
  // The next whole message with its descriptors; nullopt while incomplete.
  Result<std::optional<Received>> next();
  // Blocks up to timeoutMs for the next message; an error on timeout or EOF.
  Result<Received> receive(int timeoutMs);
  bool eof() const { return eof_; }

 private:
  UniqueFd fd_;
  Decoder decoder_;
  std::deque<UniqueFd> fds_;
  bool eof_ = false;
};

// A listening Unix stream socket at `path` (non-blocking, close-on-exec). A
// file left there by a process that is gone is replaced; a path someone
// answers on is an error.
Result<UniqueFd> listenUnix(const std::string& path);
// A connected Unix stream socket; kNotFound when nobody serves that path
// (no socket file, or a stale one).
Result<UniqueFd> connectUnix(const std::string& path);
// A connection waiting on a listening Unix socket; an invalid fd when none.
UniqueFd acceptUnix(int listener);

}  // namespace corral::reload::takeover

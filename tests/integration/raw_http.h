// A blocking TCP client for tests that must control the bytes on the wire:
// pipelined requests in one write, malformed requests, a head sent byte by
// byte, a reader that stops reading, WebSocket frames. Every call has a
// deadline; responses are parsed with base/http_response_parser.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "base/http_message.h"

namespace corral::it {

struct RawResponse {
  int status = 0;  // 0: none (see error)
  http::Headers headers;
  std::string body;        // unless a body sink took it
  uint64_t bodyBytes = 0;  // as delivered, either way
  bool upgraded = false;   // 101: the bytes after the head stay buffered
  std::string error;
  std::string header(std::string_view name) const;
};

class RawConn {
 public:
  RawConn() = default;
  ~RawConn();
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  // Connects to ip:port, from sourceIp when given; rcvBuf > 0 sets a small
  // receive buffer first (a slow reader's window).
  bool connect(const std::string& ip, int port, const std::string& sourceIp = "", int rcvBuf = 0);
  void close();
  bool connected() const { return fd_ >= 0; }

  // Writes all of data before the deadline.
  bool send(std::string_view data, uint64_t timeoutMs = 10000);
  // One read of what arrives within timeoutMs, appended to buffered():
  // bytes read, 0 at the peer's end of stream (or a reset), -1 on timeout.
  ssize_t readSome(uint64_t timeoutMs, size_t max = 256 * 1024);
  // Reads until the peer ends the stream (what arrives is kept) or the
  // deadline passes: true if it ended.
  bool waitClosed(uint64_t timeoutMs);

  // Reads one response. With onBody, body bytes go there instead of body.
  RawResponse readResponse(uint64_t timeoutMs, bool headRequest = false,
                           const std::function<void(std::string_view)>& onBody = {});

  // Bytes read and not yet taken by a response.
  std::string& buffered() { return buf_; }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

// A request head: "METHOD target HTTP/1.1", Host, the extra header lines
// (complete "Name: value\r\n" lines), then the blank line.
std::string requestHead(const std::string& method, const std::string& target,
                        const std::string& host, const std::string& extra = "");

// Resident set size of a process in KiB (from /proc), or -1.
long rssKiB(pid_t pid);

// WebSocket frames (RFC 6455): a masked client frame, and one frame parsed
// from the front of `buf` (removed from it) or nullopt-like false when the
// frame is not complete yet.
std::string wsClientFrame(int opcode, std::string_view payload);
bool wsTakeFrame(std::string& buf, int* opcode, std::string* payload);

}  // namespace corral::it

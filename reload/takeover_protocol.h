// The messages two generations of a process exchange on the takeover Unix
// socket (reload/takeover.h), and their wire codec. Socket-free: bytes in,
// message or precise error out; the file descriptors that travel with a
// Sockets message are carried beside the bytes (reload/fd_channel.h).
//
// A frame is "CT", one type byte, a 4-byte big-endian body length, then the
// body. The exchange, new process N to running process O:
//   N -> O  Hello      (protocol version, N's pid)
//   O -> N  Wait       (zero or more: O's own predecessor is still draining)
//   O -> N  Sockets    (one or more, the last one flagged; one fd per entry)
//   N -> O  Ready      (N serves on every socket now)
//   O -> N  Draining   (O stopped accepting; it exits when its connections end)
// and, later, on the same connection:
//   N -> O  Finish     (a third process asks N to take over while O still
//                       drains: O closes what is still open and exits now,
//                       so that at most two generations live)
// O may answer Refused instead of Wait/Sockets. O keeps the connection open
// until it exits, so that N sees O's end as the end of the stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace corral::reload::takeover {

inline constexpr uint32_t kProtocolVersion = 1;
// A Sockets message carries at most this many entries (and fds): the kernel
// takes at most 253 descriptors per sendmsg.
inline constexpr size_t kMaxSocketsPerMessage = 64;
inline constexpr size_t kMaxBodyBytes = 64 * 1024;

enum class MessageType : uint8_t {
  kHello = 1,
  kWait = 2,
  kSockets = 3,
  kReady = 4,
  kDraining = 5,
  kRefused = 6,
  kFinish = 7,
};

enum class SocketKind : uint8_t {
  kTcp = 1,      // a listening TCP socket of a worker
  kUdp = 2,      // a bound UDP socket of a worker
  kControl = 3,  // a listening TCP socket of the control loop (admin, HTTP API)
  kTakeover = 4  // the takeover Unix listener itself
};

enum class RefusedReason : uint8_t {
  kVersion = 1,  // the protocol versions differ
  kBusy = 2,     // another process is taking over now; connect again
};

struct Hello {
  uint32_t version = kProtocolVersion;
  int32_t pid = 0;
};
struct Wait {
  int32_t drainingPid = 0;  // the generation still draining
};
struct SocketEntry {
  SocketKind kind = SocketKind::kTcp;
  std::string host;  // IP literal; the Unix path for kTakeover
  uint16_t port = 0;
  uint32_t bufferBytes = 0;  // UDP buffer size asked for
  bool operator==(const SocketEntry&) const = default;
};
struct Sockets {
  bool last = true;
  std::vector<SocketEntry> entries;  // entry i travels with fd i
};
struct Ready {
  int32_t pid = 0;
};
struct Draining {
  int32_t pid = 0;
  uint32_t openConnections = 0;
};
struct Refused {
  RefusedReason reason = RefusedReason::kBusy;
  std::string detail;
};
struct Finish {
  int32_t waitingPid = 0;  // the third process, waiting for O to end
};

using Message = std::variant<Hello, Wait, Sockets, Ready, Draining, Refused, Finish>;

MessageType typeOf(const Message& m);
const char* typeName(MessageType t);
// How many descriptors travel with `m` (Sockets: one per entry).
size_t fdCount(const Message& m);

// One frame. Entries past kMaxSocketsPerMessage or strings past 64 KiB are
// the caller's bug and are refused as an error.
Result<std::string> encode(const Message& m);

// Frames from a byte stream, in order. After an error the stream is
// unusable (the peer is not speaking this protocol).
class Decoder {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next whole message; nullopt while its bytes are still coming.
  Result<std::optional<Message>> next();
  size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  bool failed_ = false;
};

}  // namespace corral::reload::takeover

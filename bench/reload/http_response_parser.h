#pragma once
// An incremental, socket-free HTTP/1.1 response parser for the reload
// benchmark's load tool (reload_load.cc): bytes in, "need more", "done" or
// "malformed" out. It keeps only what the tool needs (status, X-Backend,
// Connection: close) and discards bodies as they stream past, so a connection
// costs a small head buffer whatever the answers carry. Every size is bounded.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace corral::bench {

class HttpResponseParser {
 public:
  enum class State { kNeedMore, kDone, kMalformed };

  static constexpr size_t kMaxHead = 16 * 1024;  // status line + headers
  static constexpr size_t kMaxLine = 1024;       // a chunk-size or trailer line
  static constexpr size_t kMaxBackend = 128;     // X-Backend value kept

  // Ready for the next response on the connection (keeps buffer capacity, so a
  // long-lived connection allocates once).
  void reset();

  // Consumes bytes of the response. *used is how many were consumed: on kDone
  // the rest belong to whatever follows (the tool sends one request at a time,
  // so anything after is itself unexpected).
  State feed(const char* data, size_t len, size_t* used);

  // The peer closed the connection: kDone when the body runs until close and
  // the head was complete, else kNeedMore (the answer is missing or cut short:
  // the tool counts both as "closed").
  State finishOnClose();

  bool started() const { return started_; }
  int status() const { return status_; }
  std::string_view backend() const { return backend_; }
  bool closeAfter() const { return close_after_; }
  // Why the last kMalformed (for the tool's log, never matched on).
  std::string_view error() const { return error_; }

 private:
  enum class Phase {
    kHead,
    kBodyLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailer,
    kUntilClose,
    kDone
  };

  State fail(const char* why);
  State parseHead();
  // Appends to line_ up to '\n'; true when a whole line is there.
  bool takeLine(const char*& p, const char* end, bool* too_long);

  Phase phase_ = Phase::kHead;
  bool started_ = false;
  int status_ = 0;
  bool close_after_ = false;
  uint64_t remaining_ = 0;
  size_t trailer_lines_ = 0;
  std::string head_;
  std::string line_;
  std::string backend_;
  const char* error_ = "";
};

}  // namespace corral::bench

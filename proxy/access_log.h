// The access log of `corral proxy --access-log PATH|-`: one line per HTTP
// request, off by default (the session then only tests a null pointer).
//
// Each worker formats into its own AccessLog buffer (no lock on the request
// path) and writes it out in one write(2) when it passes flushBytes or
// flushMs after its first line, and when the worker stops. Every worker's
// buffer goes to one shared AccessLogFile, whose lock only serialises those
// whole-buffer writes, so lines never interleave.
//
// Line format (README "Access log"), fields separated by one space:
//   client [time] host "METHOD target HTTP/1.x" status bytes upstream
//   upstream_ms total_ms route termination
// "-" stands for a field that does not apply (no Host, no status, no task).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "base/loop.h"
#include "base/result.h"

namespace corral::proxy {

// One exchange as the session saw it. Views are valid during add() only.
struct AccessRecord {
  std::string_view client;  // client IP
  int64_t startWallMs = 0;  // when the request head was read (wall clock)
  std::string_view host;    // Host header; "" = none
  std::string_view method;  // "" = the request head was never read
  std::string_view target;
  int versionMinor = 1;
  int status = 0;                              // 0 = no status reached the client
  uint64_t bytes = 0;                          // bytes sent to the client
  const sockaddr_storage* upstream = nullptr;  // the task port last tried; null = none
  int64_t upstreamUs = -1;       // task picked to response head; -1 = no response head
  uint64_t totalUs = 0;          // request head read to the end of the answer
  std::string_view route;        // "/shop:0"; "" = no route
  std::string_view termination;  // "" = normal; else why it ended (no-route, cut, ...)
};

// Appends the record's line, with its '\n', to *out.
void formatAccessLine(const AccessRecord& record, std::string* out);

// The file (or stdout) every worker's lines go to.
class AccessLogFile {
 public:
  // "-" is standard output; a path is opened for appending (created 0644).
  static Result<std::shared_ptr<AccessLogFile>> open(const std::string& path);
  ~AccessLogFile();
  AccessLogFile(const AccessLogFile&) = delete;
  AccessLogFile& operator=(const AccessLogFile&) = delete;

  // Writes every byte (retrying short writes); thread safe. A failed write
  // is counted, never fatal: the proxy keeps serving without its log.
  void write(std::string_view bytes);
  uint64_t failedWrites() const { return failed_; }

 private:
  AccessLogFile(int fd, bool owned) : fd_(fd), owned_(owned) {}
  int fd_;
  bool owned_;
  std::mutex mutex_;
  uint64_t failed_ = 0;
};

struct AccessLogOptions {
  size_t flushBytes = 32 * 1024;  // write out once the buffer holds this much
  uint64_t flushMs = 1000;        // ... or this long after its first line
};

// One worker's buffer, on that worker's loop.
class AccessLog {
 public:
  // Receives whole lines, one buffer at a time.
  using Sink = std::function<void(std::string_view)>;

  AccessLog(Loop& loop, Sink sink, AccessLogOptions options = {});
  AccessLog(Loop& loop, std::shared_ptr<AccessLogFile> file, AccessLogOptions options = {});
  ~AccessLog();  // flushes
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void add(const AccessRecord& record);
  void flush();

 private:
  Sink sink_;
  AccessLogOptions options_;
  std::string buffer_;
  Timer timer_;
};

}  // namespace corral::proxy

#include "proxy/access_log.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace corral::proxy {

namespace {

// Bytes a log reader could take for a field end or a new line (space,
// quote, control and non-ASCII bytes) are written as \xHH.
void appendEscaped(std::string_view text, std::string* out) {
  static const char kHex[] = "0123456789abcdef";
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\') {
      out->append("\\x");
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    } else {
      out->push_back(ch);
    }
  }
}

void appendField(std::string_view text, std::string* out) {
  if (text.empty()) {
    out->push_back('-');
  } else {
    appendEscaped(text, out);
  }
}

// "2026-12-01T23:59:01.123Z"; the seconds part is cached per thread, as
// consecutive lines mostly share it.
void appendTime(int64_t ms, std::string* out) {
  thread_local int64_t cachedSecond = -1;
  thread_local char cached[32];
  int64_t second = ms / 1000;
  if (second != cachedSecond) {
    time_t t = static_cast<time_t>(second);
    tm parts{};
    gmtime_r(&t, &parts);
    strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &parts);
    cachedSecond = second;
  }
  char millis[8];
  snprintf(millis, sizeof(millis), ".%03dZ", static_cast<int>(ms % 1000));
  out->append(cached);
  out->append(millis);
}

void appendMs(uint64_t us, std::string* out) {
  char text[32];
  snprintf(text, sizeof(text), "%llu.%03llu", static_cast<unsigned long long>(us / 1000),
           static_cast<unsigned long long>(us % 1000));
  out->append(text);
}

void appendAddress(const sockaddr_storage& address, std::string* out) {
  char ip[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, ip, sizeof(ip));
    port = ntohs(v6.sin6_port);
    out->push_back('[');
    out->append(ip);
    out->push_back(']');
  } else {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, ip, sizeof(ip));
    port = ntohs(v4.sin_port);
    out->append(ip);
  }
  out->push_back(':');
  out->append(std::to_string(port));
}

}  // namespace

void formatAccessLine(const AccessRecord& r, std::string* out) {
  appendField(r.client, out);
  out->append(" [");
  appendTime(r.startWallMs, out);
  out->append("] ");
  appendField(r.host, out);
  out->append(" \"");
  if (r.method.empty()) {
    out->push_back('-');
  } else {
    appendEscaped(r.method, out);
    out->push_back(' ');
    appendEscaped(r.target, out);
    out->append(r.versionMinor == 0 ? " HTTP/1.0" : " HTTP/1.1");
  }
  out->append("\" ");
  if (r.status == 0) {
    out->push_back('-');
  } else {
    out->append(std::to_string(r.status));
  }
  out->push_back(' ');
  out->append(std::to_string(r.bytes));
  out->push_back(' ');
  if (r.upstream != nullptr) {
    appendAddress(*r.upstream, out);
  } else {
    out->push_back('-');
  }
  out->push_back(' ');
  if (r.upstreamUs >= 0) {
    appendMs(static_cast<uint64_t>(r.upstreamUs), out);
  } else {
    out->push_back('-');
  }
  out->push_back(' ');
  appendMs(r.totalUs, out);
  out->push_back(' ');
  appendField(r.route, out);
  out->push_back(' ');
  appendField(r.termination, out);
  out->push_back('\n');
}

// ---- AccessLogFile ----

Result<std::shared_ptr<AccessLogFile>> AccessLogFile::open(const std::string& path) {
  if (path.empty())
    return makeError(ErrorKind::kInvalid, "--access-log: empty path (use - for standard output)");
  if (path == "-") return std::shared_ptr<AccessLogFile>(new AccessLogFile(STDOUT_FILENO, false));
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    return makeError(ErrorKind::kInvalid, "--access-log: cannot open " + path +
                                              " for appending: " + std::strerror(errno));
  }
  return std::shared_ptr<AccessLogFile>(new AccessLogFile(fd, true));
}

AccessLogFile::~AccessLogFile() {
  if (owned_) ::close(fd_);
}

void AccessLogFile::write(std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  while (!bytes.empty()) {
    ssize_t n = ::write(fd_, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ++failed_;
      return;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
}

// ---- AccessLog ----

AccessLog::AccessLog(Loop& loop, Sink sink, AccessLogOptions options)
    : sink_(std::move(sink)), options_(options), timer_(loop) {
  buffer_.reserve(options_.flushBytes + 1024);
}

AccessLog::AccessLog(Loop& loop, std::shared_ptr<AccessLogFile> file, AccessLogOptions options)
    : AccessLog(
          loop, [file = std::move(file)](std::string_view bytes) { file->write(bytes); }, options) {
}

AccessLog::~AccessLog() { flush(); }

void AccessLog::add(const AccessRecord& record) {
  formatAccessLine(record, &buffer_);
  if (buffer_.size() >= options_.flushBytes) {
    flush();
  } else if (!timer_.active()) {
    timer_.start(options_.flushMs, 0, [this] { flush(); });
  }
}

void AccessLog::flush() {
  timer_.stop();
  if (buffer_.empty()) return;
  sink_(buffer_);
  buffer_.clear();
}

}  // namespace corral::proxy

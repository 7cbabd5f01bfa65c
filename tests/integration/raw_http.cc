#include "tests/integration/raw_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>

#include "base/http_response_parser.h"

namespace corral::it {

namespace {

using Clock = std::chrono::steady_clock;

int64_t msLeft(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : left.count();
}

bool fillAddress(const std::string& ip, int port, sockaddr_in* out) {
  std::memset(out, 0, sizeof(*out));
  out->sin_family = AF_INET;
  out->sin_port = htons(static_cast<uint16_t>(port));
  return ::inet_pton(AF_INET, ip.c_str(), &out->sin_addr) == 1;
}

}  // namespace

std::string RawResponse::header(std::string_view name) const {
  auto v = http::findHeader(headers, name);
  return v ? std::string(*v) : std::string();
}

RawConn::~RawConn() { close(); }

void RawConn::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool RawConn::connect(const std::string& ip, int port, const std::string& sourceIp, int rcvBuf) {
  close();
  buf_.clear();
  eof_ = false;
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) return false;
  if (rcvBuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvBuf, sizeof(rcvBuf));
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr;
  if (!sourceIp.empty()) {
    if (!fillAddress(sourceIp, 0, &addr) ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      close();
      return false;
    }
  }
  if (!fillAddress(ip, port, &addr) ||
      ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close();
    return false;
  }
  return true;
}

bool RawConn::send(std::string_view data, uint64_t timeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  while (!data.empty()) {
    if (fd_ < 0) return false;
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(msLeft(deadline))) <= 0) return false;
    ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

ssize_t RawConn::readSome(uint64_t timeoutMs, size_t max) {
  if (fd_ < 0 || eof_) return 0;
  pollfd p{fd_, POLLIN, 0};
  int rc = ::poll(&p, 1, static_cast<int>(timeoutMs));
  if (rc <= 0) return -1;
  size_t old = buf_.size();
  buf_.resize(old + max);
  ssize_t n = ::recv(fd_, buf_.data() + old, max, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
    buf_.resize(old);
    return -1;
  }
  buf_.resize(old + static_cast<size_t>(n > 0 ? n : 0));
  if (n <= 0) eof_ = true;  // end of stream or reset: nothing more comes
  return n > 0 ? n : 0;
}

bool RawConn::waitClosed(uint64_t timeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  while (!eof_) {
    int64_t left = msLeft(deadline);
    if (left == 0) return false;
    readSome(static_cast<uint64_t>(left));
  }
  return true;
}

RawResponse RawConn::readResponse(uint64_t timeoutMs, bool headRequest,
                                  const std::function<void(std::string_view)>& onBody) {
  using Event = http::ResponseParser::Event;
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  RawResponse out;
  http::ResponseParser parser(http::ResponseParser::Limits{1024 * 1024});
  parser.expectResponseTo(headRequest ? "HEAD" : "GET");
  bool finished = false;
  for (;;) {
    size_t used = 0;
    Event e = finished ? parser.finish() : parser.feed(buf_, &used);
    // A body chunk points into buf_: the bytes it used go after it is taken.
    struct Consume {
      std::string& buf;
      size_t n;
      ~Consume() { buf.erase(0, n); }
    } consume{buf_, used};
    switch (e) {
      case Event::kHead:
        out.status = parser.status();
        out.headers = parser.headers();
        continue;
      case Event::kBody:
        out.bodyBytes += parser.bodyChunk().size();
        if (onBody) {
          onBody(parser.bodyChunk());
        } else {
          out.body.append(parser.bodyChunk());
        }
        continue;
      case Event::kComplete:
        if (out.status >= 100 && out.status < 200) {  // interim: the final answer follows
          out = RawResponse();
          continue;
        }
        return out;
      case Event::kUpgrade:
        out.upgraded = true;
        return out;
      case Event::kError:
        out.error = parser.errorMessage();
        return out;
      case Event::kNeedMore:
        break;
    }
    if (finished) {
      out.error = "connection closed before a response";
      return out;
    }
    int64_t left = msLeft(deadline);
    if (left == 0) {
      out.error = "timed out";
      return out;
    }
    if (readSome(static_cast<uint64_t>(left)) == 0) finished = true;
  }
}

std::string requestHead(const std::string& method, const std::string& target,
                        const std::string& host, const std::string& extra) {
  return method + " " + target + " HTTP/1.1\r\nHost: " + host + "\r\n" + extra + "\r\n";
}

long rssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::string wsClientFrame(int opcode, std::string_view payload) {
  std::string out;
  out.push_back(static_cast<char>(0x80 | opcode));
  size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    out.push_back(static_cast<char>(0x80 | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xff));
  } else {
    out.push_back(static_cast<char>(0x80 | 127));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  }
  const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
  for (unsigned char m : mask) out.push_back(static_cast<char>(m));
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
  return out;
}

bool wsTakeFrame(std::string& buf, int* opcode, std::string* payload) {
  if (buf.size() < 2) return false;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(buf[i]); };
  size_t at = 2;
  uint64_t n = byte(1) & 0x7f;
  if (n == 126) {
    if (buf.size() < 4) return false;
    n = (uint64_t{byte(2)} << 8) | byte(3);
    at = 4;
  } else if (n == 127) {
    if (buf.size() < 10) return false;
    n = 0;
    for (size_t i = 2; i < 10; ++i) n = (n << 8) | byte(i);
    at = 10;
  }
  bool masked = (byte(1) & 0x80) != 0;
  size_t maskAt = at;
  if (masked) at += 4;
  if (buf.size() < at + n) return false;
  *opcode = byte(0) & 0x0f;
  payload->assign(buf, at, n);
  if (masked) {
    for (size_t i = 0; i < n; ++i) (*payload)[i] ^= buf[maskAt + i % 4];
  }
  buf.erase(0, at + n);
  return true;
}

}  // namespace corral::it

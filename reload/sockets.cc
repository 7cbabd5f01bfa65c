#include "reload/sockets.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <cstring>

namespace corral::reload {
namespace {

constexpr int kBacklog = 1024;

std::string errnoText(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

const char* transportName(Transport t) { return t == Transport::kUdp ? "udp" : "tcp"; }

std::string hostPort(const std::string& host, uint16_t port) {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<sockaddr_storage> socketAddress(const std::string& host, uint16_t port) {
  sockaddr_storage addr{};
  if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) == 0) return addr;
  addr = {};
  if (uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) == 0) return addr;
  return makeError(ErrorKind::kInvalid,
                   "invalid listen address '" + host + "' (expected an IPv4 or IPv6 literal)",
                   "/listen");
}

socklen_t addressLength(const sockaddr_storage& addr) {
  return addr.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

uint16_t boundPort(int fd) {
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &len) != 0) return 0;
  return ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                           : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

}  // namespace

std::string Endpoint::key() const {
  return std::string(transportName(transport)) + ":" + hostPort(host, port);
}

std::string Endpoint::describe() const {
  return std::string(transport == Transport::kUdp ? "UDP " : "TCP ") + hostPort(host, port);
}

void UniqueFd::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Result<UniqueFd> bindSocket(const Endpoint& endpoint, bool reusePort) {
  auto addr = socketAddress(endpoint.host, endpoint.port);
  if (!addr.ok()) return addr.error();
  bool udp = endpoint.transport == Transport::kUdp;
  UniqueFd fd(::socket(addr->ss_family,
                       (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0)
    return makeError(ErrorKind::kUnavailable, endpoint.describe() + ": " + errnoText("socket"));
  int one = 1;
  if (!udp) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (udp && endpoint.bufferBytes > 0) {
    // Best effort, as NSD does: force past rmem_max when allowed.
    int size = endpoint.bufferBytes;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
      ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    }
    ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  }
  if (reusePort && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    return makeError(ErrorKind::kUnavailable,
                     endpoint.describe() + ": " + errnoText("SO_REUSEPORT"));
  }
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), addressLength(*addr)) != 0) {
    return makeError(ErrorKind::kUnavailable, endpoint.describe() + ": " + errnoText("bind"));
  }
  if (!udp && ::listen(fd.get(), kBacklog) != 0) {
    return makeError(ErrorKind::kUnavailable, endpoint.describe() + ": " + errnoText("listen"));
  }
  return fd;
}

Result<uint16_t> pickFreePort(const std::string& host, const std::vector<Transport>& transports) {
  if (transports.empty())
    return makeError(ErrorKind::kInternal, "pickFreePort: no transport given");
  for (int attempt = 0; attempt < 20; ++attempt) {
    auto first = bindSocket(Endpoint{host, 0, transports.front()}, false);
    if (!first.ok()) return first.error();
    uint16_t port = boundPort(first->get());
    if (port == 0) return makeError(ErrorKind::kUnavailable, errnoText("getsockname"));
    bool allFree = true;
    for (size_t i = 1; i < transports.size() && allFree; ++i) {
      allFree = bindSocket(Endpoint{host, port, transports[i]}, false).ok();
    }
    if (allFree) return port;
  }
  return makeError(ErrorKind::kUnavailable,
                   "no port on " + host + " is free for every transport asked for");
}

}  // namespace corral::reload

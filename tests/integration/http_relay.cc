#include "tests/integration/http_relay.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

namespace corral::testing {

namespace {

sockaddr_in addressOf(const std::string& ip, int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

bool sendAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

HttpRelay::HttpRelay(const std::string& ip, std::string upstreamIp, int upstreamPort)
    : ip_(ip), upstreamIp_(std::move(upstreamIp)), upstreamPort_(upstreamPort) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = addressOf(ip, 0);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 64) != 0) {
    ::close(fd);
    return;
  }
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  listenFd_ = fd;
  if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    ::close(listenFd_);
    listenFd_ = -1;
    return;
  }
  thread_ = std::thread([this] { run(); });
}

HttpRelay::~HttpRelay() {
  stop_ = true;
  if (wake_[1] >= 0) {
    char c = 0;
    (void)!::write(wake_[1], &c, 1);
  }
  if (thread_.joinable()) thread_.join();
  for (auto& p : pairs_) closePair(p);
  for (int fd : {listenFd_, wake_[0], wake_[1]}) {
    if (fd >= 0) ::close(fd);
  }
}

void HttpRelay::cut() {
  refusing_ = true;
  cutRequests_++;
  char c = 0;
  (void)!::write(wake_[1], &c, 1);
}

void HttpRelay::resume() { refusing_ = false; }

std::vector<std::string> HttpRelay::heads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return heads_;
}

int HttpRelay::count(const std::string& requestLinePrefix) const {
  int n = 0;
  for (const auto& h : heads()) n += h.rfind(requestLinePrefix, 0) == 0;
  return n;
}

void HttpRelay::closePair(Pair& p) {
  if (p.client >= 0) ::close(p.client);
  if (p.upstream >= 0) ::close(p.upstream);
  p.client = p.upstream = -1;
}

void HttpRelay::onAccept() {
  int fd = ::accept4(listenFd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  if (refusing_) {
    ::close(fd);
    return;
  }
  pairs_.push_back(Pair{fd, -1, {}});
}

bool HttpRelay::onClientHead(Pair& p) {
  char buf[4096];
  ssize_t n = ::recv(p.client, buf, sizeof buf, 0);
  if (n <= 0) return false;
  p.head.append(buf, static_cast<size_t>(n));
  auto end = p.head.find("\r\n\r\n");
  if (end == std::string::npos) return p.head.size() < 65536;
  {
    std::lock_guard<std::mutex> lock(mu_);
    heads_.push_back(p.head.substr(0, end));
  }
  if (p.head.rfind("GET /v2/leader", 0) == 0) {
    std::string body = "{\"leader\":\"" + address() + "\"}";
    std::string resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    sendAll(p.client, resp.data(), resp.size());
    return false;
  }
  int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = addressOf(upstreamIp_, upstreamPort_);
  if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(up);
    return false;
  }
  p.upstream = up;
  bool sent = sendAll(up, p.head.data(), p.head.size());
  p.head.clear();
  return sent;
}

void HttpRelay::run() {
  int cutsSeen = 0;
  while (!stop_) {
    if (int cuts = cutRequests_.load(); cuts != cutsSeen) {
      cutsSeen = cuts;
      for (auto& p : pairs_) closePair(p);
      pairs_.clear();
    }
    std::vector<pollfd> fds{{listenFd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (const auto& p : pairs_) {
      fds.push_back({p.client, POLLIN, 0});
      fds.push_back({p.upstream, static_cast<short>(p.upstream >= 0 ? POLLIN : 0), 0});
    }
    if (::poll(fds.data(), fds.size(), 50) <= 0) continue;
    if (fds[1].revents) {
      char drain[64];
      while (::read(wake_[0], drain, sizeof drain) > 0) {
      }
    }
    std::vector<Pair> alive;
    for (size_t i = 0; i < pairs_.size(); ++i) {
      Pair& p = pairs_[i];
      const short fromClient = fds[2 + 2 * i].revents;
      const short fromUpstream = p.upstream >= 0 ? fds[3 + 2 * i].revents : 0;
      bool keep = true;
      char buf[65536];
      if (fromClient & (POLLIN | POLLHUP | POLLERR)) {
        if (p.upstream < 0) {
          keep = onClientHead(p);
        } else {
          ssize_t n = ::recv(p.client, buf, sizeof buf, 0);
          keep = n > 0 && sendAll(p.upstream, buf, static_cast<size_t>(n));
        }
      }
      if (keep && (fromUpstream & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = ::recv(p.upstream, buf, sizeof buf, 0);
        keep = n > 0 && sendAll(p.client, buf, static_cast<size_t>(n));
      }
      if (keep) {
        alive.push_back(p);
      } else {
        closePair(p);
      }
    }
    pairs_ = std::move(alive);
    if (fds[0].revents & POLLIN) onAccept();
  }
}

}  // namespace corral::testing

#include "reload/fd_channel.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace corral::reload::takeover {
namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

Result<sockaddr_un> unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path) {
    return makeError(ErrorKind::kInvalid, "takeover path '" + path + "': must have 1 to " +
                                              std::to_string(sizeof addr.sun_path - 1) +
                                              " characters");
  }
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Waits until `fd` has `events`; false on timeout.
bool waitFor(int fd, short events, int timeoutMs) {
  pollfd p{fd, events, 0};
  int rc;
  do {
    rc = ::poll(&p, 1, timeoutMs);
  } while (rc < 0 && errno == EINTR);
  return rc > 0;
}

}  // namespace

Status Channel::send(const Message& m, const std::vector<int>& fds) {
  if (fds.size() != fdCount(m)) {
    return makeError(ErrorKind::kUnavailable, std::string("takeover ") + typeName(typeOf(m)) +
                                                  ": " + std::to_string(fds.size()) +
                                                  " descriptor(s) for " +
                                                  std::to_string(fdCount(m)) + " entries");
  }
  auto frame = encode(m);
  if (!frame.ok()) return frame.error();
  size_t sent = 0;
  while (sent < frame->size()) {
    iovec iov{frame->data() + sent, frame->size() - sent};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    std::vector<char> control;
    if (sent == 0 && !fds.empty()) {
      control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
      msg.msg_control = control.data();
      msg.msg_controllen = control.size();
      cmsghdr* c = CMSG_FIRSTHDR(&msg);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
      std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    }
    ssize_t n = ::sendmsg(fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!waitFor(fd_.get(), POLLOUT, 5000))
        return makeError(ErrorKind::kUnavailable, "takeover: the peer reads nothing");
      continue;
    }
    if (n < 0) return makeError(ErrorKind::kUnavailable, errnoText("takeover: sendmsg"));
    sent += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Result<bool> Channel::readSome() {
  if (eof_) return false;
  char buf[4096];
  iovec iov{buf, sizeof buf};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxSocketsPerMessage)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
  if (n < 0) return makeError(ErrorKind::kUnavailable, errnoText("takeover: recvmsg"));
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
      fds_.emplace_back(fd);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) {
    return makeError(ErrorKind::kUnavailable,
                     "takeover: more descriptors than one message may carry were sent");
  }
  if (n == 0) {
    eof_ = true;
    return false;
  }
  decoder_.feed(std::string_view(buf, static_cast<size_t>(n)));
  return true;
}

Result<std::optional<Received>> Channel::next() {
  auto m = decoder_.next();
  if (!m.ok()) return m.error();
  if (!*m) return std::optional<Received>();
  size_t want = fdCount(**m);
  if (fds_.size() < want) {
    return makeError(ErrorKind::kUnavailable, std::string("takeover ") + typeName(typeOf(**m)) +
                                                  ": arrived with " + std::to_string(fds_.size()) +
                                                  " descriptor(s), expected " +
                                                  std::to_string(want));
  }
  Received r{std::move(**m), {}};
  for (size_t i = 0; i < want; ++i) {
    r.fds.push_back(std::move(fds_.front()));
    fds_.pop_front();
  }
  return std::optional<Received>(std::move(r));
}

Result<Received> Channel::receive(int timeoutMs) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    auto r = next();
    if (!r.ok()) return r.error();
    if (*r) return std::move(**r);
    if (eof_)
      return makeError(ErrorKind::kUnavailable,
                       "takeover: the other process closed the connection");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0 || !waitFor(fd_.get(), POLLIN, static_cast<int>(left))) {
      return makeError(ErrorKind::kUnavailable,
                       "takeover: no answer within " + std::to_string(timeoutMs) + " ms");
    }
    auto more = readSome();
    if (!more.ok()) return more.error();
  }
}

Result<UniqueFd> listenUnix(const std::string& path) {
  auto addr = unixAddress(path);
  if (!addr.ok()) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return makeError(ErrorKind::kUnavailable, errnoText("takeover socket"));
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    if (errno != EADDRINUSE)
      return makeError(ErrorKind::kUnavailable, errnoText("takeover path " + path));
    // Someone answering there is another generation: never steal its path.
    auto probe = connectUnix(path);
    if (probe.ok())
      return makeError(ErrorKind::kConflict,
                       "takeover path " + path + ": a process serves it already");
    ::unlink(path.c_str());
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
      return makeError(ErrorKind::kUnavailable, errnoText("takeover path " + path));
    }
  }
  if (::listen(fd.get(), 16) != 0)
    return makeError(ErrorKind::kUnavailable, errnoText("takeover listen " + path));
  return fd;
}

Result<UniqueFd> connectUnix(const std::string& path) {
  auto addr = unixAddress(path);
  if (!addr.ok()) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return makeError(ErrorKind::kUnavailable, errnoText("takeover socket"));
  int rc;
  do {
    rc = ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  } while (rc < 0 && errno == EINTR);
  if (rc != 0) {
    // Nothing listens there (no file, or a stale one): not found, so that the
    // caller can start as the first generation; anything else is a failure.
    bool absent = errno == ENOENT || errno == ECONNREFUSED;
    return makeError(absent ? ErrorKind::kNotFound : ErrorKind::kUnavailable,
                     errnoText("takeover connect " + path));
  }
  return fd;
}

UniqueFd acceptUnix(int listener) {
  int fd;
  do {
    fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  return UniqueFd(fd);
}

}  // namespace corral::reload::takeover

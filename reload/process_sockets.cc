#include "reload/process_sockets.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace corral::reload {

ProcessSockets& ProcessSockets::get() {
  static ProcessSockets* sockets = new ProcessSockets();  // never destroyed: used until exit
  return *sockets;
}

void ProcessSockets::inherit(const Endpoint& endpoint, UniqueFd fd) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = inherited_[endpoint.key()];
  slot.first = endpoint;
  slot.second.push_back(std::move(fd));
}

UniqueFd ProcessSockets::claim(const std::string& key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = inherited_.find(key);
  if (it == inherited_.end() || it->second.second.empty()) return UniqueFd();
  UniqueFd fd = std::move(it->second.second.back());
  it->second.second.pop_back();
  if (it->second.second.empty()) inherited_.erase(it);
  return fd;
}

size_t ProcessSockets::mostInheritedPerKey() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t most = 0;
  for (const auto& [key, slot] : inherited_) most = std::max(most, slot.second.size());
  return most;
}

std::vector<std::string> ProcessSockets::closeUnclaimed() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> keys;
  for (const auto& [key, slot] : inherited_) keys.push_back(key);
  inherited_.clear();
  return keys;
}

bool ProcessSockets::holdListeners() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hold_;
}

void ProcessSockets::setHoldListeners(bool hold) {
  std::lock_guard<std::mutex> lock(mu_);
  hold_ = hold;
}

void ProcessSockets::addPool(WorkerPool* pool) {
  std::lock_guard<std::mutex> lock(mu_);
  pools_.push_back(pool);
}

void ProcessSockets::removePool(WorkerPool* pool) {
  std::lock_guard<std::mutex> lock(mu_);
  pools_.erase(std::remove(pools_.begin(), pools_.end(), pool), pools_.end());
}

std::vector<WorkerPool*> ProcessSockets::pools() const {
  std::lock_guard<std::mutex> lock(mu_);
  return pools_;
}

Result<std::pair<UniqueFd, UniqueFd>> ProcessSockets::claimOrBind(const Endpoint& endpoint,
                                                                  bool reusePort) {
  // Port 0 is never inherited: each generation gets its own free port.
  UniqueFd fd;
  if (endpoint.port != 0) fd = claim(endpoint.key());
  if (fd.get() < 0) {
    auto bound = bindSocket(endpoint, reusePort);
    if (!bound.ok()) return bound.error();
    fd = std::move(*bound);
  }
  int copy = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0);
  if (copy < 0)
    return makeError(ErrorKind::kUnavailable,
                     endpoint.describe() + ": dup: " + std::strerror(errno));
  return std::make_pair(std::move(fd), UniqueFd(copy));
}

Result<UniqueFd> ProcessSockets::controlListener(const std::string& host, int port) {
  Endpoint endpoint{host, static_cast<uint16_t>(port), Transport::kTcp};
  auto fds = claimOrBind(endpoint, false);
  if (!fds.ok()) return fds.error();
  std::lock_guard<std::mutex> lock(mu_);
  controls_.emplace_back(endpoint, std::move(fds->second));
  return std::move(fds->first);
}

std::vector<std::pair<Endpoint, int>> ProcessSockets::controlListeners() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<Endpoint, int>> out;
  for (const auto& [endpoint, fd] : controls_) out.emplace_back(endpoint, fd.get());
  return out;
}

void ProcessSockets::releaseControlListeners() {
  std::lock_guard<std::mutex> lock(mu_);
  controls_.clear();
}

}  // namespace corral::reload

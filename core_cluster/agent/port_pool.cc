#include "core_cluster/agent/port_pool.h"

#include <algorithm>

#include <fmt/core.h>

namespace corral::agent {

Result<PortPool> PortPool::create(std::vector<PortRange> ranges) {
  if (ranges.empty()) return makeError(ErrorKind::kInvalid, "port pool needs at least one range");
  for (const auto& r : ranges) {
    if (r.begin == 0) return makeError(ErrorKind::kInvalid, "port 0 cannot be in a port range");
    if (r.begin > r.end) {
      return makeError(ErrorKind::kInvalid,
                       fmt::format("bad port range [{}-{}]: begin is after end", r.begin, r.end));
    }
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const PortRange& a, const PortRange& b) { return a.begin < b.begin; });
  std::vector<PortRange> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && static_cast<uint32_t>(merged.back().end) + 1 >= r.begin) {
      merged.back().end = std::max(merged.back().end, r.end);
    } else {
      merged.push_back(r);
    }
  }
  return PortPool(std::move(merged));
}

PortPool::PortPool(std::vector<PortRange> ranges) : ranges_(std::move(ranges)) {
  for (const auto& r : ranges_) size_ += static_cast<size_t>(r.end) - r.begin + 1;
  cursor_ = ranges_.front().begin;
}

bool PortPool::contains(uint16_t port) const {
  for (const auto& r : ranges_) {
    if (port >= r.begin && port <= r.end) return true;
  }
  return false;
}

Result<std::vector<uint16_t>> PortPool::allocate(size_t n) {
  if (n > freeCount()) {
    return makeError(ErrorKind::kConflict, fmt::format("need {} port(s) but only {} of {} are free",
                                                       n, freeCount(), size_));
  }
  std::vector<uint16_t> out;
  out.reserve(n);
  // Walk the ranges circularly starting at cursor_; at most size_ steps.
  size_t rangeIndex = 0;
  while (rangeIndex < ranges_.size() && ranges_[rangeIndex].end < cursor_) ++rangeIndex;
  if (rangeIndex == ranges_.size()) {
    rangeIndex = 0;
    cursor_ = ranges_[0].begin;
  }
  uint32_t port = std::max<uint32_t>(cursor_, ranges_[rangeIndex].begin);
  for (size_t steps = 0; out.size() < n && steps < size_; ++steps) {
    if (port > ranges_[rangeIndex].end) {
      rangeIndex = (rangeIndex + 1) % ranges_.size();
      port = ranges_[rangeIndex].begin;
    }
    if (used_.count(static_cast<uint16_t>(port)) == 0) out.push_back(static_cast<uint16_t>(port));
    ++port;
  }
  for (uint16_t p : out) used_.insert(p);
  // Next allocation starts after the last port handed out.
  if (port > ranges_[rangeIndex].end) {
    rangeIndex = (rangeIndex + 1) % ranges_.size();
    port = ranges_[rangeIndex].begin;
  }
  cursor_ = static_cast<uint16_t>(port);
  return out;
}

Status PortPool::reserve(uint16_t port) {
  if (!contains(port))
    return makeError(ErrorKind::kInvalid,
                     fmt::format("port {} is outside the agent's port ranges", port));
  if (!used_.insert(port).second)
    return makeError(ErrorKind::kConflict, fmt::format("port {} is already in use", port));
  return Status::Ok();
}

Status PortPool::reserveAll(const std::vector<uint16_t>& ports) {
  std::vector<uint16_t> taken;
  for (uint16_t p : ports) {
    Status s = reserve(p);
    if (!s.ok()) {
      for (uint16_t t : taken) used_.erase(t);
      return s;
    }
    taken.push_back(p);
  }
  return Status::Ok();
}

bool PortPool::release(uint16_t port) { return used_.erase(port) != 0; }

std::vector<PortRange> PortPool::freeRanges() const {
  std::vector<PortRange> out;
  for (const auto& r : ranges_) {
    uint32_t start = 0;  // 0: not inside a free run
    for (uint32_t p = r.begin; p <= r.end; ++p) {
      bool isFree = used_.count(static_cast<uint16_t>(p)) == 0;
      if (isFree && start == 0) start = p;
      if (!isFree && start != 0) {
        out.push_back({static_cast<uint16_t>(start), static_cast<uint16_t>(p - 1)});
        start = 0;
      }
    }
    if (start != 0) out.push_back({static_cast<uint16_t>(start), r.end});
  }
  return out;
}

}  // namespace corral::agent

// Query counters, lock-free, rendered as Prometheus text for /metrics.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

#include "dns/rrl.h"

namespace corral::dns {

class DnsMetrics {
 public:
  void countQuery(uint16_t qtype, uint16_t rcode, bool tcp);
  void countDropped() { dropped_.fetch_add(1, std::memory_order_relaxed); }
  void countTruncated() { truncated_.fetch_add(1, std::memory_order_relaxed); }
  void countForwarded() { forwarded_.fetch_add(1, std::memory_order_relaxed); }
  void countForwardFailed() { forwardFailed_.fetch_add(1, std::memory_order_relaxed); }
  void countZoneApplied() { zonesApplied_.fetch_add(1, std::memory_order_relaxed); }
  void countTcpConnection() { tcpConnections_.fetch_add(1, std::memory_order_relaxed); }
  void countTcpRejected() { tcpRejected_.fetch_add(1, std::memory_order_relaxed); }
  // An answer the rate limiter held back (kDrop) or sent truncated (kSlip).
  void countRateLimited(RrlAction action, RrlCategory category) {
    auto& slot = action == RrlAction::kSlip ? rrlSlipped_ : rrlDropped_;
    slot[static_cast<size_t>(category)].fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t rateLimited(RrlAction action, RrlCategory category) const {
    const auto& slot = action == RrlAction::kSlip ? rrlSlipped_ : rrlDropped_;
    return slot[static_cast<size_t>(category)].load(std::memory_order_relaxed);
  }

  uint64_t queries(uint16_t qtype) const;
  uint64_t responses(uint16_t rcode) const;
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t forwarded() const { return forwarded_.load(std::memory_order_relaxed); }
  uint64_t forwardFailed() const { return forwardFailed_.load(std::memory_order_relaxed); }

  // Adds another set of counters (one per worker) into this one.
  void mergeFrom(const DnsMetrics& other);
  uint64_t truncated() const { return truncated_.load(std::memory_order_relaxed); }
  uint64_t zonesApplied() const { return zonesApplied_.load(std::memory_order_relaxed); }
  uint64_t tcpRejected() const { return tcpRejected_.load(std::memory_order_relaxed); }

  // Prometheus text exposition format, metric names prefixed corral_dns_.
  std::string prometheusText() const;

 private:
  static constexpr size_t kTypeSlots = 257;  // 0..255, then "other"
  static constexpr size_t kRcodeSlots = 24;  // 0..22, then "other"
  std::array<std::atomic<uint64_t>, kTypeSlots> byType_{};
  std::array<std::atomic<uint64_t>, kRcodeSlots> byRcode_{};
  std::atomic<uint64_t> udp_{0};
  std::atomic<uint64_t> tcp_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> truncated_{0};
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> forwardFailed_{0};
  std::atomic<uint64_t> zonesApplied_{0};
  std::atomic<uint64_t> tcpConnections_{0};
  std::atomic<uint64_t> tcpRejected_{0};
  static constexpr size_t kRrlCategories = static_cast<size_t>(RrlCategory::kCount);
  std::array<std::atomic<uint64_t>, kRrlCategories> rrlDropped_{};
  std::array<std::atomic<uint64_t>, kRrlCategories> rrlSlipped_{};
};

// "A", "SRV", ... or "TYPE65" for the rest.
std::string typeName(uint16_t qtype);
// "NOERROR", "NXDOMAIN", ... or "RCODE11".
std::string rcodeName(uint16_t rcode);

}  // namespace corral::dns

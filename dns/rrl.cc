#include "dns/rrl.h"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "dns/wire.h"

namespace corral::dns {
namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

uint64_t load64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

std::string_view toString(RrlCategory category) {
  switch (category) {
    case RrlCategory::kAnswer:
      return "answer";
    case RrlCategory::kNxDomain:
      return "nxdomain";
    case RrlCategory::kError:
      return "error";
    case RrlCategory::kCount:
      break;
  }
  return "answer";
}

RrlCategory categoryOf(uint16_t rcode) {
  if (rcode == kRcodeNoError) return RrlCategory::kAnswer;
  if (rcode == kRcodeNxDomain) return RrlCategory::kNxDomain;
  return RrlCategory::kError;
}

ResponseRateLimiter::ResponseRateLimiter(const RrlConfig& config, uint64_t seed)
    : config_(config), seed_(mix(seed)) {
  config_.ipv4PrefixLength = std::min<uint8_t>(config_.ipv4PrefixLength, 32);
  config_.ipv6PrefixLength = std::min<uint8_t>(config_.ipv6PrefixLength, 128);
  if (enabled()) table_.resize(std::max<size_t>(1, config_.tableSize));
}

size_t ResponseRateLimiter::indexOf(const sockaddr* source, RrlCategory category, bool* ok) const {
  uint64_t h = seed_ ^ (static_cast<uint64_t>(category) << 56);
  if (source->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(source);
    uint32_t addr = ntohl(in->sin_addr.s_addr);
    uint8_t bits = config_.ipv4PrefixLength;
    uint32_t mask = bits == 0 ? 0 : ~uint32_t{0} << (32 - bits);
    h = mix(h ^ (addr & mask) ^ (uint64_t{4} << 48));
  } else if (source->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(source);
    uint8_t bytes[16];
    std::memcpy(bytes, in6->sin6_addr.s6_addr, 16);
    uint8_t bits = config_.ipv6PrefixLength;
    for (int i = 0; i < 16; ++i) {
      int keep = std::clamp(static_cast<int>(bits) - i * 8, 0, 8);
      bytes[i] &= static_cast<uint8_t>(0xFF00u >> keep);
    }
    h = mix(h ^ load64(bytes) ^ (uint64_t{6} << 48));
    h = mix(h ^ load64(bytes + 8));
  } else {
    *ok = false;
    return 0;
  }
  *ok = true;
  return static_cast<size_t>(h % table_.size());
}

RrlAction ResponseRateLimiter::check(const sockaddr* source, RrlCategory category, uint64_t nowMs) {
  if (!enabled()) return RrlAction::kSend;
  bool ok = false;
  size_t i = indexOf(source, category, &ok);
  if (!ok) return RrlAction::kSend;
  Bucket& b = table_[i];
  const int64_t rate = config_.ratePerSecond;
  const int64_t cost = 1000;  // one answer, in milli-answers
  const auto now = static_cast<uint32_t>(nowMs);
  if (!b.used) {
    b.used = true;
    b.balance = rate * cost;  // a new prefix starts with one second of answers
  } else {
    // Refill: `rate` answers per second = `rate` milli-answers per ms. The
    // subtraction wraps correctly across the 32-bit ms counter's overflow.
    int64_t elapsed = static_cast<uint32_t>(now - b.lastMs);
    b.balance = std::min(rate * cost, b.balance + rate * elapsed);
  }
  b.lastMs = now;
  b.balance =
      std::max(b.balance - cost, -rate * cost * std::max<int64_t>(1, config_.windowSeconds));
  if (b.balance >= 0) return RrlAction::kSend;
  if (config_.slip == 0) return RrlAction::kDrop;
  b.slipCount = static_cast<uint16_t>((b.slipCount + 1) % config_.slip);
  return b.slipCount == 0 ? RrlAction::kSlip : RrlAction::kDrop;
}

}  // namespace corral::dns

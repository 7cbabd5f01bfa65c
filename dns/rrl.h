// Response rate limiting (RRL), NSD/Knot style: answers to one source prefix
// (/24 IPv4, /56 IPv6 by default) and one kind of answer are limited to
// `ratePerSecond` by a token bucket; past the limit every `slip`-th answer
// goes out as an empty truncated (TC=1) answer, so a real client retries over
// TCP, and the others are dropped. An authoritative server with large SRV
// answers is otherwise an amplifier for spoofed-source floods.
//
// The table is a fixed array of buckets allocated once: a key hashes (with a
// random seed) to one bucket and colliding keys share it, as in NSD, so memory
// is bounded whatever the number of sources, and checking costs no
// allocation. One limiter per worker loop, used only on its thread (the
// kernel spreads sources over SO_REUSEPORT sockets by hash, so a source stays
// on one worker).
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace corral::dns {

struct RrlConfig {
  uint32_t ratePerSecond = 0;  // answers per second per prefix and kind; 0: off
  // Every slip-th limited answer is sent truncated, the rest dropped.
  // 0: drop all, 1: truncate all.
  uint32_t slip = 2;
  // How long a flood is remembered: a bucket's balance sinks to at most
  // -rate*window, so a prefix is answered again once its average over about
  // `window` seconds is below the rate (BIND's window).
  uint32_t windowSeconds = 5;
  size_t tableSize = 65536;  // buckets (16 bytes each), per worker
  uint8_t ipv4PrefixLength = 24;
  uint8_t ipv6PrefixLength = 56;
};

// The kind of answer, part of the key (a flood of NXDOMAIN does not limit a
// prefix's real answers) and the `category` label of the counters.
enum class RrlCategory : uint8_t { kAnswer, kNxDomain, kError, kCount };
std::string_view toString(RrlCategory category);
// From the response's rcode (extended rcodes included).
RrlCategory categoryOf(uint16_t rcode);

enum class RrlAction : uint8_t { kSend, kSlip, kDrop };

class ResponseRateLimiter {
 public:
  explicit ResponseRateLimiter(const RrlConfig& config, uint64_t seed);

  bool enabled() const { return config_.ratePerSecond != 0; }
  // What to do with one answer of `category` to `source` at `nowMs` (a
  // monotonic clock in milliseconds). An unknown address family is sent.
  RrlAction check(const sockaddr* source, RrlCategory category, uint64_t nowMs);
  size_t tableSize() const { return table_.size(); }

 private:
  struct Bucket {
    int64_t balance = 0;  // milli-answers; <0: limited
    uint32_t lastMs = 0;  // when the balance was last refilled (low bits of nowMs)
    uint16_t slipCount = 0;
    bool used = false;
  };

  size_t indexOf(const sockaddr* source, RrlCategory category, bool* ok) const;

  RrlConfig config_;
  uint64_t seed_;
  std::vector<Bucket> table_;
};

}  // namespace corral::dns

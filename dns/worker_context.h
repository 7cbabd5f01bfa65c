// What a worker loop's UDP and TCP servers share: the zone it answers from
// (swapped only on its own thread), options, counters and the forwarder.
#pragma once

#include <array>
#include <memory>

#include "dns/forwarder.h"
#include "dns/metrics.h"
#include "dns/resolver.h"
#include "dns/rrl.h"
#include "dns/zone.h"

namespace corral::dns {

struct WorkerContext {
  std::shared_ptr<const Zone> zone;  // read and replaced on the loop thread only
  AnswerOptions options;
  DnsMetrics* metrics = nullptr;
  Forwarder* forwarder = nullptr;      // null when forwarding is off
  ResponseRateLimiter* rrl = nullptr;  // UDP answers; null when rate limiting is off
  bool stopping = false;
  // One response buffer per loop: answers are built and sent synchronously.
  std::array<uint8_t, 2 + kMaxMessageSize> buffer{};
};

}  // namespace corral::dns

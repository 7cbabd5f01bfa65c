// The invariants every answer() must keep, whatever the input: shared by the
// libFuzzer target and the deterministic mutation test.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dns/resolver.h"
#include "dns/wire.h"
#include "dns/zone.h"
#include "tests/dns/zone_fixture.h"

namespace corral::dns::testing {

inline std::shared_ptr<const Zone> fuzzZone() {
  static std::shared_ptr<const Zone> zone = [] {
    ZoneInput in = demoInput();
    AppInfo big;
    big.appId = "/big";
    for (int i = 0; i < 60; ++i) {
      auto t = task("big." + std::to_string(i), i % 2 ? "c0ffee-S1" : "c0ffee-S2",
                    {{static_cast<uint16_t>(20000 + i), "http", "tcp"}});
      t.ip = "10.2.0." + std::to_string(i + 1);
      big.tasks.push_back(t);
    }
    in.apps.push_back(big);
    auto z = buildZone(in);
    return z.ok() ? *z : nullptr;
  }();
  return zone;
}

// Returns "" when every invariant holds, else what broke.
inline std::string checkAnswer(const Zone& zone, std::span<const uint8_t> input) {
  static std::vector<uint8_t> out(kMaxMessageSize);
  for (Transport t : {Transport::kUdp, Transport::kTcp}) {
    for (bool forwarding : {false, true}) {
      AnswerOptions options;
      options.forwarding = forwarding;
      AnswerResult r = answer(zone, input, t, options, out);
      if (r.disposition == Disposition::kDrop) {
        if (r.size != 0) return "dropped with bytes";
        continue;
      }
      size_t limit = t == Transport::kTcp ? kMaxMessageSize : kDefaultEdnsSize;
      if (r.size < kHeaderSize || r.size > limit) return "response size out of bounds";
      if (t == Transport::kUdp) {
        Query q;
        if (parseQuery(input, q) == ParseStatus::kOk && r.size > responseLimit(q, t, options)) {
          return "UDP response over the client's limit";
        }
      }
      Message m;
      if (!parseMessage(std::span<const uint8_t>(out.data(), r.size), m)) {
        return "response does not parse";
      }
      if (input.size() >= 2 && m.header.id != ((input[0] << 8) | input[1])) return "id changed";
      if (!m.header.has(kFlagQr)) return "QR not set";
      if (m.questions.size() > 1) return "more than one question";
      size_t opts = 0;
      for (const Record& a : m.additional) opts += a.type == kTypeOpt;
      if (opts > 1) return "more than one OPT";
    }
  }
  return "";
}

}  // namespace corral::dns::testing

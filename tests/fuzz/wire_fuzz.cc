// libFuzzer target for the master <-> agent messages (core_cluster/wire): the
// bodies of /internal/launch, /internal/kill, registrations, status batches
// and the master's answers, plus the agent's pending_updates.json. Each must
// parse into a value or a precise error, never crash; and whatever parses must
// render and parse back to the same rendering.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core_cluster/wire/agent_messages.h"

namespace {

template <typename Parse>
void roundTrip(std::string_view text, Parse parse) {
  auto m = parse(text);
  if (!m.ok()) return;
  std::string once = corral::wire::toJson(*m);
  auto again = parse(once);
  if (!again.ok() || corral::wire::toJson(*again) != once) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the message so one corpus exercises all of them.
  uint8_t which = data[0] % 8;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  using namespace corral::wire;
  switch (which) {
    case 0:
      roundTrip(text, parseLaunchRequest);
      break;
    case 1:
      roundTrip(text, parseKillRequest);
      break;
    case 2:
      roundTrip(text, parseRegisterRequest);
      break;
    case 3:
      roundTrip(text, parseRegisterReply);
      break;
    case 4:
      roundTrip(text, parseStatusBatch);
      break;
    case 5:
      roundTrip(text, parseStatusAck);
      break;
    case 6:
      roundTrip(text, parseStatusUpdateList);
      break;
    case 7:
      (void)parseTaskLaunch(text);
      break;
  }
  return 0;
}

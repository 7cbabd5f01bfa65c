// libFuzzer target: the wire codec and the answer path, with invariants.
#include <cstdio>
#include <cstdlib>

#include "tests/dns/fuzz/answer_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace corral::dns;
  static auto zone = testing::fuzzZone();
  std::span<const uint8_t> input(data, size);
  Query q;
  (void)parseQuery(input, q);
  Message m;
  (void)parseMessage(input, m);
  std::string broken = testing::checkAnswer(*zone, input);
  if (!broken.empty()) {
    std::fprintf(stderr, "invariant broken: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}

// Deterministic corpus mutation: a bounded stand-in for the fuzzer in the
// normal build. Every mutated packet must get a well-formed answer or none.
#include <gtest/gtest.h>

#include <random>

#include "tests/dns/fuzz/answer_check.h"
#include "tests/dns/test_util.h"

namespace corral::dns {
namespace {

std::vector<std::vector<uint8_t>> seeds() {
  using testing::PacketBuilder;
  std::vector<std::vector<uint8_t>> s = {
      buildQuery(1, "web-shop.marathon.mesos", kTypeA),
      buildQuery(2, "_web-shop._tcp.marathon.mesos", kTypeSrv, true, 1232),
      buildQuery(3, "nope.marathon.mesos", kTypeA, true, 4096, 0, true),
      buildQuery(4, "mesos", kTypeAny),
      buildQuery(5, "big.marathon.mesos", kTypeA, true, 600),
      buildQuery(6, "_big._tcp.marathon.mesos", kTypeSrv, true, 1232),
      buildQuery(7, "example.com", kTypeA),
      buildQuery(8, "mesos", kTypeNs, true, 1232, 1),
      PacketBuilder()
          .header(9, 0, 1, 0, 0, 1)
          .question("a.mesos", kTypeA)
          .pointer(12)
          .u16(kTypeA)
          .u16(kClassIn)
          .u32(0)
          .u16(0)
          .bytes,
  };
  return s;
}

void mutate(std::vector<uint8_t>& p, std::mt19937& rng) {
  auto pick = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  int steps = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < steps; ++i) {
    switch (rng() % 8) {
      case 0:  // flip a bit
        if (!p.empty()) p[pick(p.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
        break;
      case 1:  // random byte
        if (!p.empty()) p[pick(p.size())] = static_cast<uint8_t>(rng());
        break;
      case 2:  // truncate
        p.resize(pick(p.size() + 1));
        break;
      case 3:  // insert bytes
        p.insert(p.begin() + static_cast<long>(pick(p.size() + 1)), 1 + rng() % 8,
                 static_cast<uint8_t>(rng()));
        break;
      case 4:  // a compression pointer somewhere
        if (p.size() > 2) {
          size_t at = pick(p.size() - 1);
          p[at] = static_cast<uint8_t>(0xC0 | (rng() % 2));
          p[at + 1] = static_cast<uint8_t>(rng());
        }
        break;
      case 5:  // lie in a count
        if (p.size() >= kHeaderSize) {
          size_t at = 4 + 2 * pick(4);
          p[at] = static_cast<uint8_t>(rng() % 3);
          p[at + 1] = static_cast<uint8_t>(rng());
        }
        break;
      case 6:  // flags and opcode
        if (p.size() >= 4) p[2 + pick(2)] = static_cast<uint8_t>(rng());
        break;
      case 7:  // duplicate a slice
        if (p.size() > 4) {
          size_t from = pick(p.size() - 1);
          size_t len = 1 + pick(std::min<size_t>(p.size() - from, 40));
          std::vector<uint8_t> slice(p.begin() + static_cast<long>(from),
                                     p.begin() + static_cast<long>(from + len));
          p.insert(p.begin() + static_cast<long>(pick(p.size())), slice.begin(), slice.end());
        }
        break;
    }
  }
}

TEST(Mutation, MutatedQueriesGetWellFormedAnswersOrNone) {
  auto zone = testing::fuzzZone();
  ASSERT_TRUE(zone);
  std::mt19937 rng(20240601);
  auto corpus = seeds();
  for (const auto& seed : corpus) ASSERT_EQ(testing::checkAnswer(*zone, seed), "");
  constexpr int kRounds = 200000;
  for (int i = 0; i < kRounds; ++i) {
    std::vector<uint8_t> p = corpus[rng() % corpus.size()];
    mutate(p, rng);
    std::string broken = testing::checkAnswer(*zone, p);
    ASSERT_EQ(broken, "") << "round " << i << ", " << p.size() << " bytes";
  }
}

TEST(Mutation, RandomBytesNeverBreakTheParser) {
  auto zone = testing::fuzzZone();
  std::mt19937 rng(7);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> p(rng() % 300);
    for (auto& b : p) b = static_cast<uint8_t>(rng());
    if (p.size() >= 6 && (rng() % 2)) {
      p[2] &= 0x07;  // mostly queries, opcode 0
      p[4] = 0;
      p[5] = 1;
    }
    ASSERT_EQ(testing::checkAnswer(*zone, p), "") << "round " << i;
  }
}

}  // namespace
}  // namespace corral::dns

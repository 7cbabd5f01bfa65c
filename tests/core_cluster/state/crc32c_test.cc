#include "core_cluster/state/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace corral::state {
namespace {

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  // RFC 3720, appendix B.4.
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
}

TEST(Crc32c, IncrementalEqualsOneShot) {
  std::string data = "the quick brown fox jumps over the lazy dog, twice over";
  for (size_t split = 0; split <= data.size(); ++split) {
    uint32_t part = crc32c(std::string_view(data).substr(0, split));
    EXPECT_EQ(crc32c(std::string_view(data).substr(split), part), crc32c(data)) << split;
  }
}

}  // namespace
}  // namespace corral::state

#include "base/fd_table.h"

#include <gtest/gtest.h>

#include <sys/resource.h>
#include <algorithm>

namespace corral {
namespace {

TEST(FdTable, GrowsToTheAskedSizeWithinTheLimitAndStaysGrown) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const int want = limit.rlim_cur >= 4096 ? 4096 : static_cast<int>(limit.rlim_cur);
  int size = reserveDescriptorTable(want);
  EXPECT_GE(size, want);
  // Asking again (or for less) changes nothing.
  EXPECT_EQ(reserveDescriptorTable(want / 2), size);
}

TEST(FdTable, NeverGrowsPastTheOpenFileLimit) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur == RLIM_INFINITY) GTEST_SKIP() << "no open-file limit";
  // The table may already be larger (an earlier test); it must not grow for this.
  if (limit.rlim_cur > (1u << 16)) GTEST_SKIP() << "a limit this high makes the test costly";
  int before = reserveDescriptorTable(1);
  int after = reserveDescriptorTable(static_cast<int>(limit.rlim_cur) + 100000);
  EXPECT_GE(after, before);
  // The kernel rounds a table up to a power of two.
  EXPECT_LE(after, std::max<int>(before, static_cast<int>(limit.rlim_cur) * 2));
}

}  // namespace
}  // namespace corral

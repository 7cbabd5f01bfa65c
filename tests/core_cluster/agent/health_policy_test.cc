#include <gtest/gtest.h>

#include "core_cluster/agent/health.h"

namespace corral::agent {
namespace {

TEST(HealthPolicyTest, FailuresDuringGraceAreIgnoredUntilFirstSuccess) {
  HealthPolicy p(/*grace=*/10, /*maxFailures=*/2, /*startedAt=*/100);
  auto v = p.onResult(false, 105);
  EXPECT_FALSE(v.counted);
  EXPECT_FALSE(v.changed);
  EXPECT_FALSE(p.healthy().has_value());
  v = p.onResult(true, 106);
  EXPECT_TRUE(v.counted);
  EXPECT_TRUE(v.changed);
  EXPECT_EQ(p.healthy(), true);
  // After a first success the grace period no longer protects.
  v = p.onResult(false, 107);
  EXPECT_TRUE(v.counted);
  EXPECT_TRUE(v.changed);
  EXPECT_EQ(v.healthy, false);
  EXPECT_EQ(v.consecutiveFailures, 1);
  EXPECT_FALSE(v.kill);
  v = p.onResult(false, 108);
  EXPECT_FALSE(v.changed);
  EXPECT_TRUE(v.kill);
}

TEST(HealthPolicyTest, FailuresAfterGraceCountAndSuccessResets) {
  HealthPolicy p(5, 3, 0);
  EXPECT_TRUE(p.onResult(false, 5).counted);  // grace over at exactly 5 s
  EXPECT_FALSE(p.onResult(false, 6).kill);
  auto v = p.onResult(true, 7);
  EXPECT_TRUE(v.changed);
  EXPECT_EQ(v.consecutiveFailures, 0);
  EXPECT_FALSE(p.onResult(false, 8).kill);
  EXPECT_FALSE(p.onResult(false, 9).kill);
  EXPECT_TRUE(p.onResult(false, 10).kill);
}

TEST(HealthPolicyTest, ZeroMaxFailuresNeverKills) {
  HealthPolicy p(0, 0, 0);
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(p.onResult(false, i).kill);
  EXPECT_EQ(p.consecutiveFailures(), 100);
  EXPECT_EQ(p.healthy(), false);
}

}  // namespace
}  // namespace corral::agent

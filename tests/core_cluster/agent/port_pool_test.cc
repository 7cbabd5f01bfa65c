#include "core_cluster/agent/port_pool.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace corral::agent {
namespace {

TEST(PortPoolTest, RejectsBadRanges) {
  EXPECT_FALSE(PortPool::create({}).ok());
  EXPECT_FALSE(PortPool::create({{0, 10}}).ok());
  auto bad = PortPool::create({{200, 100}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("200-100"), std::string::npos) << bad.error().message;
}

TEST(PortPoolTest, MergesOverlappingAndAdjacentRanges) {
  auto pool = PortPool::create(
      {{31010, 31020}, {31000, 31005}, {31006, 31009}, {31015, 31030}, {40000, 40000}});
  ASSERT_TRUE(pool.ok());
  EXPECT_EQ(pool->ranges(), (std::vector<PortRange>{{31000, 31030}, {40000, 40000}}));
  EXPECT_EQ(pool->size(), 32u);
  EXPECT_TRUE(pool->contains(40000));
  EXPECT_FALSE(pool->contains(31031));
}

TEST(PortPoolTest, AllocatesDistinctPortsAndReportsShortage) {
  auto pool = PortPool::create({{31000, 31002}, {32000, 32001}});
  ASSERT_TRUE(pool.ok());
  auto a = pool->allocate(3);
  ASSERT_TRUE(a.ok());
  auto b = pool->allocate(2);
  ASSERT_TRUE(b.ok());
  std::set<uint16_t> all(a->begin(), a->end());
  all.insert(b->begin(), b->end());
  EXPECT_EQ(all.size(), 5u);
  EXPECT_EQ(pool->freeCount(), 0u);
  auto c = pool->allocate(1);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("only 0 of 5 are free"), std::string::npos) << c.error().message;
  // A failed allocation takes nothing.
  pool->release((*a)[0]);
  auto d = pool->allocate(2);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(pool->freeCount(), 1u);
  auto e = pool->allocate(1);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ((*e)[0], (*a)[0]);
}

TEST(PortPoolTest, ReleasedPortIsReusedLast) {
  auto pool = PortPool::create({{31000, 31003}});
  ASSERT_TRUE(pool.ok());
  auto a = pool->allocate(1);
  ASSERT_TRUE(a.ok());
  pool->release((*a)[0]);
  auto b = pool->allocate(3);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(std::count(b->begin(), b->end(), (*a)[0]), 0);
}

TEST(PortPoolTest, ReserveSpecificPorts) {
  auto pool = PortPool::create({{31000, 31009}});
  ASSERT_TRUE(pool.ok());
  EXPECT_TRUE(pool->reserve(31005).ok());
  auto again = pool->reserve(31005);
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("already in use"), std::string::npos);
  auto outside = pool->reserve(30000);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.error().message.find("outside"), std::string::npos);
  // reserveAll is all or nothing.
  EXPECT_FALSE(pool->reserveAll({31001, 31005}).ok());
  EXPECT_FALSE(pool->inUse(31001));
  EXPECT_TRUE(pool->reserveAll({31001, 31002}).ok());
  EXPECT_EQ(pool->freeRanges(),
            (std::vector<PortRange>{{31000, 31000}, {31003, 31004}, {31006, 31009}}));
  auto more = pool->allocate(7);
  ASSERT_TRUE(more.ok());
  for (uint16_t p : *more) EXPECT_TRUE(p != 31001 && p != 31002 && p != 31005);
  EXPECT_TRUE(pool->release(31005));
  EXPECT_FALSE(pool->release(31005));
}

// Property: under random allocate/reserve/release, live ports never collide, stay in range, and
// the free count is always size - live.
TEST(PortPoolTest, RandomOperationsNeverShareAPort) {
  auto pool = PortPool::create({{31000, 31015}, {31100, 31107}});
  ASSERT_TRUE(pool.ok());
  std::mt19937 rng(42);
  std::set<uint16_t> live;
  for (int step = 0; step < 5000; ++step) {
    int op = static_cast<int>(rng() % 3);
    if (op == 0) {
      size_t n = rng() % 5;
      auto got = pool->allocate(n);
      if (n <= pool->size() - live.size()) {
        ASSERT_TRUE(got.ok());
        ASSERT_EQ(got->size(), n);
        for (uint16_t p : *got) {
          ASSERT_TRUE(pool->contains(p));
          ASSERT_TRUE(live.insert(p).second) << "port " << p << " handed out twice";
        }
      } else {
        ASSERT_FALSE(got.ok());
      }
    } else if (op == 1) {
      uint16_t p = static_cast<uint16_t>(31000 + rng() % 120);
      Status s = pool->reserve(p);
      ASSERT_EQ(s.ok(), pool->contains(p) && live.count(p) == 0);
      if (s.ok()) live.insert(p);
    } else if (!live.empty()) {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      ASSERT_TRUE(pool->release(*it));
      live.erase(it);
    }
    ASSERT_EQ(pool->freeCount(), pool->size() - live.size());
  }
}

}  // namespace
}  // namespace corral::agent

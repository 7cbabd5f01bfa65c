// AppMap (registry/app_map.h) against std::map under random writes, and the
// sharing it exists for: a copy shares every chunk, and a write to the copy
// leaves the original (an older snapshot) exactly as it was.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <stdexcept>

#include "registry/app_map.h"
#include "registry/catalog.h"

namespace corral::registry {
namespace {

std::shared_ptr<const App> app(const std::string& id, int instances = 1) {
  auto a = std::make_shared<App>();
  a->id = id;
  a->instances = instances;
  return a;
}

std::string idOf(int n) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "/app%05d", n);
  return buf;
}

// Same entries, same order, and every lookup agrees.
void expectSame(const AppMap& m, const std::map<std::string, std::shared_ptr<const App>>& ref,
                const std::string& step) {
  ASSERT_EQ(m.size(), ref.size()) << step;
  ASSERT_EQ(m.empty(), ref.empty()) << step;
  auto it = m.begin();
  for (const auto& [id, a] : ref) {
    ASSERT_TRUE(it != m.end()) << step;
    ASSERT_EQ(it->first, id) << step;
    ASSERT_EQ(it->second, a) << step;
    ++it;
  }
  ASSERT_TRUE(it == m.end()) << step;
  for (const auto& [id, a] : ref) {
    auto f = m.find(id);
    ASSERT_TRUE(f != m.end()) << step << " " << id;
    ASSERT_EQ(f->second, a) << step;
    ASSERT_EQ(m.count(id), 1u);
  }
}

TEST(AppMap, EmptyMap) {
  AppMap m;
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.size(), 0u);
  EXPECT_TRUE(m.begin() == m.end());
  EXPECT_TRUE(m.find("/x") == m.end());
  EXPECT_EQ(m.count("/x"), 0u);
  EXPECT_EQ(m.erase("/x"), 0u);
  EXPECT_THROW(m.at("/x"), std::out_of_range);
}

TEST(AppMap, RandomWritesMatchAStdMapAndOldCopiesNeverChange) {
  std::mt19937 rng(6);
  AppMap m;
  std::map<std::string, std::shared_ptr<const App>> ref;
  // Copies taken along the way, with what they held then.
  std::vector<std::pair<AppMap, std::map<std::string, std::shared_ptr<const App>>>> olds;
  for (int step = 0; step < 6000; ++step) {
    // Grow to ~2,000 apps, then shrink to a few, then grow again: chunks split and merge.
    const int phase = step / 2000;
    const int range = phase == 1 ? 40 : 2500;
    const bool add = phase == 1 ? rng() % 4 == 0 : rng() % 4 != 0;
    const std::string id = idOf(static_cast<int>(rng() % range));
    if (add) {
      auto a = app(id, step);
      if (rng() % 2) {
        EXPECT_EQ(m.insert_or_assign(id, a), !ref.count(id));
      } else {
        m[id] = a;
      }
      ref[id] = a;
    } else if (phase == 1) {
      // Erase what exists, anywhere in the order.
      auto it = ref.lower_bound(idOf(static_cast<int>(rng() % 2500)));
      if (it == ref.end()) continue;
      std::string gone = it->first;
      EXPECT_EQ(m.erase(gone), 1u);
      ref.erase(gone);
    } else {
      EXPECT_EQ(m.erase(id), ref.erase(id));
    }
    if (step % 97 == 0) olds.emplace_back(m, ref);
    if (step % 50 == 0) expectSame(m, ref, "step " + std::to_string(step));
  }
  expectSame(m, ref, "end");
  for (size_t i = 0; i < olds.size(); ++i) {
    expectSame(olds[i].first, olds[i].second, "copy " + std::to_string(i));
  }
  // Chunks stay between kMinChunk/2-ish and kMaxChunk: the table is small.
  EXPECT_LE(m.chunkCount(), m.size() / (AppMap::kMinChunk / 2) + 1);
}

TEST(AppMap, ACopySharesEveryChunkAndAWriteCopiesOnlyItsOwn) {
  AppMap base;
  for (int i = 0; i < 1000; ++i) base[idOf(i)] = app(idOf(i));
  ASSERT_GT(base.chunkCount(), 8u);
  AppMap next = base;
  for (size_t i = 0; i < base.chunkCount(); ++i) EXPECT_TRUE(next.sharesChunk(base, i));
  auto changed = app(idOf(500), 7);
  next.insert_or_assign(idOf(500), changed);
  size_t own = 0;
  for (size_t i = 0; i < base.chunkCount(); ++i) own += !next.sharesChunk(base, i);
  EXPECT_EQ(own, 1u);
  EXPECT_EQ(next.at(idOf(500)), changed);
  EXPECT_NE(base.at(idOf(500)), changed);
  EXPECT_EQ(base.at(idOf(500))->instances, 1);
}

TEST(AppMap, ErasingEverythingLeavesAnEmptyMap) {
  AppMap m;
  for (int i = 0; i < 300; ++i) m[idOf(i)] = app(idOf(i));
  AppMap before = m;
  for (int i = 299; i >= 0; --i) ASSERT_EQ(m.erase(idOf(i)), 1u);
  EXPECT_TRUE(m.empty());
  EXPECT_EQ(m.chunkCount(), 0u);
  EXPECT_TRUE(m.begin() == m.end());
  EXPECT_EQ(before.size(), 300u);
  m["/again"] = app("/again");
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(m.begin()->first, "/again");
}

TEST(AppMap, IdsBeforeTheFirstAndAfterTheLastAreFound) {
  AppMap m;
  for (int i = 100; i < 400; ++i) m[idOf(i)] = app(idOf(i));
  m["/a"] = app("/a");      // sorts before every "/app..."
  m["/zzz"] = app("/zzz");  // after every one
  m[""] = app("");          // the smallest key there is
  EXPECT_EQ(m.begin()->first, "");
  EXPECT_TRUE(m.find("/a") != m.end());
  EXPECT_TRUE(m.find("/zzz") != m.end());
  EXPECT_TRUE(m.find("/app00099") == m.end());
  EXPECT_TRUE(m.find("/app00400") == m.end());
  EXPECT_EQ(m.size(), 303u);
}

}  // namespace
}  // namespace corral::registry

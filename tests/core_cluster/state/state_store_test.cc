#include "core_cluster/state/state_store.h"

#include <gtest/gtest.h>

#include "core_cluster/state/in_memory_state_store.h"

namespace corral::state {
namespace {

TEST(ValidateKey, AcceptsPaths) {
  for (const char* key : {"/a", "/apps/shop/web", "/tasks/shop_web.1234-abcd", "/a.b/..c"}) {
    EXPECT_TRUE(validateKey(key).ok()) << key;
  }
}

TEST(ValidateKey, RejectsNonPathsWithAReason) {
  for (const char* key : {"", "a", "/", "/a/", "//a", "/a//b", "/a/./b", "/a/..", "/a\tb"}) {
    Status s = validateKey(key);
    ASSERT_FALSE(s.ok()) << key;
    EXPECT_EQ(s.error().kind, ErrorKind::kInvalid);
    EXPECT_NE(s.error().message.find("invalid state key"), std::string::npos);
  }
  EXPECT_FALSE(validateKey(std::string_view("/a\0b", 4)).ok());
}

TEST(ValidateBatch, NamesTheBadIndex) {
  Status s = validateBatch({Mutation::put("/ok", 1), Mutation::del("bad")});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().path, "/1");
}

TEST(InMemoryStateStore, AppliesBatchesAtomically) {
  InMemoryStateStore store({{"/a", 1}});
  ASSERT_TRUE(store.commit({Mutation::put("/b", 2), Mutation::del("/a")}).ok());
  EXPECT_FALSE(store.commit({Mutation::put("/c", 3), Mutation::put("bad", 4)}).ok());
  auto state = store.recover();
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(*state, (StateMap{{"/b", 2}}));
  EXPECT_EQ(store.commitCount(), 1u);
}

TEST(InMemoryStateStore, InjectedFailureAppliesNothingOnce) {
  InMemoryStateStore store;
  store.failNextCommit(makeError(ErrorKind::kUnavailable, "disk on fire", ""));
  Status s = store.commit({Mutation::put("/a", 1)});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "disk on fire");
  EXPECT_TRUE(store.snapshot().empty());
  ASSERT_TRUE(store.commitMany({{Mutation::put("/a", 1)}, {Mutation::put("/a", 2)}}).ok());
  EXPECT_EQ(store.snapshot(), (StateMap{{"/a", 2}}));
}

}  // namespace
}  // namespace corral::state

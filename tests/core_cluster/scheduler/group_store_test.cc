// The group store alone: defined groups, their versions (snapshots), the
// mutations that recover them.
#include "core_cluster/scheduler/group_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace corral::scheduler {
namespace {

TEST(GroupStoreTest, GroupsAndTheirVersionsSurviveARecovery) {
  GroupStore store;
  state::StateMap state;
  GroupState g{"/shop", {"/db"}, "v1", {"v1"}};
  Json snap1{{"id", "/shop"}, {"version", "v1"}, {"apps", Json::array({Json{{"id", "/shop/a"}}})}};
  state::applyBatch(state, store.putMutations(g, snap1));
  store.put(g, snap1);
  g.version = "v2";
  g.versions.push_back("v2");
  Json snap2{{"id", "/shop"}, {"version", "v2"}, {"apps", Json::array()}};
  state::applyBatch(state, store.putMutations(g, snap2));
  store.put(g, snap2);
  GroupState child{"/shop/empty", {}, "v2", {}};
  state::applyBatch(state, store.putMutations(child, Json()));
  store.put(child, Json());
  GroupState other{"/shop-x", {}, "v2", {}};
  store.put(other, Json());

  EXPECT_EQ(store.dependencies("/shop"), std::vector<std::string>{"/db"});
  EXPECT_TRUE(store.dependencies("/nope").empty());
  EXPECT_EQ(store.under("/shop"), (std::vector<std::string>{"/shop", "/shop/empty"}));
  ASSERT_TRUE(store.version("/shop", "v1").ok());
  EXPECT_EQ((*store.version("/shop", "v1"))["apps"][0]["id"], "/shop/a");
  EXPECT_EQ(store.version("/shop", "v9").error().kind, ErrorKind::kNotFound);

  GroupStore recovered;
  for (const auto& [key, value] : state) {
    auto taken = recovered.recoverEntry(key, value);
    ASSERT_TRUE(taken.ok());
    EXPECT_TRUE(*taken) << key;
  }
  EXPECT_FALSE(*recovered.recoverEntry("/apps/shop/a", Json::object()));
  EXPECT_FALSE(recovered.recoverEntry("/groups/bad", Json::array()).ok());
  ASSERT_NE(recovered.find("/shop"), nullptr);
  EXPECT_EQ(recovered.find("/shop")->versions, (std::vector<std::string>{"v1", "v2"}));
  EXPECT_NE(recovered.find("/shop/empty"), nullptr);
  EXPECT_EQ((*recovered.version("/shop", "v2"))["version"], "v2");
  EXPECT_TRUE(recovered.version("/shop", "v1").ok());

  // Deleting removes the group and every stored snapshot of it.
  state::applyBatch(state, store.deleteMutations("/shop"));
  store.erase("/shop");
  EXPECT_EQ(store.find("/shop"), nullptr);
  EXPECT_EQ(state.size(), 1u);  // only /shop/empty is left
}

}  // namespace
}  // namespace corral::scheduler

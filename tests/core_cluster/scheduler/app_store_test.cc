// The app store alone: versions, service ports, id clashes, the mutations it
// asks for and recovery from them. No scheduler, no driver.
#include "core_cluster/scheduler/app_store.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace corral::scheduler {
namespace {

conf::AppDefinition def(const std::string& text) {
  auto j = parseJson(text);
  EXPECT_TRUE(j.ok()) << text;
  auto d = conf::parseAppDefinition(*j);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message);
  return d.ok() ? *d : conf::AppDefinition{};
}

AppState stored(AppStore& store, const std::string& text) {
  AppState a;
  a.def = def(text);
  std::string v = store.newVersion();
  a.def.version = v;
  a.lastConfigChangeAt = v;
  a.lastScalingAt = v;
  a.versions.push_back(v);
  return a;
}

TEST(AppStoreTest, VersionsIncreaseEvenWithinOneMillisecond) {
  AppStore store(10000, 10010);
  std::string last;
  for (int i = 0; i < 200; ++i) {
    std::string v = store.newVersion();
    EXPECT_GT(v, last);
    last = v;
  }
}

TEST(AppStoreTest, ServicePortsAreAssignedFreeAndFixedOnesInUseAreRefused) {
  AppStore store(10000, 10003);
  store.put(stored(store, R"({"id":"/a","cmd":"x","portDefinitions":[{"port":10001}]})"));
  auto b = store.assignServicePorts(def(R"({"id":"/b","cmd":"x",
      "portDefinitions":[{"port":0},{"port":0}]})"),
                                    "");
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(b->portDefinitions[0].port, 10000);
  EXPECT_EQ(b->portDefinitions[1].port, 10002);

  auto clash = store.assignServicePorts(
      def(R"({"id":"/c","cmd":"x","portDefinitions":[{"port":10001}]})"), "");
  ASSERT_FALSE(clash.ok());
  EXPECT_EQ(clash.error().kind, ErrorKind::kInvalid);
  // The app being updated may keep its own port.
  EXPECT_TRUE(store
                  .assignServicePorts(
                      def(R"({"id":"/a","cmd":"x","portDefinitions":[{"port":10001}]})"), "/a")
                  .ok());
  // Outside the range a fixed port is the user's business.
  EXPECT_TRUE(
      store.assignServicePorts(def(R"({"id":"/d","cmd":"x","portDefinitions":[{"port":80}]})"), "")
          .ok());

  auto full = store.assignServicePorts(def(R"({"id":"/e","cmd":"x",
      "portDefinitions":[{"port":0},{"port":0},{"port":0},{"port":0}]})"),
                                       "");
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(full.error().message.find("10000-10003"), std::string::npos) << full.error().message;
}

TEST(AppStoreTest, NewIdsMustNotClashWithAppsOrGroups) {
  AppStore store(10000, 20000);
  store.put(stored(store, R"({"id":"/shop/web","cmd":"x"})"));
  EXPECT_TRUE(store.checkNewId("/shop/api").ok());
  for (const char* id : {"/shop/web", "/shop", "/shop/web/x"}) {
    Status st = store.checkNewId(id);
    ASSERT_FALSE(st.ok()) << id;
    EXPECT_EQ(st.error().kind, ErrorKind::kConflict) << id;
  }
}

TEST(AppStoreTest, KeepsEveryVersionAndKnowsThePreviousOne) {
  AppStore store(10000, 20000);
  AppState a = stored(store, R"({"id":"/web","cmd":"one"})");
  std::string v1 = *a.def.version;
  store.put(a);
  EXPECT_EQ(store.previousVersion("/web"), nullptr);

  AppState b = *store.find("/web");
  b.def.cmd = "two";
  std::string v2 = store.newVersion();
  b.def.version = v2;
  b.versions.push_back(v2);
  store.put(b);

  auto old = store.version("/web", v1);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->cmd, "one");
  EXPECT_EQ(store.version("/web", v2)->cmd, "two");
  ASSERT_NE(store.previousVersion("/web"), nullptr);
  EXPECT_EQ(store.previousVersion("/web")->cmd, "one");

  auto missing = store.version("/web", "1999-01-01T00:00:00.000Z");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(store.version("/nope", v1).error().kind, ErrorKind::kNotFound);

  store.erase("/web");
  EXPECT_EQ(store.find("/web"), nullptr);
  EXPECT_FALSE(store.version("/web", v1).ok());
}

TEST(AppStoreTest, MutationsRecoverTheSameAppsAndVersions) {
  AppStore store(10000, 20000);
  state::StateMap state;
  AppState a = stored(store, R"({"id":"/web","cmd":"one","portDefinitions":[{"port":10005}]})");
  state::applyBatch(state, store.putMutations(a, true));
  store.put(a);
  AppState b = a;
  b.def.cmd = "two";
  b.def.version = store.newVersion();
  b.versions.push_back(*b.def.version);
  state::applyBatch(state, store.putMutations(b, true));
  store.put(b);
  AppState gone = stored(store, R"({"id":"/gone","cmd":"x"})");
  state::applyBatch(state, store.putMutations(gone, true));
  store.put(gone);
  state::applyBatch(state, store.deleteMutations("/gone"));
  store.erase("/gone");
  state["/deployments/d1"] = Json::object();  // someone else's entry

  AppStore recovered(10000, 20000);
  for (const auto& [key, value] : state) {
    auto taken = recovered.recoverEntry(key, value);
    ASSERT_TRUE(taken.ok()) << key;
    EXPECT_EQ(*taken, key.rfind("/deployments/", 0) != 0) << key;
  }
  ASSERT_EQ(recovered.size(), 1u);
  const AppState* web = recovered.find("/web");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web->def.cmd, "two");
  EXPECT_EQ(web->def.portDefinitions[0].port, 10005);
  EXPECT_EQ(web->versions, b.versions);
  EXPECT_EQ(web->lastConfigChangeAt, a.lastConfigChangeAt);
  ASSERT_NE(recovered.previousVersion("/web"), nullptr);
  EXPECT_EQ(recovered.previousVersion("/web")->cmd, "one");
  EXPECT_EQ(recovered.find("/gone"), nullptr);
}

TEST(AppStoreTest, AnUnreadableStoredAppIsAnError) {
  AppStore store(10000, 20000);
  auto r = store.recoverEntry("/apps/web", Json{{"definition", Json{{"id", 5}}}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/apps/web"), std::string::npos);
  EXPECT_FALSE(store.recoverEntry("/apps/web", Json::array()).ok());
}

}  // namespace
}  // namespace corral::scheduler

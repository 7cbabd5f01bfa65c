// /v2/groups, multi-app deployments and rollbacks as Marathon clients see
// them: a real http::Server on 127.0.0.1 port 0 wired to V2Api, the master and
// the service scheduler (no agent: deployments stay in progress).
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "core_cluster/api/v2_api.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::api {
namespace {

using corral::testing::bodyJson;
using corral::testing::EventRecorder;
using corral::testing::fetchSync;

constexpr const char* kProduct = R"({"id":"/p","apps":[
  {"id":"web","cmd":"w","cpus":0.1,"mem":16,"instances":1,"dependencies":["api"]},
  {"id":"api","cmd":"a","cpus":0.1,"mem":16,"instances":3,"dependencies":["db"]},
  {"id":"db","cmd":"d","cpus":0.1,"mem":16,"instances":1}]})";

std::set<std::string> idsOf(const Json& items) {
  std::set<std::string> out;
  for (const auto& a : items) out.insert(a.value("id", ""));
  return out;
}

class GroupsApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<master::Master>(loop_, store_, master::MasterOptions{});
    sched_ = std::make_unique<scheduler::ServiceScheduler>(loop_, store_, bus_);
    master_->addScheduler(sched_.get());
    api_ = std::make_unique<V2Api>(*sched_, *master_, bus_, ApiInfo{});
    server_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          if (!master_->handleInternal(req, ex)) api_->handle(req, ex);
        });
    auto p = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(p.ok());
    port_ = *p;
  }
  void TearDown() override {
    server_.reset();
    bus_.closeAll();
  }

  http::Response get(const std::string& target) { return fetchSync(loop_, port_, "GET", target); }
  http::Response send(const std::string& method, const std::string& target,
                      const std::string& body = "") {
    return fetchSync(loop_, port_, method, target, body);
  }
  Json app(const std::string& id) { return bodyJson(get("/v2/apps" + id))["app"]; }

  Loop loop_;
  state::InMemoryStateStore store_;
  events::EventBus bus_{loop_};
  std::unique_ptr<master::Master> master_;
  std::unique_ptr<scheduler::ServiceScheduler> sched_;
  std::unique_ptr<V2Api> api_;
  std::unique_ptr<http::Server> server_;
  int port_ = 0;
};

TEST_F(GroupsApiTest, AnEmptyGroupIsKeptListedReachableWithADoubleSlashAndDeletable) {
  auto r = send("POST", "/v2/groups", R"({"id":"/empty"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_FALSE(bodyJson(r)["deploymentId"].get<std::string>().empty());
  EXPECT_EQ(r.header("Location").value_or(""), "/v2/groups/empty");
  auto g = get("/v2/groups//empty");
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_EQ(bodyJson(g)["apps"], Json::array());
  EXPECT_EQ(idsOf(bodyJson(get("/v2/groups"))["groups"]), std::set<std::string>{"/empty"});
  // POST of an existing group is a conflict.
  EXPECT_EQ(send("POST", "/v2/groups", R"({"id":"/empty"})").status, 409);
  EXPECT_EQ(send("POST", "/v2/apps", R"({"id":"/empty","cmd":"x"})").status, 409);
  EXPECT_EQ(send("POST", "/v2/groups", kProduct).status, 201);
  auto again = send("POST", "/v2/groups", kProduct);
  EXPECT_EQ(again.status, 409);
  EXPECT_NE(bodyJson(again)["message"].get<std::string>().find("Use PUT"), std::string::npos);
  EXPECT_EQ(send("DELETE", "/v2/groups//empty").status, 200);
  EXPECT_EQ(get("/v2/groups/empty").status, 404);
  EXPECT_EQ(send("DELETE", "/v2/groups/empty").status, 404);
}

TEST_F(GroupsApiTest, AGroupIsOneDeploymentWithOrderedStepsListedUntilDone) {
  EventRecorder events(bus_);
  auto r = send("POST", "/v2/groups", kProduct);
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = bodyJson(r)["deploymentId"];
  auto list = bodyJson(get("/v2/deployments"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], id);
  EXPECT_EQ(list[0]["totalSteps"], 3);
  EXPECT_EQ(list[0]["currentStep"], 1);
  EXPECT_EQ(list[0]["steps"][0]["actions"][0]["app"], "/p/db");
  EXPECT_EQ(list[0]["steps"][1]["actions"][0]["app"], "/p/api");
  EXPECT_EQ(list[0]["steps"][2]["actions"][0]["app"], "/p/web");
  EXPECT_EQ(list[0]["currentActions"][0]["app"], "/p/db");
  EXPECT_EQ(list[0]["affectedApps"].size(), 3u);
  // Every app names the one deployment.
  EXPECT_EQ(app("/p/web")["deployments"][0]["id"], id);
  EXPECT_EQ(app("/p/web")["dependencies"], Json::array({"/p/api"}));
  ASSERT_EQ(events.count("group_change_success"), 1u);
  EXPECT_EQ(events.ofType("group_change_success")[0]["groupId"], "/p");
  ASSERT_EQ(events.count("deployment_info"), 1u);
  Json plan = events.ofType("deployment_info")[0]["plan"];
  EXPECT_EQ(plan["original"]["id"], "/");
  EXPECT_EQ(plan["target"]["groups"][0]["id"], "/p");
  EXPECT_EQ(plan["target"]["groups"][0]["apps"].size(), 3u);
  EXPECT_FALSE(plan.contains("affectedApps"));  // Marathon's plan fields only on the stream

  // A bulk PUT /v2/apps is one deployment too.
  auto bulk =
      send("PUT", "/v2/apps?force=true",
           R"([{"id":"/p/db","instances":2},{"id":"/solo","cmd":"s","cpus":0.1,"mem":16}])");
  ASSERT_EQ(bulk.status, 200) << bulk.body;
  std::string bulkId = bodyJson(bulk)["deploymentId"];
  EXPECT_EQ(app("/p/db")["instances"], 2);
  EXPECT_EQ(app("/p/db")["deployments"][0]["id"], bulkId);
  EXPECT_EQ(app("/solo")["deployments"][0]["id"], bulkId);
}

TEST_F(GroupsApiTest, CyclesAreRefusedWith422) {
  auto r = send("POST", "/v2/groups", R"({"id":"/c","apps":[
    {"id":"a","cmd":"x","cpus":0.1,"mem":16,"dependencies":["b"]},
    {"id":"b","cmd":"x","cpus":0.1,"mem":16,"dependencies":["a"]}]})");
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_NE(bodyJson(r)["message"].get<std::string>().find("cyclic"), std::string::npos);
  EXPECT_EQ(get("/v2/groups/c").status, 404);
  // Group dependencies are kept and ordered by.
  auto g = send("POST", "/v2/groups", R"({"id":"/shop","groups":[
    {"id":"db","apps":[{"id":"pg","cmd":"x","cpus":0.1,"mem":16}]},
    {"id":"svc","dependencies":["/shop/db"],"apps":[{"id":"a","cmd":"x","cpus":0.1,"mem":16}]}]})");
  ASSERT_EQ(g.status, 201) << g.body;
  EXPECT_EQ(bodyJson(get("/v2/groups/shop/svc"))["dependencies"], Json::array({"/shop/db"}));
  auto list = bodyJson(get("/v2/deployments"));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["steps"][0]["actions"][0]["app"], "/shop/db/pg");
  EXPECT_EQ(list[0]["steps"][1]["actions"][0]["app"], "/shop/svc/a");
  EXPECT_EQ(send("POST", "/v2/groups", R"({"id":"/bad","pods":[{"id":"x"}]})").status, 422);
  EXPECT_EQ(send("POST", "/v2/groups", R"({"id":"/bad","apps":[{"id":"x","cpus":-1}]})").status,
            422);
  EXPECT_EQ(send("POST", "/v2/groups", "{nope").status, 400);
}

TEST_F(GroupsApiTest, PutRemovesWhatItNoLongerListsAndAVersionRollsItBack) {
  auto created = send("POST", "/v2/groups", kProduct);
  ASSERT_EQ(created.status, 201);
  std::string v1 = bodyJson(created)["version"];
  // Without web: web is removed, the rest stays.
  auto put = send("PUT", "/v2/groups/p?force=true", R"({"apps":[
    {"id":"api","cmd":"a","cpus":0.1,"mem":16,"instances":3,"dependencies":["db"]},
    {"id":"db","cmd":"d","cpus":0.1,"mem":16,"instances":1}]})");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(get("/v2/apps/p/web").status, 404);
  EXPECT_EQ(idsOf(bodyJson(get("/v2/groups/p"))["apps"]),
            (std::set<std::string>{"/p/api", "/p/db"}));
  auto versions = bodyJson(get("/v2/groups/p/versions"));
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_EQ(versions[1], v1);  // newest first
  EXPECT_EQ(bodyJson(get("/v2/groups/p/versions/" + v1))["apps"].size(), 3u);
  EXPECT_EQ(get("/v2/groups/p/versions/nope").status, 404);

  // A dry run answers the steps and changes nothing.
  auto dry = send("PUT", "/v2/groups/p?dryRun=true", R"({"version":")" + v1 + R"("})");
  ASSERT_EQ(dry.status, 200) << dry.body;
  EXPECT_EQ(bodyJson(dry)["steps"][0]["actions"][0]["app"], "/p/web");
  EXPECT_EQ(get("/v2/apps/p/web").status, 404);
  EXPECT_EQ(bodyJson(get("/v2/groups/p/versions")).size(), 2u);

  auto back = send("PUT", "/v2/groups/p?force=true", R"({"version":")" + v1 + R"("})");
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_FALSE(bodyJson(back)["deploymentId"].get<std::string>().empty());
  EXPECT_EQ(app("/p/web")["dependencies"], Json::array({"/p/api"}));
  EXPECT_EQ(send("PUT", "/v2/groups/p", R"({"version":"nope"})").status, 404);

  // scaleBy multiplies every app's instances, rounding up.
  auto scaled = send("PUT", "/v2/groups/p?force=true", R"({"scaleBy":1.5})");
  ASSERT_EQ(scaled.status, 200) << scaled.body;
  EXPECT_EQ(app("/p/api")["instances"], 5);
  EXPECT_EQ(app("/p/db")["instances"], 2);
  EXPECT_EQ(send("PUT", "/v2/groups/p", R"({"scaleBy":"x"})").status, 422);

  // Deleting the group removes its apps in one deployment.
  auto del = send("DELETE", "/v2/groups/p?force=true");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(get("/v2/apps/p/db").status, 404);
  EXPECT_EQ(get("/v2/groups/p").status, 404);
}

TEST_F(GroupsApiTest, EmbedsChooseWhatTheTreeCarries) {
  ASSERT_EQ(
      send("POST", "/v2/groups", R"({"id":"/e","apps":[{"id":"a","cmd":"x","cpus":0.1,"mem":16}],
    "groups":[{"id":"sub","apps":[{"id":"b","cmd":"x","cpus":0.1,"mem":16}]}]})")
          .status,
      201);
  Json plain = bodyJson(get("/v2/groups/e"));
  EXPECT_FALSE(plain["apps"][0].contains("tasksRunning"));
  EXPECT_EQ(plain["groups"][0]["apps"][0]["id"], "/e/sub/b");
  Json counts = bodyJson(get("/v2/groups/e?embed=group.apps&embed=group.apps.counts"));
  EXPECT_EQ(counts["apps"][0]["tasksRunning"], 0);
  EXPECT_FALSE(counts.contains("groups"));
  Json more = bodyJson(
      get("/v2/groups/e?embed=group.groups&embed=group.apps.tasks&embed=group.apps.deployments"
          "&embed=group.apps.readiness&embed=group.apps.lastTaskFailure"));
  EXPECT_EQ(more["apps"][0]["tasks"], Json::array());
  EXPECT_EQ(more["apps"][0]["deployments"].size(), 1u);
  EXPECT_EQ(more["apps"][0]["readinessCheckResults"], Json::array());
  EXPECT_EQ(more["groups"][0]["id"], "/e/sub");
  Json groupsOnly = bodyJson(get("/v2/groups/e?embed=group.groups"));
  EXPECT_FALSE(groupsOnly.contains("apps"));
}

TEST_F(GroupsApiTest, DeletingAStuckAppAndCancellingDeploymentsAsMarathon) {
  // No agent: every deployment is stuck.
  ASSERT_EQ(send("POST", "/v2/apps", R"({"id":"/stuck","cmd":"x","cpus":0.1,"mem":16})").status,
            201);
  // Marathon's default force on DELETE /v2/apps/{id} is true.
  auto del = send("DELETE", "/v2/apps/stuck");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(get("/v2/apps/stuck").status, 404);

  auto c = send("POST", "/v2/apps", R"({"id":"/new","cmd":"x","cpus":0.1,"mem":16})");
  std::string created(c.header("Marathon-Deployment-Id").value_or(""));
  // Cancelling a create rolls it back: the app goes, in a new deployment.
  auto cancel = send("DELETE", "/v2/deployments/" + created);
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  std::string rollback = bodyJson(cancel)["deploymentId"];
  EXPECT_NE(rollback, created);
  EXPECT_EQ(get("/v2/apps/new").status, 404);

  ASSERT_EQ(send("POST", "/v2/apps", R"({"id":"/f","cmd":"x","cpus":0.1,"mem":16})").status, 201);
  std::string fid = bodyJson(get("/v2/apps/f"))["app"]["deployments"][0]["id"];
  auto forced = send("DELETE", "/v2/deployments/" + fid + "?force=true");
  EXPECT_EQ(forced.status, 202);
  EXPECT_TRUE(forced.body.empty());
  EXPECT_EQ(get("/v2/apps/f").status, 200);  // no rollback
  EXPECT_EQ(send("DELETE", "/v2/deployments/" + fid).status, 404);
}

}  // namespace
}  // namespace corral::api

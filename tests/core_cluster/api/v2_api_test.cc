// Marathon's v2 API as clients see it: a real http::Server on 127.0.0.1 port 0
// wired to V2Api, the master and the service scheduler; one fake agent server
// takes /internal/launch and /internal/kill.
#include "core_cluster/api/v2_api.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "base/metrics.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::api {
namespace {

using corral::testing::bodyJson;
using corral::testing::fetchSync;

std::set<std::string> idsOf(const Json& apps) {
  std::set<std::string> out;
  for (const auto& a : apps) out.insert(a.value("id", ""));
  return out;
}

class V2ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master::MasterOptions mo;
    mo.allocationIntervalMs = 10;
    master_ = std::make_unique<master::Master>(loop_, store_, mo);
    sched_ = std::make_unique<scheduler::ServiceScheduler>(loop_, store_, bus_);
    master_->addScheduler(sched_.get());
    api_ = std::make_unique<V2Api>(*sched_, *master_, bus_,
                                   ApiInfo{.advertisedAddress = "127.0.0.1:8080",
                                           .frameworkId = "fw-1",
                                           .version = "1.10.0-corral",
                                           .zkUrl = ""});
    server_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          if (!master_->handleInternal(req, ex)) api_->handle(req, ex);
        });
    auto p = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(p.ok());
    port_ = *p;
    agent_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          auto body = parseJson(req.body);
          if (req.path == "/internal/launch" && body.ok()) {
            for (const auto& t : (*body)["tasks"]) launched_.push_back(t["taskId"]);
          }
          if (req.path == "/internal/kill" && body.ok()) killed_.push_back((*body)["taskId"]);
          ex->respond(http::Response::json(200, "{}"));
        });
    auto ap = agent_->listen("127.0.0.1", 0);
    ASSERT_TRUE(ap.ok());
    agentPort_ = *ap;
  }
  void TearDown() override {
    server_.reset();
    agent_.reset();
    bus_.closeAll();
  }

  http::Response get(const std::string& target) { return fetchSync(loop_, port_, "GET", target); }
  http::Response send(const std::string& method, const std::string& target,
                      const std::string& body) {
    return fetchSync(loop_, port_, method, target, body);
  }

  // Registers the fake agent and starts offering its resources.
  void withAgent(const std::string& resources = "cpus:4;mem:4096;disk:1000;ports:[31000-31099]") {
    Json reg{{"hostname", "127.0.0.1"}, {"port", agentPort_}, {"resources", resources}};
    auto r = send("POST", "/internal/agents/register", dumpJson(reg));
    ASSERT_EQ(r.status, 200) << r.body;
    agentId_ = bodyJson(r)["agentId"];
    master_->start();
    sched_->start();
  }

  void taskStatus(const std::string& taskId, const std::string& state) {
    Json j{{"taskId", taskId}, {"state", state}, {"agentId", agentId_}};
    auto r = send("POST", "/internal/status", dumpJson(j));
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string create(const std::string& body) {
    auto r = send("POST", "/v2/apps", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(r.header("Marathon-Deployment-Id").value_or(""));
  }

  Loop loop_;
  state::InMemoryStateStore store_;
  events::EventBus bus_{loop_};
  std::unique_ptr<master::Master> master_;
  std::unique_ptr<scheduler::ServiceScheduler> sched_;
  std::unique_ptr<V2Api> api_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Server> agent_;
  int port_ = 0;
  int agentPort_ = 0;
  std::string agentId_;
  std::vector<std::string> launched_;
  std::vector<std::string> killed_;
};

TEST_F(V2ApiTest, PostAppAnswers201WithLocationAndDeploymentId) {
  auto r = send("POST", "/v2/apps",
                R"({"id":"web","cmd":"sleep 100","instances":2,"cpus":0.1,"mem":16})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("Location").value_or(""), "/v2/apps/web");
  std::string dep(r.header("Marathon-Deployment-Id").value_or(""));
  EXPECT_FALSE(dep.empty());
  Json j = bodyJson(r);
  EXPECT_EQ(j["id"], "/web");
  EXPECT_EQ(j["instances"], 2);
  EXPECT_EQ(j["deployments"], Json::array({Json{{"id", dep}}}));
  EXPECT_TRUE(j.contains("version"));
  EXPECT_EQ(r.header("Content-Type").value_or("").find("application/json"), 0u);

  auto deps = bodyJson(get("/v2/deployments"));
  ASSERT_EQ(deps.size(), 1u);
  EXPECT_EQ(deps[0]["id"], dep);
  EXPECT_EQ(deps[0]["affectedApps"], Json::array({"/web"}));
}

TEST_F(V2ApiTest, GetAppIsWrappedAndMissingAppIs404) {
  create(R"({"id":"/web","cmd":"sleep 100","cpus":0.1,"mem":16,"labels":{"a":"b"}})");
  auto r = get("/v2/apps/web");
  ASSERT_EQ(r.status, 200) << r.body;
  Json app = bodyJson(r)["app"];
  EXPECT_EQ(app["id"], "/web");
  EXPECT_EQ(app["cmd"], "sleep 100");
  EXPECT_EQ(app["labels"]["a"], "b");
  EXPECT_TRUE(app["tasks"].is_array());
  EXPECT_EQ(app["tasksRunning"], 0);
  EXPECT_EQ(app["tasksStaged"], 0);
  EXPECT_EQ(app["deployments"].size(), 1u);
  EXPECT_TRUE(app["versionInfo"].contains("lastConfigChangeAt"));

  // Clients that join "/v2/apps/" with an absolute id send a double slash.
  auto dbl = get("/v2/apps//web");
  ASSERT_EQ(dbl.status, 200) << dbl.body;
  EXPECT_EQ(bodyJson(dbl)["app"]["id"], "/web");
  EXPECT_EQ(get("/v2/apps//web/versions").status, 200);

  auto missing = get("/v2/apps/nope");
  EXPECT_EQ(missing.status, 404);
  Json m = bodyJson(missing);
  EXPECT_NE(m.value("message", "").find("/nope"), std::string::npos) << m.dump();
  EXPECT_EQ(get("/v2/apps/nope/tasks").status, 404);
  EXPECT_EQ(get("/v2/nothing").status, 404);
}

TEST_F(V2ApiTest, InvalidAppIs422WithMarathonDetails) {
  auto r = send("POST", "/v2/apps", R"({"id":"/bad","cmd":"x","instances":-1,"cpus":"lots"})");
  ASSERT_EQ(r.status, 422) << r.body;
  Json j = bodyJson(r);
  EXPECT_TRUE(j.contains("message"));
  ASSERT_TRUE(j["details"].is_array());
  ASSERT_GE(j["details"].size(), 2u) << j.dump();
  std::set<std::string> paths;
  for (const auto& d : j["details"]) {
    paths.insert(d["path"]);
    EXPECT_TRUE(d["errors"].is_array());
    EXPECT_FALSE(d["errors"].empty());
  }
  EXPECT_TRUE(paths.count("/instances")) << j.dump();
  EXPECT_TRUE(paths.count("/cpus")) << j.dump();
  EXPECT_EQ(bodyJson(get("/v2/apps"))["apps"].size(), 0u);

  EXPECT_EQ(send("POST", "/v2/apps", "{\"id\":").status, 400);
  EXPECT_EQ(send("POST", "/v2/apps", "[1,2]").status, 400);
  auto badId = send("POST", "/v2/apps", R"({"id":"/Bad_Id!","cmd":"x"})");
  EXPECT_EQ(badId.status, 422) << badId.body;
}

TEST_F(V2ApiTest, InvalidPartialUpdateNamesOnlyWhatThePatchGotWrong) {
  ASSERT_EQ(send("POST", "/v2/apps", R"({"id":"/web","cmd":"x","instances":1})").status, 201);
  auto r = send("PUT", "/v2/apps/web?force=true", R"({"instances":-1})");
  ASSERT_EQ(r.status, 422) << r.body;
  Json j = bodyJson(r);
  ASSERT_EQ(j["details"].size(), 1u) << j.dump();
  EXPECT_EQ(j["details"][0]["path"], "/instances") << j.dump();
  // Switching cmd for args is a valid patch.
  r = send("PUT", "/v2/apps/web?force=true", R"({"args":["sleep","1"]})");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(V2ApiTest, ConflictsAre409WithDeploymentsAndForceOverrides) {
  std::string dep = create(R"({"id":"/c","cmd":"x","instances":2,"cpus":0.1,"mem":16})");
  auto dup = send("POST", "/v2/apps", R"({"id":"/c","cmd":"x"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_TRUE(bodyJson(dup).contains("message"));

  // No agent: the start deployment is still running.
  auto locked = send("PUT", "/v2/apps/c", R"({"instances":3})");
  ASSERT_EQ(locked.status, 409) << locked.body;
  Json j = bodyJson(locked);
  EXPECT_TRUE(j.contains("message"));
  EXPECT_EQ(j["deployments"], Json::array({Json{{"id", dep}}}));
  EXPECT_EQ(send("POST", "/v2/apps/c/restart", "").status, 409);
  // DELETE defaults to force=true (Marathon); asked without force it is refused.
  EXPECT_EQ(send("DELETE", "/v2/apps/c?force=false", "").status, 409);

  // Query booleans: true and True both mean yes.
  auto forced = send("PUT", "/v2/apps/c?force=true", R"({"instances":3})");
  ASSERT_EQ(forced.status, 200) << forced.body;
  Json fj = bodyJson(forced);
  EXPECT_FALSE(fj.value("deploymentId", "").empty());
  EXPECT_FALSE(fj.value("version", "").empty());
  EXPECT_EQ(forced.header("Marathon-Deployment-Id").value_or(""), fj.value("deploymentId", ""));
  auto forced2 = send("PUT", "/v2/apps/c?force=True", R"({"instances":4})");
  EXPECT_EQ(forced2.status, 200) << forced2.body;
  EXPECT_EQ(send("PUT", "/v2/apps/c?force=false", R"({"instances":5})").status, 409);
  EXPECT_EQ(bodyJson(get("/v2/apps/c"))["app"]["instances"], 4);
  EXPECT_EQ(bodyJson(get("/v2/deployments")).size(), 1u);
}

TEST_F(V2ApiTest, AppListFilters) {
  create(
      R"({"id":"/shop/web","cmd":"sleep 1","cpus":0.1,"mem":16,"labels":{"env":"prod","tier":"fe"}})");
  create(R"({"id":"/shop/db","cmd":"python3 -m db","cpus":0.1,"mem":16,"labels":{"env":"dev"}})");
  create(R"({"id":"/tool","cmd":"sleep 2","cpus":0.1,"mem":16})");
  auto list = [&](const std::string& q) { return idsOf(bodyJson(get("/v2/apps" + q))["apps"]); };
  using S = std::set<std::string>;
  EXPECT_EQ(list(""), (S{"/shop/web", "/shop/db", "/tool"}));
  EXPECT_EQ(list("?label=env==prod"), (S{"/shop/web"}));
  EXPECT_EQ(list("?label=env%3D%3Ddev"), (S{"/shop/db"}));
  EXPECT_EQ(list("?label=env"), (S{"/shop/web", "/shop/db"}));
  // Marathon: != needs the label; an app without it does not match.
  EXPECT_EQ(list("?label=env!=prod"), (S{"/shop/db"}));
  EXPECT_EQ(list("?label=env%20in%20(dev,prod)"), (S{"/shop/web", "/shop/db"}));
  EXPECT_EQ(list("?label=env%20notin%20(dev)"), (S{"/shop/web"}));
  EXPECT_EQ(list("?label=env%20in%20(stage)"), (S{}));
  EXPECT_EQ(list("?label=env==prod,tier==fe"), (S{"/shop/web"}));
  EXPECT_EQ(list("?label=env==prod,tier==be"), (S{}));
  EXPECT_EQ(list("?id=shop"), (S{"/shop/web", "/shop/db"}));
  EXPECT_EQ(list("?id=/tool"), (S{"/tool"}));
  EXPECT_EQ(list("?cmd=python"), (S{"/shop/db"}));
  EXPECT_EQ(list("?cmd=sleep&id=tool"), (S{"/tool"}));
  Json apps = bodyJson(get("/v2/apps?embed=apps.tasks"))["apps"];
  for (const auto& a : apps) EXPECT_TRUE(a["tasks"].is_array());
}

// Each app's definition is rendered once and reused by later listings until
// the app changes: a change (scale, new definition) shows at once, a deleted
// app's entry goes, and the listing is the same JSON the tree rendering gave.
TEST_F(V2ApiTest, AppListRendersEachAppOnceUntilItChanges) {
  create(R"({"id":"/web","cmd":"sleep 1","cpus":0.1,"mem":16,"instances":0})");
  create(R"({"id":"/db","cmd":"sleep 2","cpus":0.1,"mem":16,"instances":0})");
  Json first = bodyJson(get("/v2/apps?embed=apps.tasks"))["apps"];
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(api_->renderCache().renders(), 2u);
  Json again = bodyJson(get("/v2/apps?embed=apps.tasks"))["apps"];
  EXPECT_EQ(again, first);
  EXPECT_EQ(api_->renderCache().renders(), 2u) << "nothing changed: nothing re-rendered";
  for (const auto& a : again) {
    const scheduler::AppState* app = sched_->app(a["id"].get<std::string>());
    ASSERT_NE(app, nullptr);
    Json tree = appJson(*sched_, *app, true, true, false);
    tree["tasks"] = Json::array();
    EXPECT_EQ(a, tree) << "cached text and the JSON tree agree";
  }

  ASSERT_EQ(send("PUT", "/v2/apps/web?force=true", R"({"instances":0,"cmd":"sleep 5"})").status,
            200);
  Json changed = bodyJson(get("/v2/apps/web"))["app"];
  EXPECT_EQ(changed["cmd"], "sleep 5");
  EXPECT_EQ(api_->renderCache().renders(), 3u) << "only the changed app is rendered again";
  Json list = bodyJson(get("/v2/apps"))["apps"];
  for (const auto& a : list) {
    EXPECT_EQ(a["cmd"], a["id"] == "/web" ? "sleep 5" : "sleep 2");
  }
  EXPECT_EQ(api_->renderCache().renders(), 3u);

  ASSERT_EQ(send("DELETE", "/v2/apps/db?force=true", "").status, 200);
  ASSERT_EQ(sched_->app("/db"), nullptr);
  EXPECT_EQ(bodyJson(get("/v2/apps"))["apps"].size(), 1u);
  EXPECT_EQ(api_->renderCache().size(), 1u) << "a deleted app's entry is dropped";
}

TEST_F(V2ApiTest, TasksWithStatusFilterAndAppTasks) {
  withAgent();
  create(R"({"id":"/web","cmd":"sleep 100","instances":2,"cpus":0.1,"mem":16})");
  ASSERT_TRUE(loop_.runUntil([&] { return launched_.size() == 2; }, 5000));
  taskStatus(launched_[0], "TASK_RUNNING");

  Json all = bodyJson(get("/v2/tasks"))["tasks"];
  EXPECT_EQ(all.size(), 2u);
  Json running = bodyJson(get("/v2/tasks?status=running"))["tasks"];
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0]["id"], launched_[0]);
  EXPECT_EQ(running[0]["state"], "TASK_RUNNING");
  EXPECT_EQ(running[0]["appId"], "/web");
  EXPECT_EQ(running[0]["host"], "127.0.0.1");
  EXPECT_EQ(running[0]["slaveId"], agentId_);
  ASSERT_EQ(running[0]["ports"].size(), 1u);
  int port = running[0]["ports"][0];
  EXPECT_TRUE(port >= 31000 && port <= 31099) << port;
  EXPECT_EQ(running[0]["servicePorts"], Json::array({10000}));
  EXPECT_FALSE(running[0]["startedAt"].is_null());
  EXPECT_EQ(bodyJson(get("/v2/tasks?status=staging"))["tasks"].size(), 1u);
  EXPECT_EQ(bodyJson(get("/v2/tasks?status=running&status=staging"))["tasks"].size(), 2u);
  EXPECT_EQ(bodyJson(get("/v2/apps/web/tasks"))["tasks"].size(), 2u);
  Json app = bodyJson(get("/v2/apps/web"))["app"];
  EXPECT_EQ(app["tasksRunning"], 1);
  EXPECT_EQ(app["tasksStaged"], 1);

  // Kill one through the API: the agent is asked to.
  auto k = send("DELETE", "/v2/apps/web/tasks/" + launched_[1], "");
  ASSERT_EQ(k.status, 200) << k.body;
  EXPECT_EQ(bodyJson(k)["task"]["id"], launched_[1]);
  ASSERT_TRUE(loop_.runUntil([&] { return !killed_.empty(); }, 3000));
  EXPECT_EQ(killed_[0], launched_[1]);
  EXPECT_EQ(send("DELETE", "/v2/apps/web/tasks/nope", "").status, 404);
}

TEST_F(V2ApiTest, QueueShowsWaitingInstancesAndWhy) {
  withAgent("cpus:1;mem:512;ports:[31000-31009]");
  create(R"({"id":"/huge","cmd":"x","instances":3,"cpus":2,"mem":16})");
  Json q;
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        q = bodyJson(get("/v2/queue"));
        return q["queue"].size() == 1 &&
               !q["queue"][0]["processedOffersSummary"]["waitingReason"].get<std::string>().empty();
      },
      5000))
      << q.dump();
  EXPECT_EQ(q["queue"][0]["count"], 3);
  EXPECT_EQ(q["queue"][0]["app"]["id"], "/huge");
  std::string reason = q["queue"][0]["processedOffersSummary"]["waitingReason"];
  EXPECT_NE(reason.find("cpus"), std::string::npos) << reason;
  // Marathon's offer counts: every offer looked at went unused.
  const Json& summary = q["queue"][0]["processedOffersSummary"];
  EXPECT_GE(summary["processedOffersCount"].get<int>(), 1) << summary.dump();
  EXPECT_EQ(summary["unusedOffersCount"], summary["processedOffersCount"]);
  EXPECT_TRUE(launched_.empty());
}

TEST_F(V2ApiTest, GroupsTreeForNestedIds) {
  create(R"({"id":"/shop/web","cmd":"x","cpus":0.1,"mem":16})");
  create(R"({"id":"/shop/back/db","cmd":"x","cpus":0.1,"mem":16})");
  create(R"({"id":"/top","cmd":"x","cpus":0.1,"mem":16})");
  auto r = get("/v2/groups");
  ASSERT_EQ(r.status, 200) << r.body;
  Json root = bodyJson(r);
  EXPECT_EQ(root["id"], "/");
  EXPECT_EQ(idsOf(root["apps"]), (std::set<std::string>{"/top"}));
  ASSERT_EQ(root["groups"].size(), 1u);
  const Json& shop = root["groups"][0];
  EXPECT_EQ(shop["id"], "/shop");
  EXPECT_EQ(idsOf(shop["apps"]), (std::set<std::string>{"/shop/web"}));
  ASSERT_EQ(shop["groups"].size(), 1u);
  EXPECT_EQ(shop["groups"][0]["id"], "/shop/back");
  EXPECT_EQ(idsOf(shop["groups"][0]["apps"]), (std::set<std::string>{"/shop/back/db"}));

  Json g = bodyJson(get("/v2/groups/shop"));
  EXPECT_EQ(g["id"], "/shop");
  EXPECT_EQ(get("/v2/groups/shop/").status, 200);
  EXPECT_EQ(get("/v2/groups/nope").status, 404);
  // An app id cannot be a group and vice versa.
  EXPECT_EQ(send("POST", "/v2/apps", R"({"id":"/shop","cmd":"x"})").status, 409);
  EXPECT_EQ(send("POST", "/v2/apps", R"({"id":"/top/sub","cmd":"x"})").status, 409);
}

TEST_F(V2ApiTest, VersionsNewestFirst) {
  create(R"({"id":"/v","cmd":"one","cpus":0.1,"mem":16})");
  std::string v1 = bodyJson(get("/v2/apps/v"))["app"]["version"];
  auto u = send("PUT", "/v2/apps/v?force=true", R"({"cmd":"two"})");
  ASSERT_EQ(u.status, 200) << u.body;
  std::string v2 = bodyJson(u)["version"];
  EXPECT_GT(v2, v1);
  auto r = get("/v2/apps/v/versions");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(bodyJson(r)["versions"], Json::array({v2, v1}));
  auto old = get("/v2/apps/v/versions/" + v1);
  ASSERT_EQ(old.status, 200) << old.body;
  EXPECT_EQ(bodyJson(old)["cmd"], "one");
  EXPECT_EQ(bodyJson(get("/v2/apps/v/versions/" + v2))["cmd"], "two");
  EXPECT_EQ(get("/v2/apps/v/versions/2001-01-01T00:00:00.000Z").status, 404);
}

TEST_F(V2ApiTest, RollbackToAVersionRestoresItsWholeDefinition) {
  create(R"({"id":"/rb","cmd":"one","cpus":0.1,"mem":16,"instances":2,
             "labels":{"a":"1"},"env":{"E":"x"}})");
  std::string v1 = bodyJson(get("/v2/apps/rb"))["app"]["version"];
  auto u = send("PUT", "/v2/apps/rb?force=true",
                R"({"cmd":"two","instances":3,"labels":{"b":"2"},"env":{}})");
  ASSERT_EQ(u.status, 200) << u.body;
  auto r = send("PUT", "/v2/apps/rb?force=true", dumpJson(Json{{"version", v1}}));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_GT(bodyJson(r)["version"].get<std::string>(), v1) << "a rollback is a new version";
  Json app = bodyJson(get("/v2/apps/rb"))["app"];
  EXPECT_EQ(app["cmd"], "one");
  EXPECT_EQ(app["instances"], 2);
  EXPECT_EQ(app["labels"], Json({{"a", "1"}}));
  EXPECT_EQ(app["env"], Json({{"E", "x"}}));
  EXPECT_EQ(bodyJson(get("/v2/apps/rb/versions"))["versions"].size(), 3u);
  // The id may come along; nothing else may.
  EXPECT_EQ(
      send("PUT", "/v2/apps/rb?force=true", dumpJson(Json{{"id", "/rb"}, {"version", v1}})).status,
      200);
  auto mixed = send("PUT", "/v2/apps/rb?force=true", dumpJson(Json{{"version", v1}, {"cmd", "z"}}));
  EXPECT_EQ(mixed.status, 422) << mixed.body;
  EXPECT_NE(mixed.body.find("may only be combined with the 'id' field"), std::string::npos);
  auto unknown = send("PUT", "/v2/apps/rb", R"({"version":"2001-01-01T00:00:00.000Z"})");
  EXPECT_EQ(unknown.status, 404) << unknown.body;
  EXPECT_EQ(bodyJson(unknown)["message"], "App '/rb' does not exist");
  auto noApp = send("PUT", "/v2/apps/none", dumpJson(Json{{"version", v1}}));
  EXPECT_EQ(noApp.status, 404) << noApp.body;
  EXPECT_EQ(get("/v2/apps/none").status, 404) << "a rollback creates nothing";
  auto badVersion = get("/v2/apps/rb/versions/2001-01-01T00:00:00.000Z");
  EXPECT_EQ(bodyJson(badVersion)["message"],
            "App '/rb' does not exist in version 2001-01-01T00:00:00.000Z");
}

TEST_F(V2ApiTest, PutCreatesWith201AndLocationPatchDoesNot) {
  auto r = send("PUT", "/v2/apps/made", R"({"cmd":"x","cpus":0.1,"mem":16})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.header("Location").value_or(""), "/v2/apps/made");
  EXPECT_FALSE(std::string(r.header("Marathon-Deployment-Id").value_or("")).empty());
  EXPECT_TRUE(bodyJson(r).contains("deploymentId"));
  EXPECT_EQ(get("/v2/apps/made").status, 200);
  auto again = send("PUT", "/v2/apps/made?force=true", R"({"cmd":"y"})");
  EXPECT_EQ(again.status, 200) << again.body;
  EXPECT_FALSE(again.header("Location").has_value());
  auto patch = send("PATCH", "/v2/apps/ghost", R"({"cmd":"x"})");
  EXPECT_EQ(patch.status, 404) << patch.body;
  EXPECT_EQ(get("/v2/apps/ghost").status, 404);
}

TEST_F(V2ApiTest, PartialUpdateFalseReplacesTheDefinition) {
  create(R"({"id":"/full","cmd":"one","cpus":0.1,"mem":16,"labels":{"old":"1"},
             "env":{"OLD":"1"}})");
  auto kept = send("PUT", "/v2/apps/full?force=true", R"({"labels":{"new":"2"}})");
  ASSERT_EQ(kept.status, 200) << kept.body;
  Json app = bodyJson(get("/v2/apps/full"))["app"];
  EXPECT_EQ(app["env"], Json({{"OLD", "1"}})) << "a partial update keeps what it does not name";
  auto r = send("PUT", "/v2/apps/full?force=true&partialUpdate=false",
                R"({"cmd":"two","cpus":0.2,"mem":32})");
  ASSERT_EQ(r.status, 200) << r.body;
  app = bodyJson(get("/v2/apps/full"))["app"];
  EXPECT_EQ(app["cmd"], "two");
  EXPECT_EQ(app["labels"], Json::object());
  EXPECT_EQ(app["env"], Json::object());
  // A replacement is a whole app: without cmd/args it is not one.
  auto bad = send("PUT", "/v2/apps/full?force=true&partialUpdate=false", R"({"labels":{}})");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bodyJson(get("/v2/apps/full"))["app"]["cmd"], "two");
}

TEST_F(V2ApiTest, UnsupportedRuntimeFieldsAre422NamingTheField) {
  for (const auto& [field, value] :
       std::vector<std::pair<std::string, Json>>{{"tty", true},
                                                 {"role", "slave_public"},
                                                 {"check", Json{{"http", Json{{"portIndex", 0}}}}},
                                                 {"resourceLimits", Json{{"cpus", "unlimited"}}}}) {
    Json app{{"id", "/rt"}, {"cmd", "x"}, {"cpus", 0.1}, {"mem", 16}};
    app[field] = value;
    auto r = send("POST", "/v2/apps", dumpJson(app));
    ASSERT_EQ(r.status, 422) << field << " " << r.body;
    EXPECT_EQ(bodyJson(r)["details"][0]["path"], "/" + field) << r.body;
  }
  auto ok = send("POST", "/v2/apps",
                 R"({"id":"/rt","cmd":"x","cpus":0.1,"mem":16,"role":"*","tty":false})");
  ASSERT_EQ(ok.status, 201) << ok.body;
  EXPECT_EQ(bodyJson(get("/v2/apps/rt"))["app"]["role"], "*");
}

TEST_F(V2ApiTest, PostTasksDeleteAnswersWithTheKilledTasks) {
  withAgent();
  create(R"({"id":"/k","cmd":"x","cpus":0.1,"mem":16,"instances":2})");
  ASSERT_TRUE(loop_.runUntil([&] { return launched_.size() == 2; }, 5000));
  for (const auto& t : launched_) taskStatus(t, "TASK_RUNNING");
  auto r = send("POST", "/v2/tasks/delete", dumpJson(Json{{"ids", Json::array({launched_[0]})}}));
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = bodyJson(r);
  ASSERT_EQ(j["tasks"].size(), 1u) << r.body;
  EXPECT_EQ(j["tasks"][0]["id"], launched_[0]);
  EXPECT_EQ(j["tasks"][0]["appId"], "/k");
  auto s = send("POST", "/v2/tasks/delete?scale=true",
                dumpJson(Json{{"ids", Json::array({launched_[1]})}}));
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_TRUE(bodyJson(s).contains("deploymentId")) << s.body;
  EXPECT_TRUE(bodyJson(s).contains("version")) << s.body;
}

TEST_F(V2ApiTest, HealthCheckEventsFollowTheAppsVersions) {
  std::vector<std::pair<std::string, Json>> seen;
  uint64_t token = bus_.subscribe([&](const events::StoredEvent& e) {
    if (e.type.find("health_check_event") != std::string::npos && e.type[0] != 'f') {
      seen.emplace_back(e.type, *parseJson(e.data));
    }
  });
  create(R"({"id":"/hc","cmd":"x","cpus":0.1,"mem":16,
             "healthChecks":[{"protocol":"TCP"},{"protocol":"HTTP","path":"/h"}]})");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, "add_health_check_event");
  EXPECT_EQ(seen[0].second["appId"], "/hc");
  EXPECT_EQ(seen[0].second["version"], bodyJson(get("/v2/apps/hc"))["app"]["version"]);
  EXPECT_EQ(seen[1].second["healthCheck"]["path"], "/h");
  seen.clear();
  // One check goes: it is removed, the new version adds the one it keeps.
  ASSERT_EQ(
      send("PUT", "/v2/apps/hc?force=true", R"({"healthChecks":[{"protocol":"TCP"}]})").status,
      200);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, "remove_health_check_event");
  EXPECT_EQ(seen[0].second, Json({{"appId", "/hc"},
                                  {"eventType", "remove_health_check_event"},
                                  {"timestamp", seen[0].second["timestamp"]}}));
  EXPECT_EQ(seen[1].first, "add_health_check_event");
  EXPECT_EQ(seen[1].second["healthCheck"]["protocol"], "TCP");
  seen.clear();
  ASSERT_EQ(send("DELETE", "/v2/apps/hc?force=true", "").status, 200);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].first, "remove_health_check_event");
  bus_.unsubscribe(token);
  // An app without checks announces none.
  seen.clear();
  token = bus_.subscribe([&](const events::StoredEvent& e) {
    if (e.type == "add_health_check_event") seen.emplace_back(e.type, Json());
  });
  create(R"({"id":"/plain","cmd":"x","cpus":0.1,"mem":16})");
  bus_.unsubscribe(token);
  EXPECT_TRUE(seen.empty());
}

TEST_F(V2ApiTest, PodsAndCallbackSubscriptionsAreRefusedByName) {
  auto pods = get("/v2/pods");
  EXPECT_EQ(pods.status, 404);
  EXPECT_NE(pods.body.find("pods are not supported"), std::string::npos) << pods.body;
  EXPECT_EQ(send("POST", "/v2/pods/x", "{}").status, 404);
  EXPECT_NE(get("/v2/podsx").body.find("Not found"), std::string::npos);
  auto sub = send("POST", "/v2/eventSubscriptions?callbackUrl=http://127.0.0.1:1/", "");
  EXPECT_EQ(sub.status, 404);
  EXPECT_NE(sub.body.find("/v2/events"), std::string::npos) << sub.body;
  EXPECT_EQ(bodyJson(get("/v2/eventSubscriptions"))["callbackUrls"], Json::array());
}

TEST_F(V2ApiTest, DeleteThenGone) {
  create(R"({"id":"/gone","cmd":"x","cpus":0.1,"mem":16})");
  auto d = send("DELETE", "/v2/apps/gone?force=true", "");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_FALSE(bodyJson(d).value("deploymentId", "").empty());
  EXPECT_EQ(get("/v2/apps/gone").status, 404);
  EXPECT_EQ(send("DELETE", "/v2/apps/gone", "").status, 404);
}

TEST_F(V2ApiTest, PersistenceFailureIs503AndChangesNothing) {
  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto r = send("POST", "/v2/apps", R"({"id":"/p","cmd":"x","cpus":0.1,"mem":16})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_TRUE(bodyJson(r).contains("message"));
  EXPECT_EQ(bodyJson(get("/v2/apps"))["apps"].size(), 0u);
  EXPECT_EQ(bodyJson(get("/v2/deployments")).size(), 0u);
}

double apiRequests(const std::string& method, int code) {
  return metrics::global()
      .counter("corral_api_requests_total", "v2 API requests by method and status.",
               "method=\"" + method + "\",code=\"" + std::to_string(code) + "\"")
      .value();
}

TEST_F(V2ApiTest, EveryAnswerIsCountedByMethodAndStatus) {
  double ok = apiRequests("GET", 200), missing = apiRequests("GET", 404);
  double created = apiRequests("POST", 201), refused = apiRequests("GET", 406);
  EXPECT_EQ(get("/v2/apps").status, 200);
  EXPECT_EQ(get("/ping").status, 200);
  EXPECT_EQ(get("/v2/nothing").status, 404);
  EXPECT_EQ(send("POST", "/v2/apps", R"({"id":"/c","cmd":"x","cpus":0.1,"mem":16})").status, 201);
  EXPECT_EQ(get("/v2/events").status, 406);
  EXPECT_EQ(apiRequests("GET", 200), ok + 2);
  EXPECT_EQ(apiRequests("GET", 404), missing + 1);
  EXPECT_EQ(apiRequests("POST", 201), created + 1);
  EXPECT_EQ(apiRequests("GET", 406), refused + 1);
}

TEST_F(V2ApiTest, RoutesMatchWholePathSegments) {
  create(R"({"id":"/q","cmd":"x","cpus":0.1,"mem":16})");
  EXPECT_EQ(get("/v2/queueX").status, 404);
  EXPECT_EQ(get("/v2/appsX").status, 404);
  EXPECT_EQ(get("/v2/deploymentsX").status, 404);
  EXPECT_EQ(get("/v2/queue").status, 200);
  EXPECT_EQ(get("/v2/deployments/").status, 200);
  EXPECT_EQ(get("/v2/apps/").status, 200);
  EXPECT_EQ(send("DELETE", "/v2/queue/q/delay", "").status, 204);
  EXPECT_EQ(send("DELETE", "/v2/queue/nope/delay", "").status, 404);
  EXPECT_EQ(send("DELETE", "/v2/queue/delay", "").status, 405);
  EXPECT_EQ(get("/v1/tasks/nope/agent").status, 404);
  EXPECT_EQ(get("/v1/tasks/agent").status, 404);
  EXPECT_EQ(get("/v1/tasks").status, 404);
}

TEST_F(V2ApiTest, MalformedLabelSelectorIs422) {
  create(R"({"id":"/web","cmd":"x","cpus":0.1,"mem":16,"labels":{"env":"prod"}})");
  for (const char* bad : {"env=prod", "env%20in%20prod", "env==", "env%20in%20(a"}) {
    auto r = get(std::string("/v2/apps?label=") + bad);
    EXPECT_EQ(r.status, 422) << bad << ": " << r.body;
    EXPECT_NE(bodyJson(r).value("message", "").find("label selector"), std::string::npos);
  }
}

TEST_F(V2ApiTest, TasksAsTextInMarathonsFormat) {
  withAgent();
  create(R"({"id":"/probe/web","cmd":"x","instances":1,"cpus":0.1,"mem":16,
             "portDefinitions":[{"port":10005}]})");
  create(R"({"id":"/worker","cmd":"x","instances":1,"cpus":0.1,"mem":16,"portDefinitions":[]})");
  ASSERT_TRUE(loop_.runUntil([&] { return launched_.size() == 2; }, 5000));
  for (const auto& t : launched_) taskStatus(t, "TASK_RUNNING");
  Json tasks = bodyJson(get("/v2/tasks"))["tasks"];
  int hostPort = 0;
  for (const auto& t : tasks) {
    if (t["appId"] == "/probe/web") hostPort = t["ports"][0];
  }
  ASSERT_NE(hostPort, 0) << tasks.dump();
  std::string webLine = "probe_web\t10005\t127.0.0.1:" + std::to_string(hostPort) + "\t\n";
  auto text = fetchSync(loop_, port_, "GET", "/v2/tasks", "", {{"Accept", "text/plain"}});
  EXPECT_EQ(text.status, 200);
  EXPECT_NE(text.body.find(webLine), std::string::npos) << text.body;
  EXPECT_NE(text.body.find("worker\t \t127.0.0.1\t\n"), std::string::npos) << text.body;
  auto one =
      fetchSync(loop_, port_, "GET", "/v2/apps/probe/web/tasks", "", {{"Accept", "text/plain"}});
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(one.body, webLine);
}

TEST_F(V2ApiTest, UnknownStatusFilterIs400) {
  auto r = get("/v2/tasks?status=runnin");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(bodyJson(r).value("message", "").find("runnin"), std::string::npos);
  EXPECT_EQ(get("/v2/tasks?status=running").status, 200);
  EXPECT_EQ(get("/v2/tasks?status=TASK_KILLED").status, 200);
}

TEST_F(V2ApiTest, ScaleWithWipeIs400) {
  withAgent();
  create(R"({"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":16})");
  ASSERT_TRUE(loop_.runUntil([&] { return launched_.size() == 1; }, 5000));
  EXPECT_EQ(send("DELETE", "/v2/apps/web/tasks?scale=true&wipe=true", "").status, 400);
  EXPECT_EQ(
      send("DELETE", "/v2/apps/web/tasks/" + launched_[0] + "?scale=true&wipe=true", "").status,
      400);
  Json ids{{"ids", Json::array({launched_[0]})}};
  EXPECT_EQ(send("POST", "/v2/tasks/delete?scale=true&wipe=true", dumpJson(ids)).status, 400);
  EXPECT_TRUE(killed_.empty()) << "nothing was killed";
  EXPECT_EQ(bodyJson(get("/v2/apps/web"))["app"]["instances"], 1);
}

TEST_F(V2ApiTest, QueueDelayResetNeedsSomethingQueued) {
  withAgent("cpus:1;mem:512;ports:[31000-31009]");
  create(R"({"id":"/web","cmd":"x","instances":1,"cpus":0.1,"mem":16})");
  create(R"({"id":"/huge","cmd":"x","instances":1,"cpus":2,"mem":16})");
  ASSERT_TRUE(loop_.runUntil([&] { return launched_.size() == 1; }, 5000));
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        Json q = bodyJson(get("/v2/queue"))["queue"];
        return q.size() == 1 && q[0]["app"]["id"] == "/huge";
      },
      5000));
  auto r = send("DELETE", "/v2/queue/web/delay", "");
  EXPECT_EQ(r.status, 404) << "/web is fully launched: " << r.body;
  EXPECT_EQ(send("DELETE", "/v2/queue/nope/delay", "").status, 404);
  EXPECT_EQ(send("DELETE", "/v2/queue/huge/delay", "").status, 204);
  EXPECT_EQ(send("DELETE", "/v2/queue//huge/delay", "").status, 204) << "as clients write it";
}

TEST_F(V2ApiTest, DeleteLeaderIsRefusedWithOneMaster) {
  auto r = send("DELETE", "/v2/leader", "");
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(bodyJson(r).value("message", "").find("only one"), std::string::npos) << r.body;
  EXPECT_EQ(bodyJson(get("/v2/leader"))["leader"], "127.0.0.1:8080") << "still the leader";
}

TEST_F(V2ApiTest, InfoHasMarathonsSchemaFieldsAndTheServedPort) {
  api_->setAdvertisedAddress("127.0.0.1:" + std::to_string(port_));
  Json info = bodyJson(get("/v2/info"));
  EXPECT_EQ(info["http_config"]["http_port"], port_);
  EXPECT_EQ(info["http_config"]["https_port"], 0) << "Marathon's schema requires it; no https";
  EXPECT_EQ(info["leader"], "127.0.0.1:" + std::to_string(port_));
  const Json& mc = info["marathon_config"];
  EXPECT_TRUE(mc["features"].is_array());
  EXPECT_TRUE(mc["task_lost_expunge_initial_delay"].is_number());
  EXPECT_TRUE(mc["task_lost_expunge_interval"].is_number());
  EXPECT_TRUE(mc["mesos_role"].is_string()) << "Marathon omits nothing here: no null";
  for (const char* k :
       {"zk", "zk_timeout", "zk_session_timeout", "zk_connection_timeout", "zk_max_versions",
        "zk_compression", "zk_compression_threshold", "zk_max_node_size"}) {
    EXPECT_TRUE(info["zookeeper_config"].contains(k)) << k;
  }
}

TEST_F(V2ApiTest, MetricsAreMarathonJsonForClientsAndTextForScrapers) {
  EXPECT_EQ(get("/ping").status, 200);
  auto j = fetchSync(loop_, port_, "GET", "/metrics", "", {{"Accept", "application/json"}});
  EXPECT_EQ(j.status, 200);
  Json m = bodyJson(j);
  for (const char* k : {"version", "gauges", "counters", "histograms", "meters", "timers"}) {
    EXPECT_TRUE(m.contains(k)) << k;
  }
  EXPECT_TRUE(m["counters"].contains("corral_api_requests_total{method=\"GET\",code=\"200\"}"))
      << j.body;
  EXPECT_TRUE(m["histograms"].contains("corral_api_request_seconds")) << j.body;
  for (auto [target, accept] : std::vector<std::pair<std::string, std::string>>{
           {"/metrics", "text/plain;version=0.0.4"},
           {"/metrics?format=prometheus", "application/json"},
           {"/metrics/prometheus", "*/*"}}) {
    auto t = fetchSync(loop_, port_, "GET", target, "", {{"Accept", accept}});
    EXPECT_EQ(t.status, 200) << target;
    EXPECT_NE(t.body.find("# TYPE corral_api_requests_total counter"), std::string::npos)
        << target << ": " << t.body.substr(0, 200);
  }
}

TEST_F(V2ApiTest, ApiPostEventNamesTheCaller) {
  std::vector<Json> posts;
  uint64_t token = bus_.subscribe([&](const events::StoredEvent& e) {
    if (e.type == "api_post_event") posts.push_back(*parseJson(e.data));
  });
  create(R"({"id":"/web","cmd":"x","cpus":0.1,"mem":16})");
  bus_.unsubscribe(token);
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0]["clientIp"], "127.0.0.1");
}

TEST_F(V2ApiTest, DeploymentEventsCarryMarathonsPlan) {
  std::vector<Json> infos;
  uint64_t token = bus_.subscribe([&](const events::StoredEvent& e) {
    if (e.type == "deployment_info") infos.push_back(*parseJson(e.data));
  });
  create(R"({"id":"/web","cmd":"x","cpus":0.1,"mem":16})");
  bus_.unsubscribe(token);
  ASSERT_EQ(infos.size(), 1u);
  const Json& plan = infos[0]["plan"];
  EXPECT_FALSE(plan.contains("affectedApps")) << plan.dump();
  EXPECT_FALSE(plan.contains("currentActions")) << plan.dump();
  EXPECT_EQ(plan["steps"][0]["actions"][0]["app"], "/web");
  EXPECT_EQ(plan["target"]["apps"][0]["id"], "/web");
}

TEST_F(V2ApiTest, InfoLeaderPing) {
  EXPECT_EQ(get("/ping").status, 200);
  Json info = bodyJson(get("/v2/info"));
  EXPECT_EQ(info["name"], "marathon");
  EXPECT_EQ(info["frameworkId"], "fw-1");
  EXPECT_EQ(bodyJson(get("/v2/leader"))["leader"], "127.0.0.1:8080");
  EXPECT_EQ(get("/v2/events").status, 406);
}

}  // namespace
}  // namespace corral::api

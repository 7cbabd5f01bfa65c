// The master's agent protocol and allocator, over real HTTP on 127.0.0.1 port 0:
// a fake agent server records /internal/launch and /internal/kill, a fake
// scheduler records offers and status updates.
#include "core_cluster/master/master.h"

#include <gtest/gtest.h>

#include <memory>

#include "base/metrics.h"
#include "core_cluster/state/in_memory_state_store.h"
#include "tests/core_cluster/cluster_test_util.h"

namespace corral::master {
namespace {

using corral::testing::bodyJson;
using corral::testing::drain;
using corral::testing::fetchSync;

class FakeScheduler : public Scheduler {
 public:
  struct Update {
    std::string taskId, prevState, state;
    std::optional<bool> healthy;
    conf::TaskReason reason = conf::TaskReason::kNone;
  };
  std::string name() const override { return "marathon"; }
  void registered(SchedulerDriver* d) override { driver = d; }
  void resourceOffers(const std::vector<Offer>& o) override {
    offers.insert(offers.end(), o.begin(), o.end());
  }
  void offerRescinded(const std::string& id) override { rescinded.push_back(id); }
  void statusUpdate(const TaskRecord& t, conf::TaskState prev, std::optional<bool>) override {
    updates.push_back({t.id, std::string(conf::toString(prev)),
                       std::string(conf::toString(t.state)), t.healthy, t.reason});
  }
  std::vector<std::string> statesOf(const std::string& taskId) const {
    std::vector<std::string> out;
    for (const auto& u : updates) {
      if (u.taskId == taskId) out.push_back(u.state);
    }
    return out;
  }

  SchedulerDriver* driver = nullptr;
  std::vector<Offer> offers;
  size_t seen = 0;  // offers the test has taken with waitOffer()
  std::vector<std::string> rescinded;
  std::vector<Update> updates;
};

class MasterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    agentServer_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          auto body = parseJson(req.body);
          if (req.path == "/internal/launch") launches_.push_back(body.ok() ? *body : Json());
          if (req.path == "/internal/kill") kills_.push_back(body.ok() ? *body : Json());
          ex->respond(http::Response::json(agentStatus_, "{}"));
        });
    auto ap = agentServer_->listen("127.0.0.1", 0);
    ASSERT_TRUE(ap.ok());
    agentPort_ = *ap;
  }

  void startMaster(MasterOptions options = {}, const state::StateMap* recoverFrom = nullptr) {
    options.allocationIntervalMs = 10;
    master_ = std::make_unique<Master>(loop_, store_, options);
    if (recoverFrom) {
      ASSERT_TRUE(master_->recover(*recoverFrom).ok());
    }
    master_->addScheduler(&sched_);
    ASSERT_EQ(sched_.driver, master_.get());
    server_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          if (!master_->handleInternal(req, ex)) {
            ex->respond(http::Response::json(404, R"({"message":"not internal"})"));
          }
        });
    auto p = server_->listen("127.0.0.1", 0);
    ASSERT_TRUE(p.ok());
    port_ = *p;
    master_->start();
  }

  http::Response post(const std::string& path, const Json& body) {
    return fetchSync(loop_, port_, "POST", path, dumpJson(body));
  }

  Json registration(const std::string& resources = "cpus:4;mem:4096;disk:1000;ports:[31000-31009]",
                    const std::string& attributes = "rack:a;zone:z1") {
    Json j;
    j["hostname"] = "127.0.0.1";
    j["port"] = agentPort_;
    j["resources"] = resources;
    j["attributes"] = attributes;
    return j;
  }

  std::string registerAgent(Json body = Json()) {
    if (body.is_null()) body = registration();
    auto r = post("/internal/agents/register", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return bodyJson(r).value("agentId", "");
  }

  // The next offer the test has not looked at yet (it may have arrived already).
  Offer waitOffer() {
    EXPECT_TRUE(loop_.runUntil([&] { return sched_.offers.size() > sched_.seen; }, 3000));
    if (sched_.offers.size() <= sched_.seen) return Offer{};
    return sched_.offers[sched_.seen++];
  }

  TaskLaunchSpec spec(const std::string& id, std::vector<int> ports, double cpus = 1,
                      double mem = 512) {
    TaskLaunchSpec s;
    s.taskId = id;
    s.appId = "/web";
    s.version = "2024-01-01T00:00:00.000Z";
    s.cpus = cpus;
    s.mem = mem;
    s.ports = std::move(ports);
    s.launch = Json{{"cmd", "sleep 1000"}};
    return s;
  }

  // Registers an agent, takes its first offer and launches the given task ids on it.
  std::string agentWithTasks(const std::vector<std::string>& ids) {
    std::string agentId = registerAgent();
    Offer o = waitOffer();
    std::vector<TaskLaunchSpec> specs;
    int port = 31000;
    for (const auto& id : ids) specs.push_back(spec(id, {port++}, 0.5, 128));
    auto r = master_->acceptOffer(o.id, specs);
    EXPECT_TRUE(r.ok() && *r);
    EXPECT_TRUE(loop_.runUntil([&] { return !launches_.empty(); }, 3000));
    return agentId;
  }

  http::Response status(const std::string& taskId, const std::string& state,
                        const std::string& agentId = "", Json extra = Json::object()) {
    Json j = extra;
    j["taskId"] = taskId;
    j["state"] = state;
    if (!agentId.empty()) j["agentId"] = agentId;
    return post("/internal/status", j);
  }

  std::string storedState(const std::string& taskId) {
    auto snap = store_.snapshot();
    auto it = snap.find("/tasks/" + taskId);
    return it == snap.end() ? "<none>" : it->second.value("state", "");
  }

  Loop loop_;
  state::InMemoryStateStore store_;
  FakeScheduler sched_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<http::Server> server_;
  std::unique_ptr<http::Server> agentServer_;
  int port_ = 0;
  int agentPort_ = 0;
  int agentStatus_ = 200;
  std::vector<Json> launches_;
  std::vector<Json> kills_;
};

TEST_F(MasterTest, RegistersAgentWithMesosResourcesAndAttributes) {
  startMaster();
  auto r = post("/internal/agents/register", registration());
  ASSERT_EQ(r.status, 200) << r.body;
  Json j = bodyJson(r);
  std::string id = j["agentId"];
  EXPECT_FALSE(id.empty());
  EXPECT_FALSE(j.value("masterEpoch", "").empty());
  EXPECT_EQ(j["kill"], Json::array());
  const AgentRecord* a = master_->agent(id);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->status, AgentStatus::kActive);
  EXPECT_DOUBLE_EQ(a->total.cpus(), 4);
  EXPECT_DOUBLE_EQ(a->total.mem(), 4096);
  EXPECT_EQ(a->total.ports().size(), 10u);
  EXPECT_EQ(a->attributes.at("rack").text, "a");
  EXPECT_EQ(master_->activeAgentCount(), 1u);
  EXPECT_TRUE(store_.snapshot().count("/agents/" + id));
  // A second agent gets another id.
  EXPECT_NE(registerAgent(), id);
}

TEST_F(MasterTest, BadRegistrationsAreRejectedPrecisely) {
  startMaster();
  // Resources and attributes the parsers refuse are invalid (422); a body
  // that is not a registration at all is a bad request (400).
  auto r = post("/internal/agents/register", registration("cpus:4;mem"));
  EXPECT_EQ(r.status, 422);
  std::string msg = bodyJson(r).value("message", "");
  EXPECT_NE(msg.find("position"), std::string::npos) << msg;
  r = post("/internal/agents/register", registration("cpus:4;ports:[5-x]"));
  EXPECT_EQ(r.status, 422) << r.body;
  r = post("/internal/agents/register", registration("cpus:4", "rack:a;rack:b"));
  EXPECT_EQ(r.status, 422) << r.body;
  Json noHost = registration();
  noHost.erase("hostname");
  EXPECT_EQ(post("/internal/agents/register", noHost).status, 400);
  EXPECT_EQ(fetchSync(loop_, port_, "POST", "/internal/agents/register", "{not json").status, 400);
  EXPECT_EQ(fetchSync(loop_, port_, "GET", "/internal/agents/register").status, 405);
  EXPECT_EQ(post("/internal/nope", Json::object()).status, 404);
  EXPECT_EQ(master_->agents().size(), 0u);
}

TEST_F(MasterTest, OffersAreFreeResourcesMinusRunningTasks) {
  startMaster();
  std::string agentId = registerAgent();
  Offer o = waitOffer();
  EXPECT_EQ(o.agentId, agentId);
  EXPECT_EQ(o.hostname, "127.0.0.1");
  EXPECT_DOUBLE_EQ(o.resources.cpus(), 4);
  EXPECT_DOUBLE_EQ(o.resources.mem(), 4096);
  EXPECT_EQ(o.resources.ports().toString(), "[31000-31009]");
  EXPECT_EQ(o.attributes.at("zone").text, "z1");

  auto r = master_->acceptOffer(o.id, {spec("t1", {31000, 31003}, 1.5, 1000)});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(*r);
  ASSERT_TRUE(loop_.runUntil([&] { return !launches_.empty(); }, 3000));
  const Json& launched = launches_[0]["tasks"][0];
  EXPECT_EQ(launched["taskId"], "t1");
  EXPECT_EQ(launched["ports"], Json::array({31000, 31003}));
  EXPECT_EQ(launched["hostIp"], "127.0.0.1");
  EXPECT_EQ(launched["appId"], "/web");
  EXPECT_EQ(launched["cmd"], "sleep 1000");
  // Durable before acceptOffer returned.
  EXPECT_EQ(storedState("t1"), "TASK_STAGING");

  Offer next = waitOffer();
  EXPECT_NE(next.id, o.id);
  EXPECT_DOUBLE_EQ(next.resources.cpus(), 2.5);
  EXPECT_DOUBLE_EQ(next.resources.mem(), 3096);
  EXPECT_EQ(next.resources.ports().toString(), "[31001-31002,31004-31009]");
  // Nothing is offered twice while an offer is outstanding.
  size_t count = sched_.offers.size();
  loop_.runUntil([] { return false; }, 60);
  EXPECT_EQ(sched_.offers.size(), count);

  // When the task ends its resources come back.
  master_->declineOffer(next.id, 0);
  ASSERT_EQ(status("t1", "TASK_FINISHED", agentId).status, 200);
  // (An offer made before the status arrived may come first: decline it.)
  Offer after = waitOffer();
  for (int i = 0; i < 5 && after.resources.cpus() < 4; ++i) {
    master_->declineOffer(after.id, 0);
    after = waitOffer();
  }
  EXPECT_DOUBLE_EQ(after.resources.cpus(), 4);
  EXPECT_EQ(after.resources.ports().toString(), "[31000-31009]");
}

TEST_F(MasterTest, DeclineFiltersTheAgentUntilRevive) {
  startMaster();
  registerAgent();
  Offer o = waitOffer();
  master_->declineOffer(o.id, 60);
  size_t count = sched_.offers.size();
  loop_.runUntil([] { return false; }, 80);
  EXPECT_EQ(sched_.offers.size(), count);
  master_->reviveOffers();
  waitOffer();
}

TEST_F(MasterTest, ADrainingAgentGetsNoMoreOffersUntilItReRegisters) {
  startMaster();
  std::string id = registerAgent();
  Offer o = waitOffer();
  ASSERT_EQ(post("/internal/agents/" + id + "/drain", Json::object()).status, 200);
  // Its outstanding offer is rescinded; no new one comes while it drains.
  EXPECT_FALSE(master_->acceptOffer(o.id, {}).value());
  size_t count = sched_.offers.size();
  loop_.runUntil([] { return false; }, 150);
  EXPECT_EQ(sched_.offers.size(), count);
  EXPECT_EQ(post("/internal/agents/nope/drain", Json::object()).status, 404);
  Json again = registration();
  again["agentId"] = id;
  ASSERT_EQ(post("/internal/agents/register", again).status, 200);
  waitOffer();
}

TEST_F(MasterTest, AcceptValidatesFit) {
  startMaster();
  registerAgent();
  Offer o = waitOffer();
  auto bad = master_->acceptOffer(o.id, {spec("t1", {40000})});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("40000"), std::string::npos) << bad.error().message;
  EXPECT_EQ(master_->task("t1"), nullptr);

  o = waitOffer();
  auto twice = master_->acceptOffer(o.id, {spec("t1", {31000}), spec("t2", {31000})});
  EXPECT_FALSE(twice.ok()) << "one port for two tasks";

  o = waitOffer();
  auto tooBig = master_->acceptOffer(o.id, {spec("t1", {31000}, 3), spec("t2", {31001}, 3)});
  EXPECT_FALSE(tooBig.ok());
  EXPECT_TRUE(master_->tasks().empty());

  auto gone = master_->acceptOffer("O-unknown", {spec("t3", {31000})});
  ASSERT_TRUE(gone.ok());
  EXPECT_FALSE(*gone);
  loop_.runUntil([] { return false; }, 30);
  EXPECT_TRUE(launches_.empty());
  for (const auto& [key, value] : store_.snapshot()) EXPECT_NE(key.rfind("/tasks/", 0), 0u) << key;
}

TEST_F(MasterTest, LaunchThatTheAgentRefusesIsDropped) {
  startMaster();
  agentStatus_ = 500;
  std::string agentId = registerAgent();
  Offer o = waitOffer();
  ASSERT_TRUE(master_->acceptOffer(o.id, {spec("t1", {31000})}).ok());
  ASSERT_TRUE(loop_.runUntil(
      [&] {
        return master_->task("t1") && master_->task("t1")->state == conf::TaskState::kDropped;
      },
      3000));
  EXPECT_EQ(sched_.statesOf("t1"), (std::vector<std::string>{"TASK_DROPPED"}));
  EXPECT_EQ(storedState("t1"), "TASK_DROPPED");
}

TEST_F(MasterTest, StatusIsPersistedBeforeAckAndFailureMeansNoAck) {
  startMaster();
  std::string agentId = agentWithTasks({"t1"});
  auto r = status("t1", "TASK_RUNNING", agentId, Json{{"healthy", true}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(bodyJson(r)["ack"], true);
  EXPECT_EQ(storedState("t1"), "TASK_RUNNING");
  EXPECT_EQ(store_.snapshot()["/tasks/t1"]["healthy"], true);
  ASSERT_EQ(sched_.updates.size(), 1u);
  EXPECT_EQ(sched_.updates[0].prevState, "TASK_STAGING");
  EXPECT_EQ(sched_.updates[0].state, "TASK_RUNNING");

  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  r = status("t1", "TASK_FAILED", agentId, Json{{"message", "exit 1"}, {"healthy", false}});
  EXPECT_EQ(r.status, 503);
  EXPECT_FALSE(bodyJson(r).contains("ack"));
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kRunning);
  EXPECT_EQ(master_->task("t1")->healthy, true);
  EXPECT_EQ(master_->task("t1")->message, "") << "memory is rolled back entirely";
  EXPECT_EQ(master_->task("t1")->consecutiveFailures, 0);
  EXPECT_EQ(storedState("t1"), "TASK_RUNNING");
  EXPECT_EQ(sched_.updates.size(), 1u) << "the scheduler hears only durable changes";

  // The agent retries: now it sticks.
  r = status("t1", "TASK_FAILED", agentId, Json{{"message", "exit 1"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(storedState("t1"), "TASK_FAILED");
  EXPECT_EQ(sched_.statesOf("t1"), (std::vector<std::string>{"TASK_RUNNING", "TASK_FAILED"}));
}

TEST_F(MasterTest, DuplicateOrLateStatusAfterTerminalIsIgnored) {
  startMaster();
  std::string agentId = agentWithTasks({"t1"});
  ASSERT_EQ(status("t1", "TASK_RUNNING", agentId).status, 200);
  ASSERT_EQ(status("t1", "TASK_FAILED", agentId, Json{{"reason", "REASON_COMMAND_EXECUTOR_FAILED"}})
                .status,
            200);
  size_t commits = store_.commitCount();
  // A late RUNNING does not resurrect it; a duplicate FAILED (the ack was lost) is not news.
  auto r = status("t1", "TASK_RUNNING", agentId);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(bodyJson(r)["ack"], true);
  r = status("t1", "TASK_FAILED", agentId, Json{{"reason", "REASON_COMMAND_EXECUTOR_FAILED"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kFailed);
  EXPECT_EQ(sched_.statesOf("t1"), (std::vector<std::string>{"TASK_RUNNING", "TASK_FAILED"}));
  EXPECT_EQ(store_.commitCount(), commits);
}

TEST_F(MasterTest, ReasonIsKeptOnTheRecordAndPersisted) {
  startMaster();
  std::string agentId = agentWithTasks({"t1", "t2"});
  ASSERT_EQ(status("t1", "TASK_RUNNING", agentId).status, 200);
  auto r = status("t1", "TASK_KILLED", agentId,
                  Json{{"reason", "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"}, {"message", "bye"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(master_->task("t1")->reason, conf::TaskReason::kTaskHealthCheckStatusUpdated);
  EXPECT_EQ(store_.snapshot()["/tasks/t1"]["reason"], "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED");
  ASSERT_FALSE(sched_.updates.empty());
  EXPECT_EQ(sched_.updates.back().reason, conf::TaskReason::kTaskHealthCheckStatusUpdated);
  // An agent of the previous release says UNHEALTHY_KILL: the same reason.
  ASSERT_EQ(status("t2", "TASK_KILLING", agentId, Json{{"reason", "UNHEALTHY_KILL"}}).status, 200);
  EXPECT_EQ(master_->task("t2")->reason, conf::TaskReason::kTaskHealthCheckStatusUpdated);
  // A reason Mesos may add later is kept as unknown, not refused.
  ASSERT_EQ(status("t2", "TASK_KILLED", agentId, Json{{"reason", "REASON_FROM_THE_FUTURE"}}).status,
            200);
  EXPECT_EQ(master_->task("t2")->reason, conf::TaskReason::kUnknown);
}

TEST_F(MasterTest, StatusWithAnUnknownStateIsRefusedByName) {
  startMaster();
  std::string agentId = agentWithTasks({"t1"});
  auto r = status("t1", "TASK_NAPPING", agentId);
  EXPECT_EQ(r.status, 400);  // a malformed master<->agent message (core_cluster/wire)
  EXPECT_NE(r.body.find("TASK_NAPPING"), std::string::npos) << r.body;
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kStaging);
  EXPECT_TRUE(sched_.updates.empty());
}

TEST_F(MasterTest, StatusOfUnknownTaskIsAckedWithKill) {
  startMaster();
  std::string agentId = registerAgent();
  auto r = status("ghost", "TASK_RUNNING", agentId);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(bodyJson(r)["ack"], true);
  EXPECT_EQ(bodyJson(r)["kill"], Json::array({"ghost"}));
  r = status("ghost", "TASK_KILLED", agentId);
  EXPECT_EQ(bodyJson(r)["ack"], true);
  EXPECT_EQ(bodyJson(r)["kill"], Json::array());
  EXPECT_EQ(status("", "TASK_RUNNING").status, 200) << "an empty id is just unknown";
  EXPECT_EQ(post("/internal/status", Json{{"state", "TASK_RUNNING"}}).status, 400);
  EXPECT_TRUE(sched_.updates.empty());
}

TEST_F(MasterTest, BatchedStatusesAreOneDurableUnit) {
  startMaster();
  std::string agentId = agentWithTasks({"t1", "t2"});
  Json batch;
  batch["agentId"] = agentId;
  batch["updates"] = Json::array({Json{{"taskId", "t1"}, {"state", "TASK_RUNNING"}},
                                  Json{{"taskId", "t2"}, {"state", "TASK_FAILED"}},
                                  Json{{"taskId", "ghost"}, {"state", "TASK_RUNNING"}}});
  store_.failNextCommit(makeError(ErrorKind::kUnavailable, "disk full"));
  auto r = post("/internal/status", batch);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kStaging);
  EXPECT_EQ(master_->task("t2")->state, conf::TaskState::kStaging);
  EXPECT_TRUE(sched_.updates.empty());
  uint64_t commits = store_.commitCount();
  r = post("/internal/status", batch);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(bodyJson(r)["kill"], Json::array({"ghost"}));
  EXPECT_EQ(store_.commitCount(), commits + 1);
  EXPECT_EQ(storedState("t1"), "TASK_RUNNING");
  EXPECT_EQ(storedState("t2"), "TASK_FAILED");
  EXPECT_EQ(sched_.updates.size(), 2u);
  Json bad = batch;
  bad["updates"].push_back(Json{{"taskId", "t1"}});
  EXPECT_EQ(post("/internal/status", bad).status, 400);
}

TEST_F(MasterTest, KillIsSentToTheAgent) {
  startMaster();
  agentWithTasks({"t1"});
  master_->killTask("t1", 3.0);
  ASSERT_TRUE(loop_.runUntil([&] { return !kills_.empty(); }, 3000));
  EXPECT_EQ(kills_[0]["taskId"], "t1");
  EXPECT_EQ(kills_[0]["gracePeriodSeconds"], 3.0);
  EXPECT_TRUE(master_->task("t1")->killRequested);
}

TEST_F(MasterTest, HeartbeatTimeoutMakesTasksUnreachableAndRescindsOffers) {
  MasterOptions o;
  o.agentPingTimeoutMs = 500;
  o.livenessCheckMs = 20;
  startMaster(o);
  std::string agentId = agentWithTasks({"t1", "t2"});
  ASSERT_EQ(status("t1", "TASK_RUNNING", agentId).status, 200);
  Offer outstanding = waitOffer();
  // Heartbeats keep it alive.
  for (int i = 0; i < 3; ++i) {
    auto hb = post("/internal/agents/" + agentId + "/heartbeat", Json::object());
    ASSERT_EQ(hb.status, 200) << hb.body;
    loop_.runUntil([] { return false; }, 100);
  }
  EXPECT_EQ(master_->agent(agentId)->status, AgentStatus::kActive);
  // Then silence.
  ASSERT_TRUE(loop_.runUntil(
      [&] { return master_->agent(agentId)->status == AgentStatus::kUnreachable; }, 3000));
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kUnreachable);
  EXPECT_EQ(master_->task("t2")->state, conf::TaskState::kUnreachable);
  EXPECT_EQ(storedState("t1"), "TASK_UNREACHABLE");
  EXPECT_EQ(sched_.statesOf("t1"), (std::vector<std::string>{"TASK_RUNNING", "TASK_UNREACHABLE"}));
  EXPECT_EQ(std::count(sched_.rescinded.begin(), sched_.rescinded.end(), outstanding.id), 1);
  EXPECT_EQ(master_->activeAgentCount(), 0u);
  // No offers for an unreachable agent.
  size_t count = sched_.offers.size();
  loop_.runUntil([] { return false; }, 60);
  EXPECT_EQ(sched_.offers.size(), count);
  // Its heartbeat is told to re-register.
  EXPECT_EQ(post("/internal/agents/" + agentId + "/heartbeat", Json::object()).status, 409);
  // Killing a task there cannot be delivered: it is KILLED at once.
  master_->killTask("t2", std::nullopt);
  EXPECT_EQ(master_->task("t2")->state, conf::TaskState::kKilled);

  // It comes back with t1 still running: t1 was given up (and may have been
  // replaced) so the agent is told to kill it.
  Json reg = registration();
  reg["agentId"] = agentId;
  reg["tasks"] = Json::array({Json{{"taskId", "t1"}, {"state", "TASK_RUNNING"}}});
  auto r = post("/internal/agents/register", reg);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(bodyJson(r)["agentId"], agentId);
  EXPECT_EQ(bodyJson(r)["kill"], Json::array({"t1"}));
  EXPECT_EQ(master_->agent(agentId)->status, AgentStatus::kActive);
  EXPECT_EQ(post("/internal/agents/" + agentId + "/heartbeat", Json::object()).status, 200);
}

TEST_F(MasterTest, UnreachableAgentIsRemovedAndItsTasksLost) {
  MasterOptions o;
  o.agentPingTimeoutMs = 300;
  o.agentRemovalTimeoutMs = 200;
  o.livenessCheckMs = 20;
  startMaster(o);
  std::string agentId = agentWithTasks({"t1"});
  ASSERT_TRUE(loop_.runUntil([&] { return master_->agent(agentId) == nullptr; }, 3000));
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kLost);
  EXPECT_EQ(sched_.statesOf("t1"), (std::vector<std::string>{"TASK_UNREACHABLE", "TASK_LOST"}));
  EXPECT_FALSE(store_.snapshot().count("/agents/" + agentId));
}

TEST_F(MasterTest, ReRegistrationReconcilesTasks) {
  startMaster();
  std::string agentId = agentWithTasks({"keep", "missing", "done"});
  ASSERT_EQ(status("done", "TASK_FINISHED", agentId).status, 200);
  Json reg = registration();
  reg["agentId"] = agentId;
  reg["tasks"] =
      Json::array({Json{{"taskId", "keep"}, {"state", "TASK_RUNNING"}, {"healthy", true}},
                   Json{{"taskId", "stranger"}, {"state", "TASK_RUNNING"}},
                   Json{{"taskId", "done"}, {"state", "TASK_RUNNING"}}});
  auto r = post("/internal/agents/register", reg);
  ASSERT_EQ(r.status, 200) << r.body;
  Json kill = bodyJson(r)["kill"];
  std::set<std::string> killSet;
  for (const auto& k : kill) killSet.insert(k.get<std::string>());
  EXPECT_EQ(killSet, (std::set<std::string>{"stranger", "done"}));
  EXPECT_EQ(master_->task("keep")->state, conf::TaskState::kRunning);
  EXPECT_EQ(master_->task("keep")->healthy, true);
  EXPECT_EQ(master_->task("missing")->state, conf::TaskState::kLost);
  EXPECT_EQ(storedState("missing"), "TASK_LOST");
  EXPECT_EQ(master_->task("done")->state, conf::TaskState::kFinished);
  EXPECT_EQ(sched_.statesOf("missing"), (std::vector<std::string>{"TASK_LOST"}));
}

TEST_F(MasterTest, RecoverMarksAgentsRecoveringUntilTheyReRegister) {
  state::StateMap saved;
  std::string agentId;
  {
    startMaster();
    agentId = agentWithTasks({"t1"});
    ASSERT_EQ(status("t1", "TASK_RUNNING", agentId).status, 200);
    saved = store_.snapshot();
    server_.reset();
    master_.reset();
  }
  sched_ = FakeScheduler();
  startMaster({}, &saved);
  const AgentRecord* a = master_->agent(agentId);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->status, AgentStatus::kRecovering);
  EXPECT_EQ(a->hostname, "127.0.0.1");
  EXPECT_DOUBLE_EQ(a->total.cpus(), 4);
  ASSERT_NE(master_->task("t1"), nullptr);
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kRunning);
  EXPECT_EQ(master_->task("t1")->ports, (std::vector<int>{31000}));
  EXPECT_EQ(master_->activeAgentCount(), 0u);
  // Not offered while recovering; heartbeats are told to re-register.
  loop_.runUntil([] { return false; }, 60);
  EXPECT_TRUE(sched_.offers.empty());
  EXPECT_EQ(post("/internal/agents/" + agentId + "/heartbeat", Json::object()).status, 409);

  Json reg = registration();
  reg["agentId"] = agentId;
  reg["tasks"] = Json::array({Json{{"taskId", "t1"}, {"state", "TASK_RUNNING"}}});
  auto r = post("/internal/agents/register", reg);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(bodyJson(r)["kill"], Json::array());
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kRunning);
  EXPECT_EQ(post("/internal/agents/" + agentId + "/heartbeat", Json::object()).status, 200);
  // Its free resources account for the recovered task.
  Offer o = waitOffer();
  EXPECT_DOUBLE_EQ(o.resources.cpus(), 3.5);
  EXPECT_FALSE(o.resources.ports().contains(31000));
  // A new agent does not reuse the recovered agent's sequence number.
  EXPECT_NE(registerAgent(), agentId);
}

TEST(RecordsTest, TaskAndAgentRoundTrip) {
  TaskRecord t;
  t.id = "web.1";
  t.framework = "marathon";
  t.appId = "/web";
  t.version = "v";
  t.agentId = "a";
  t.host = "127.0.0.2";
  t.ports = {31000, 31001};
  t.servicePorts = {10000};
  t.cpus = 0.5;
  t.mem = 64;
  t.state = conf::TaskState::kRunning;
  t.healthy = false;
  t.consecutiveFailures = 2;
  t.killRequested = true;
  t.launch = Json{{"cmd", "x"}};
  auto back = taskFromJson(taskToJson(t));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(taskToJson(*back), taskToJson(t));
  EXPECT_EQ(back->healthy, false);
  EXPECT_FALSE(taskFromJson(Json{{"state", "TASK_RUNNING"}}).ok()) << "id is required";
  EXPECT_FALSE(taskFromJson(Json{{"id", 5}}).ok());

  AgentRecord a;
  a.id = "S1";
  a.hostname = "127.0.0.2";
  a.port = 5052;
  a.total = *conf::parseResources("cpus:2;mem:100;ports:[1-5]");
  a.attributes = *conf::parseAttributes("rack:a");
  auto ab = agentFromJson(agentToJson(a));
  ASSERT_TRUE(ab.ok());
  EXPECT_EQ(ab->total, a.total);
  EXPECT_EQ(ab->attributes, a.attributes);
  EXPECT_EQ(ab->port, 5052);
  Json bad = agentToJson(a);
  bad["resources"] = "cpus:";
  EXPECT_FALSE(agentFromJson(bad).ok());
}

TEST(RecordsTest, TaskStateAndReasonArePersistedByTheirMesosNames) {
  TaskRecord t;
  t.id = "web.1";
  t.state = conf::TaskState::kKilled;
  t.reason = conf::TaskReason::kTaskHealthCheckStatusUpdated;
  Json j = taskToJson(t);
  EXPECT_EQ(j["state"], "TASK_KILLED");
  EXPECT_EQ(j["reason"], "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED");
  auto back = taskFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->state, conf::TaskState::kKilled);
  EXPECT_EQ(back->reason, conf::TaskReason::kTaskHealthCheckStatusUpdated);
  // A record without a reason (written before reasons were kept) has none.
  j.erase("reason");
  EXPECT_EQ(taskFromJson(j)->reason, conf::TaskReason::kNone);
  // A state we do not know is an error naming it, not a task in a made-up state.
  j["state"] = "TASK_NAPPING";
  auto bad = taskFromJson(j);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("TASK_NAPPING"), std::string::npos);
  EXPECT_EQ(toString(AgentStatus::kRecovering), "RECOVERING");
}

}  // namespace
}  // namespace corral::master

namespace corral::master {
namespace {

TEST_F(MasterTest, UpdatesCarriedByAReRegistrationAreAppliedBeforeReconciling) {
  startMaster();
  std::string agentId = agentWithTasks({"t1", "t2"});
  ASSERT_EQ(status("t1", "TASK_RUNNING", agentId).status, 200);
  ASSERT_EQ(status("t2", "TASK_RUNNING", agentId).status, 200);
  // The agent restarted: t1 had failed (an update it could not deliver), t2 is gone.
  Json body = registration();
  body["agentId"] = agentId;
  body["tasks"] = Json::array();
  body["updates"] = Json::array(
      {Json{{"taskId", "t1"}, {"state", "TASK_FAILED"}, {"message", "exited with status 3"}}});
  auto r = post("/internal/agents/register", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(master_->task("t1")->state, conf::TaskState::kFailed);
  EXPECT_EQ(master_->task("t1")->message, "exited with status 3");
  EXPECT_EQ(master_->task("t2")->state, conf::TaskState::kLost);
  EXPECT_EQ(storedState("t1"), "TASK_FAILED");
}

// With --credentials, only an agent with a listed credential registers; its
// calls carry it, and the master's calls to it carry the token it was given.
class MasterCredentialsTest : public MasterTest {
 protected:
  void SetUp() override {
    MasterTest::SetUp();
    agentServer_ = std::make_unique<http::Server>(
        loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
          auto body = parseJson(req.body);
          if (req.path == "/internal/launch") {
            launches_.push_back(body.ok() ? *body : Json());
            launchAuth_.emplace_back(req.header("Authorization").value_or(""));
          }
          ex->respond(http::Response::json(202, "{}"));
        });
    auto ap = agentServer_->listen("127.0.0.1", 0);
    ASSERT_TRUE(ap.ok());
    agentPort_ = *ap;
    MasterOptions o;
    o.agentCredentials = auth::CredentialSet({{"agent-a", "secret-a"}, {"agent-b", "secret-b"}});
    startMaster(o);
  }

  http::Response postAs(const std::string& path, const Json& body, const std::string& user,
                        const std::string& secret) {
    http::Headers h;
    if (!user.empty()) h.emplace_back("Authorization", auth::basicAuthorization(user, secret));
    return fetchSync(loop_, port_, "POST", path, dumpJson(body), h);
  }

  bool storedAgents() {
    for (const auto& [k, v] : store_.snapshot()) {
      if (k.rfind("/agents/", 0) == 0) return true;
    }
    return false;
  }

  std::vector<std::string> launchAuth_;
};

TEST_F(MasterCredentialsTest, AgentsWithoutTheCredentialCannotRegister) {
  EXPECT_EQ(postAs("/internal/agents/register", registration(), "", "").status, 401);
  EXPECT_EQ(postAs("/internal/agents/register", registration(), "agent-a", "wrong").status, 401);
  EXPECT_EQ(postAs("/internal/agents/register", registration(), "nobody", "secret-a").status, 401);
  loop_.runUntil([] { return false; }, 50);
  EXPECT_FALSE(storedAgents());
  EXPECT_EQ(master_->agents().size(), 0u);
  EXPECT_TRUE(sched_.offers.empty());
  EXPECT_EQ(
      postAs("/internal/status", Json{{"taskId", "t"}, {"state", "TASK_RUNNING"}}, "", "").status,
      401);
  std::string m = metrics::global().render();
  EXPECT_NE(m.find("corral_master_agent_auth_refusals_total{reason=\"unauthenticated\"}"),
            std::string::npos);
}

TEST_F(MasterCredentialsTest, AnAgentIsCommandedWithItsTokenAndOnlyItsPrincipalSpeaksForIt) {
  auto r = postAs("/internal/agents/register", registration(), "agent-a", "secret-a");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string agentId = bodyJson(r).value("agentId", "");
  std::string token = bodyJson(r).value("token", "");
  EXPECT_EQ(token.size(), 64u);
  EXPECT_TRUE(storedAgents());
  // Another valid principal cannot heartbeat, drain, report for or take over this agent.
  EXPECT_EQ(
      postAs("/internal/agents/" + agentId + "/heartbeat", Json::object(), "agent-b", "secret-b")
          .status,
      403);
  EXPECT_EQ(postAs("/internal/agents/" + agentId + "/drain", Json::object(), "agent-b", "secret-b")
                .status,
            403);
  EXPECT_EQ(postAs("/internal/status", Json{{"agentId", agentId}, {"updates", Json::array()}},
                   "agent-b", "secret-b")
                .status,
            403);
  Json takeover = registration();
  takeover["agentId"] = agentId;
  EXPECT_EQ(postAs("/internal/agents/register", takeover, "agent-b", "secret-b").status, 403);
  EXPECT_EQ(
      postAs("/internal/agents/" + agentId + "/heartbeat", Json::object(), "agent-a", "secret-a")
          .status,
      200);
  Offer o = waitOffer();
  auto accepted = master_->acceptOffer(o.id, {spec("t1", {31000}, 0.5, 128)});
  ASSERT_TRUE(accepted.ok() && *accepted);
  ASSERT_TRUE(loop_.runUntil([&] { return !launchAuth_.empty(); }, 3000));
  EXPECT_EQ(launchAuth_[0], "Bearer " + token);
  // A new registration replaces the token.
  r = postAs("/internal/agents/register", takeover, "agent-a", "secret-a");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(bodyJson(r).value("token", ""), token);
}

TEST_F(MasterTest, MalformedRegistrationFieldsAreNamed) {
  startMaster();
  Json reg = registration();
  reg["port"] = "5051";
  auto r = post("/internal/agents/register", reg);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("port"), std::string::npos) << r.body;
  reg = registration();
  reg["tasks"] = Json::array({Json{{"taskId", 5}}});
  r = post("/internal/agents/register", reg);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("tasks[0].taskId"), std::string::npos) << r.body;
  EXPECT_EQ(master_->agents().size(), 0u);
}

}  // namespace
}  // namespace corral::master

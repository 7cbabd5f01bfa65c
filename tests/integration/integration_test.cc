// End-to-end tests of issue 2 with real processes: a master and agents started
// from the corral binary, tasks running the demo server on dynamic ports, the
// Marathon v2 API and the /v2/events stream.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "tests/integration/cluster_fixture.h"

namespace corral::it {
namespace {

using namespace std::chrono_literals;

std::string appBody(const std::string& id, int instances, const std::string& cmd,
                    Json extra = Json::object()) {
  Json j;
  j["id"] = id;
  j["cmd"] = cmd;
  j["instances"] = instances;
  j["cpus"] = 0.1;
  j["mem"] = 32;
  j["portDefinitions"] = Json::array({Json{{"port", 0}, {"name", "http"}}});
  j["backoffSeconds"] = 1;
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return dumpJson(j);
}

Json httpHealthCheck(int grace = 10, int maxFailures = 3, const std::string& path = "/health") {
  return Json{{"protocol", "HTTP"},   {"path", path},
              {"portIndex", 0},       {"gracePeriodSeconds", grace},
              {"intervalSeconds", 1}, {"timeoutSeconds", 1},
              {"delaySeconds", 0},    {"maxConsecutiveFailures", maxFailures}};
}

int firstPort(const Json& task) {
  const auto& p = task.value("ports", Json::array());
  return p.empty() ? 0 : p[0].get<int>();
}

// True while pid runs (a zombie waiting for a reaper does not count).
bool processAlive(int pid) {
  if (pid <= 0 || ::kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

std::set<std::string> idsOf(const std::vector<Json>& tasks) {
  std::set<std::string> out;
  for (const auto& t : tasks) out.insert(t.value("id", ""));
  return out;
}

class Cluster : public ClusterFixture {
 protected:
  // Creates an app and checks the answer is Marathon's 201.
  void createApp(const std::string& body) {
    auto r = api("POST", "/v2/apps", body);
    ASSERT_EQ(r.status, 201) << r.body << r.error;
    ASSERT_TRUE(r.json().contains("id")) << r.body;
  }
  void scale(const std::string& id, int n) {
    auto r = api("PUT", "/v2/apps" + id, dumpJson(Json{{"instances", n}}));
    ASSERT_EQ(r.status, 200) << r.body << r.error;
    ASSERT_TRUE(r.json().contains("deploymentId")) << r.body;
  }
  // Every task of the app answers GET / with its own id and port.
  void expectTasksAnswer(const std::vector<Json>& ts) {
    std::set<std::pair<std::string, int>> endpoints;
    for (const auto& t : ts) {
      std::string host = t.value("host", "");
      int port = firstPort(t);
      EXPECT_TRUE(endpoints.insert({host, port}).second) << "port reused: " << host << ":" << port;
      EXPECT_GE(port, 31000);
      EXPECT_LE(port, 31100);
      // TASK_RUNNING means the process started (as in Mesos), not that it
      // listens yet: without health checks a client retries briefly.
      std::string expected =
          "hello from " + t.value("id", "") + " at " + host + ":" + std::to_string(port) + "\n";
      std::string body;
      client_.waitFor([&] { return (body = hitTask(host, port)) == expected; }, 5000, 50);
      EXPECT_EQ(body, expected) << "task " << t.value("id", "") << " at " << host << ":" << port;
    }
  }
};

// ------------------------------------------------------------------- tests

TEST_F(Cluster, ThreeInstancesAnswerOnTheirOwnDynamicPortsWithTheirEnvironment) {
  startCluster(11, 2);
  createApp(appBody("/web", 3, demoCmd("env > env.txt; ")));
  ASSERT_TRUE(waitAppStable("/web", 3)) << app("/web").dump();
  auto ts = tasks("/web");
  ASSERT_EQ(ts.size(), 3u);
  expectTasksAnswer(ts);
  // Ports are unique across all live tasks (also across agents, per address).
  std::set<std::string> seen;
  for (const auto& t : getJson("/v2/tasks")["tasks"]) {
    EXPECT_TRUE(seen.insert(t.value("host", "") + ":" + std::to_string(firstPort(t))).second);
  }
  for (const auto& t : ts) {
    std::string id = t.value("id", "");
    std::string host = t.value("host", "");
    const AgentProc* a = agentByIp(host);
    ASSERT_NE(a, nullptr) << host;
    auto r = client_.request("GET", a->ip, a->port, "/files/read?taskId=" + id + "&path=env.txt");
    ASSERT_EQ(r.status, 200) << r.body;
    std::string env = r.json().value("data", "");
    std::string port = std::to_string(firstPort(t));
    EXPECT_NE(env.find("\nPORT0=" + port + "\n"), std::string::npos) << env;
    EXPECT_NE(env.find("\nPORTS=" + port + "\n"), std::string::npos) << env;
    EXPECT_NE(env.find("\nHOST=" + host + "\n"), std::string::npos) << env;
    EXPECT_NE(env.find("\nMESOS_TASK_ID=" + id + "\n"), std::string::npos) << env;
    EXPECT_NE(env.find("\nMARATHON_APP_ID=/web\n"), std::string::npos) << env;
    EXPECT_NE(env.find("\nPORT_HTTP=" + port + "\n"), std::string::npos) << env;
    EXPECT_NE(env.find("\nMARATHON_APP_VERSION="), std::string::npos) << env;
    // stdout of the task is readable too.
    auto out = client_.request("GET", a->ip, a->port, "/files/read?taskId=" + id + "&path=stderr");
    EXPECT_EQ(out.status, 200) << out.body;
  }
}

TEST_F(Cluster, ScalesFromThreeToFiveAndBackToThree) {
  startCluster(12, 2);
  createApp(appBody("/scale", 3, demoCmd()));
  ASSERT_TRUE(waitAppStable("/scale", 3));
  auto before = idsOf(tasks("/scale"));
  scale("/scale", 5);
  ASSERT_TRUE(waitAppStable("/scale", 5)) << app("/scale").dump();
  auto five = tasks("/scale");
  expectTasksAnswer(five);
  for (const auto& id : before) EXPECT_TRUE(idsOf(five).count(id)) << "scaling up replaced " << id;
  scale("/scale", 3);
  ASSERT_TRUE(waitAppStable("/scale", 3)) << app("/scale").dump();
  auto three = tasks("/scale");
  expectTasksAnswer(three);
  Json a = app("/scale");
  EXPECT_EQ(a.value("instances", 0), 3);
  EXPECT_EQ(a.value("tasksRunning", 0), 3);
  // Scaled-down tasks are really gone from the agents.
  size_t running = 0;
  for (const auto& ag : agents_) {
    for (const auto& t : agentState(ag).value("tasks", Json::array())) {
      running += t.value("state", "") == "TASK_RUNNING";
    }
  }
  EXPECT_EQ(running, 3u);
}

TEST_F(Cluster, KilledTaskProcessIsReplacedAndRecordedAsLastTaskFailure) {
  startCluster(13, 2);
  createApp(appBody("/victim", 3, demoCmd()));
  ASSERT_TRUE(waitAppStable("/victim", 3));
  auto ts = tasks("/victim");
  const Json& victim = ts[1];
  std::string vid = victim.value("id", "");
  int pid = taskPid(victim.value("host", ""), vid);
  ASSERT_GT(pid, 1) << agentState(*agentByIp(victim.value("host", ""))).dump();
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  bool replaced = client_.waitFor(
      [&] {
        auto now = tasks("/victim");
        auto ids = idsOf(now);
        if (ids.count(vid) || now.size() != 3) return false;
        for (const auto& t : now) {
          if (t.value("state", "") != "TASK_RUNNING") return false;
        }
        return true;
      },
      20000);
  ASSERT_TRUE(replaced) << app("/victim").dump();
  expectTasksAnswer(tasks("/victim"));
  Json a = app("/victim");
  ASSERT_TRUE(a.contains("lastTaskFailure")) << a.dump();
  EXPECT_EQ(a["lastTaskFailure"].value("taskId", ""), vid);
  EXPECT_EQ(a["lastTaskFailure"].value("state", ""), "TASK_FAILED");
  EXPECT_EQ(a["lastTaskFailure"].value("appId", ""), "/victim");
}

TEST_F(Cluster, RollingRestartUnderLoadKeepsMinimumHealthCapacity) {
  startCluster(14, 2);
  const int n = 4;
  Json extra;
  extra["healthChecks"] = Json::array({httpHealthCheck()});
  extra["upgradeStrategy"] = Json{{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 0.5}};
  // Each task takes a moment to listen, so the rollout spans several polls.
  createApp(appBody("/roll", n, demoCmd("sleep 0.5; "), extra));
  ASSERT_TRUE(waitAppStable("/roll", n)) << app("/roll").dump();
  auto oldIds = idsOf(tasks("/roll"));

  auto r = api("POST", "/v2/apps/roll/restart");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string version = r.json().value("version", "");
  std::string deployment = r.json().value("deploymentId", "");
  ASSERT_FALSE(version.empty());
  ASSERT_FALSE(deployment.empty());

  const int minServing = static_cast<int>(std::ceil(n * 0.5));
  int polls = 0, requests = 0, minSeen = n;
  size_t maxTotal = 0;
  auto deadline = std::chrono::steady_clock::now() + 60s;
  bool done = false;
  while (std::chrono::steady_clock::now() < deadline) {
    Json a = app("/roll");
    ASSERT_FALSE(a.is_null());
    int serving = 0;
    for (const auto& t : a["tasks"]) {
      if (!isHealthy(t)) continue;
      ++requests;
      std::string body = hitTask(t.value("host", ""), firstPort(t), 1000);
      if (body.find("hello from " + t.value("id", "")) == 0) ++serving;
    }
    maxTotal = std::max(maxTotal, a["tasks"].size());
    minSeen = std::min(minSeen, serving);
    ++polls;
    ASSERT_GE(serving, minServing) << "at poll " << polls << " only " << serving
                                   << " healthy tasks answered: " << a["tasks"].dump();
    bool allNew = static_cast<int>(a["tasks"].size()) == n;
    for (const auto& t : a["tasks"]) allNew &= t.value("version", "") == version && isHealthy(t);
    if (a["deployments"].empty() && allNew) {
      done = true;
      break;
    }
    client_.pump(50);
  }
  ASSERT_TRUE(done) << "deployment did not finish: " << app("/roll").dump();
  EXPECT_LE(maxTotal, static_cast<size_t>(n + n / 2)) << "more than maximumOverCapacity";
  for (const auto& id : idsOf(tasks("/roll"))) EXPECT_FALSE(oldIds.count(id)) << id;
  expectTasksAnswer(tasks("/roll"));
  EXPECT_GT(polls, 3);
  RecordProperty("polls", polls);
  RecordProperty("requests", requests);
  RecordProperty("min_serving", minSeen);
}

TEST_F(Cluster, EventStreamShowsEventsAsTheyHappenFiltersAndResumes) {
  startCluster(15, 1);
  EventStream all(client_, masterIp_, masterPort_);
  ASSERT_TRUE(all.connected());
  EventStream onlyDeploy(client_, masterIp_, masterPort_, "?event_type=deployment_success");
  ASSERT_TRUE(onlyDeploy.connected());
  EventStream two(client_, masterIp_, masterPort_,
                  "?event_type=status_update_event&event_type=deployment_success");
  ASSERT_TRUE(two.connected());
  // Without the Accept header the stream is refused.
  EXPECT_EQ(api("GET", "/v2/events").status, 406);

  Json extra;
  extra["healthChecks"] = Json::array({httpHealthCheck()});
  createApp(appBody("/ev", 1, demoCmd(), extra));
  auto running = all.waitFor(
      [](const SseEvent& e) {
        return e.type == "status_update_event" &&
               e.data.value("taskStatus", "") == "TASK_RUNNING" &&
               e.data.value("appId", "") == "/ev";
      },
      20000);
  ASSERT_TRUE(running) << all.raw();
  EXPECT_EQ(running->data.value("eventType", ""), "status_update_event");
  EXPECT_TRUE(running->data.contains("timestamp"));
  EXPECT_FALSE(running->data["ports"].empty());
  auto healthy = all.waitFor(
      [](const SseEvent& e) {
        return e.type == "health_status_changed_event" && e.data.value("alive", false);
      },
      20000);
  ASSERT_TRUE(healthy) << all.raw();
  auto success =
      all.waitFor([](const SseEvent& e) { return e.type == "deployment_success"; }, 20000);
  ASSERT_TRUE(success) << all.raw();
  for (const char* t : {"api_post_event", "deployment_info", "instance_changed_event",
                        "instance_health_changed_event", "event_stream_attached"}) {
    std::string type = t;
    EXPECT_TRUE(all.waitFor([&](const SseEvent& e) { return e.type == type; }, 1000)) << t;
  }
  // Each transition of the task is reported once, in order, with its own state
  // (agents batch status updates: a batch is still a sequence of transitions).
  std::vector<std::string> states;
  for (const auto& e : all.events()) {
    if (e.type == "status_update_event" &&
        e.data.value("taskId", "") == running->data.value("taskId", "")) {
      states.push_back(e.data.value("taskStatus", ""));
    }
  }
  EXPECT_EQ(std::count(states.begin(), states.end(), "TASK_RUNNING"), 1) << all.raw();
  EXPECT_EQ(states.back(), "TASK_RUNNING") << all.raw();
  // ids increase.
  for (size_t i = 1; i < all.events().size(); ++i) {
    EXPECT_GT(all.events()[i].id, all.events()[i - 1].id);
  }
  // The filtered streams see only their types.
  ASSERT_TRUE(
      onlyDeploy.waitFor([](const SseEvent& e) { return e.type == "deployment_success"; }, 5000));
  for (const auto& e : onlyDeploy.events()) EXPECT_EQ(e.type, "deployment_success");
  ASSERT_TRUE(two.waitFor([](const SseEvent& e) { return e.type == "deployment_success"; }, 5000));
  bool sawStatus = false;
  for (const auto& e : two.events()) {
    EXPECT_TRUE(e.type == "deployment_success" || e.type == "status_update_event") << e.type;
    sawStatus |= e.type == "status_update_event";
  }
  EXPECT_TRUE(sawStatus);

  // Resume: disconnect, let things happen, reconnect with Last-Event-ID.
  uint64_t lastId = all.events().back().id;
  all.close();
  scale("/ev", 2);
  ASSERT_TRUE(waitAppStable("/ev", 2));
  std::set<std::string> newIds = idsOf(tasks("/ev"));
  EventStream resumed(client_, masterIp_, masterPort_, "", lastId);
  ASSERT_TRUE(resumed.connected());
  auto missed = resumed.waitFor(
      [&](const SseEvent& e) {
        return e.type == "status_update_event" &&
               e.data.value("taskStatus", "") == "TASK_RUNNING" &&
               e.data.value("taskId", "") != running->data.value("taskId", "");
      },
      5000);
  ASSERT_TRUE(missed) << resumed.raw();
  EXPECT_TRUE(newIds.count(missed->data.value("taskId", "")));
  EXPECT_TRUE(
      resumed.waitFor([](const SseEvent& e) { return e.type == "deployment_success"; }, 2000));
  ASSERT_FALSE(resumed.events().empty());
  EXPECT_EQ(resumed.events().front().id, lastId + 1)
      << "replay must start right after the last seen id";
  for (size_t i = 1; i < resumed.events().size(); ++i) {
    EXPECT_GT(resumed.events()[i].id, resumed.events()[i - 1].id);
  }
  EXPECT_EQ(resumed.raw().find("resync-required"), std::string::npos);
  // A Last-Event-ID older than what the server holds asks for a resync.
  EventStream ancient(client_, masterIp_, masterPort_, "", 1);
  ASSERT_TRUE(ancient.connected());
  client_.waitFor([&] { return ancient.raw().find("resync-required") != std::string::npos; }, 2000);
  EXPECT_NE(ancient.raw().find("resync-required"), std::string::npos) << ancient.raw();
}

TEST_F(Cluster, MasterKill9AndRestartLosesNothingAndTasksKeepRunning) {
  startCluster(16, 2);
  createApp(appBody("/keep", 3, demoCmd()));
  createApp(appBody("/shop/api", 1, demoCmd()));
  ASSERT_TRUE(waitAppStable("/keep", 3));
  ASSERT_TRUE(waitAppStable("/shop/api", 1));
  // A second version of /keep (a label change: rolling replacement).
  auto u = api("PUT", "/v2/apps/keep", dumpJson(Json{{"labels", Json{{"tier", "front"}}}}));
  ASSERT_EQ(u.status, 200) << u.body;
  ASSERT_TRUE(waitAppStable("/keep", 3)) << app("/keep").dump();

  Json appsBefore = getJson("/v2/apps");
  Json versionsBefore = getJson("/v2/apps/keep/versions");
  ASSERT_EQ(versionsBefore["versions"].size(), 2u) << versionsBefore.dump();
  std::map<std::string, int> pidsBefore;
  std::map<std::string, std::string> hostOf;
  for (const auto& id : {"/keep", "/shop/api"}) {
    for (const auto& t : tasks(id)) {
      std::string tid = t.value("id", "");
      hostOf[tid] = t.value("host", "");
      pidsBefore[tid] = taskPid(hostOf[tid], tid);
      ASSERT_GT(pidsBefore[tid], 1);
    }
  }
  ASSERT_EQ(pidsBefore.size(), 4u);

  killMaster(SIGKILL);
  EXPECT_NE(api("GET", "/ping").status, 200);
  startMaster();
  ASSERT_TRUE(waitAgentsActive(2)) << getJson("/v1/agents").dump();

  // Apps, versions and tasks (same ids, same processes) are all there.
  Json appsAfter = getJson("/v2/apps");
  ASSERT_EQ(appsAfter["apps"].size(), 2u) << appsAfter.dump();
  for (size_t i = 0; i < 2; ++i) {
    const Json& b = appsBefore["apps"][i];
    const Json& a = appsAfter["apps"][i];
    EXPECT_EQ(a.value("id", ""), b.value("id", ""));
    EXPECT_EQ(a.value("version", ""), b.value("version", ""));
    EXPECT_EQ(a.value("cmd", ""), b.value("cmd", ""));
    EXPECT_EQ(a["labels"], b["labels"]);
    EXPECT_EQ(a["portDefinitions"], b["portDefinitions"]);
    EXPECT_EQ(a["versionInfo"], b["versionInfo"]);
  }
  EXPECT_EQ(getJson("/v2/apps/keep/versions"), versionsBefore);
  std::string firstVersion = versionsBefore["versions"].back().get<std::string>();
  auto old = api("GET", "/v2/apps/keep/versions/" + firstVersion);
  EXPECT_EQ(old.status, 200) << old.body;
  EXPECT_TRUE(old.json().value("labels", Json::object()).empty()) << old.body;

  bool same = client_.waitFor(
      [&] {
        std::map<std::string, int> now;
        for (const auto& id : {"/keep", "/shop/api"}) {
          for (const auto& t : tasks(id)) {
            if (t.value("state", "") != "TASK_RUNNING") return false;
            now[t.value("id", "")] = 0;
          }
        }
        if (now.size() != pidsBefore.size()) return false;
        for (const auto& [tid, pid] : pidsBefore) {
          if (!now.count(tid)) return false;
        }
        return true;
      },
      10000);
  ASSERT_TRUE(same) << getJson("/v2/tasks").dump();
  for (const auto& [tid, pid] : pidsBefore) {
    EXPECT_EQ(taskPid(hostOf[tid], tid), pid) << "task " << tid << " was restarted";
  }
  expectTasksAnswer(tasks("/keep"));

  // And the cluster still deploys: scale and restart.
  scale("/keep", 4);
  ASSERT_TRUE(waitAppStable("/keep", 4)) << app("/keep").dump();
  auto r = api("POST", "/v2/apps/shop/api/restart");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(waitAppStable("/shop/api", 1));
  auto api1 = tasks("/shop/api");
  ASSERT_EQ(api1.size(), 1u);
  EXPECT_EQ(api1[0].value("version", ""), r.json().value("version", ""));
  EXPECT_EQ(getJson("/v2/apps/shop/api/versions")["versions"].size(), 2u);
}

TEST_F(Cluster, MasterKilledMidDeploymentFinishesItAndLearnsWhatHappenedMeanwhile) {
  startCluster(21, 2);
  Json extra;
  extra["healthChecks"] = Json::array({httpHealthCheck()});
  extra["upgradeStrategy"] = Json{{"minimumHealthCapacity", 0.5}, {"maximumOverCapacity", 0.0}};
  createApp(appBody("/mid", 4, demoCmd(), extra));
  createApp(appBody("/other", 1, demoCmd()));
  ASSERT_TRUE(waitAppStable("/mid", 4)) << app("/mid").dump();
  ASSERT_TRUE(waitAppStable("/other", 1));
  auto oldIds = idsOf(tasks("/mid"));
  auto r = api("POST", "/v2/apps/mid/restart");
  ASSERT_EQ(r.status, 200) << r.body;
  std::string version = r.json().value("version", "");
  // Wait until the replacement is under way (some old task killed), then kill -9 the master.
  ASSERT_TRUE(client_.waitFor(
      [&] {
        auto ids = idsOf(tasks("/mid"));
        for (const auto& id : oldIds) {
          if (!ids.count(id)) return true;
        }
        return false;
      },
      20000));
  killMaster(SIGKILL);
  // While the master is down a task dies: its agent must tell the restarted master.
  auto other = tasks("/other");
  ASSERT_TRUE(other.empty());  // the master is down: no answer
  std::string otherId;
  int otherPid = -1;
  for (const auto& a : agents_) {
    for (const auto& t : agentState(a).value("tasks", Json::array())) {
      if (t.value("appId", "") == "/other" && t.value("state", "") == "TASK_RUNNING") {
        otherId = t.value("id", "");
        otherPid = t.value("pid", -1);
      }
    }
  }
  ASSERT_GT(otherPid, 1);
  ASSERT_EQ(::kill(otherPid, SIGKILL), 0);
  startMaster();
  ASSERT_TRUE(waitAgentsActive(2));
  // The deployment is still known and completes with every task on the new version.
  bool done = client_.waitFor(
      [&] {
        Json a = app("/mid");
        if (a.is_null() || !a["deployments"].empty() || a["tasks"].size() != 4) return false;
        for (const auto& t : a["tasks"]) {
          if (t.value("version", "") != version || !isHealthy(t)) return false;
        }
        return true;
      },
      40000);
  ASSERT_TRUE(done) << app("/mid").dump() << getJson("/v2/deployments").dump();
  expectTasksAnswer(tasks("/mid"));
  // The task that died meanwhile is replaced.
  bool replaced = client_.waitFor(
      [&] {
        auto ts = tasks("/other");
        return ts.size() == 1 && ts[0].value("id", "") != otherId &&
               ts[0].value("state", "") == "TASK_RUNNING";
      },
      20000);
  ASSERT_TRUE(replaced) << app("/other").dump();
  EXPECT_TRUE(getJson("/v2/deployments").empty()) << getJson("/v2/deployments").dump();
}

TEST_F(Cluster, LostAgentTasksAreReplacedAndReconciledWhenItComesBack) {
  startCluster(17, 2, {"--agent-ping-timeout", "2"});
  createApp(appBody("/lost", 2, demoCmd()));
  ASSERT_TRUE(waitAppStable("/lost", 2)) << app("/lost").dump();
  auto before = tasks("/lost");
  std::map<std::string, int> pidOf;
  std::string stoppedIp;
  for (const auto& t : before) {
    pidOf[t.value("id", "")] = taskPid(t.value("host", ""), t.value("id", ""));
    stoppedIp = t.value("host", "");
  }
  AgentProc* stopped = nullptr;
  AgentProc* other = nullptr;
  for (auto& a : agents_) (a.ip == stoppedIp ? stopped : other) = &a;
  ASSERT_NE(stopped, nullptr);
  ASSERT_NE(other, nullptr);
  std::set<std::string> onStopped;
  for (const auto& t : before) {
    if (t.value("host", "") == stoppedIp) onStopped.insert(t.value("id", ""));
  }
  ASSERT_FALSE(onStopped.empty());

  ASSERT_EQ(::kill(stopped->child.pid, SIGSTOP), 0);
  bool unreachable = client_.waitFor(
      [&] {
        for (const auto& t : tasks("/lost")) {
          if (onStopped.count(t.value("id", "")) && t.value("state", "") == "TASK_UNREACHABLE") {
            return true;
          }
        }
        return false;
      },
      15000);
  EXPECT_TRUE(unreachable) << getJson("/v2/tasks").dump();
  bool replaced = client_.waitFor(
      [&] {
        int runningOnOther = 0;
        for (const auto& t : tasks("/lost")) {
          runningOnOther +=
              t.value("host", "") == other->ip && t.value("state", "") == "TASK_RUNNING";
        }
        return runningOnOther == static_cast<int>(before.size());
      },
      20000);
  ASSERT_TRUE(replaced) << getJson("/v2/tasks").dump();
  Json agentsJ = getJson("/v1/agents");
  for (const auto& a : agentsJ["agents"]) {
    if (a.value("hostname", "") == stoppedIp) {
      EXPECT_EQ(a.value("status", ""), "UNREACHABLE");
    }
  }

  ASSERT_EQ(::kill(stopped->child.pid, SIGCONT), 0);
  ASSERT_TRUE(waitAgentsActive(2)) << getJson("/v1/agents").dump();
  // The master has the returning agent kill its superfluous tasks; the count ends right.
  bool reconciled = client_.waitFor(
      [&] {
        auto now = tasks("/lost");
        if (now.size() != before.size()) return false;
        for (const auto& t : now) {
          if (onStopped.count(t.value("id", ""))) return false;
          if (t.value("state", "") != "TASK_RUNNING") return false;
        }
        for (const auto& t : agentState(*stopped).value("tasks", Json::array())) {
          if (t.value("state", "") == "TASK_RUNNING" || t.value("state", "") == "TASK_KILLING") {
            return false;
          }
        }
        return true;
      },
      20000);
  ASSERT_TRUE(reconciled) << getJson("/v2/tasks").dump() << agentState(*stopped).dump();
  for (const auto& id : onStopped) {
    EXPECT_FALSE(processAlive(pidOf[id])) << "superfluous task " << id << " still has a process";
  }
  Json a = app("/lost");
  EXPECT_EQ(a.value("tasksRunning", 0), 2);
  EXPECT_EQ(a.value("instances", 0), 2);
  expectTasksAnswer(tasks("/lost"));
}

TEST_F(Cluster, RestartedAgentLeavesNoOrphanTasksAndReusesItsPorts) {
  startCluster(22, 1);
  createApp(appBody("/orph", 2, demoCmd()));
  ASSERT_TRUE(waitAppStable("/orph", 2)) << app("/orph").dump();
  auto before = tasks("/orph");
  std::map<std::string, int> pidOf;
  for (const auto& t : before)
    pidOf[t.value("id", "")] = taskPid(t.value("host", ""), t.value("id", ""));
  // kill -9 the agent process alone (its tasks live in process groups of their own).
  ASSERT_EQ(::kill(agents_[0].child.pid, SIGKILL), 0);
  waitpid(agents_[0].child.pid, nullptr, 0);
  retired_.push_back(agents_[0].child);
  startAgent(0);
  ASSERT_TRUE(waitAgentsActive(1));
  // The old tasks are gone (no orphans holding ports) and the app runs 2 fresh tasks.
  bool ok = client_.waitFor(
      [&] {
        auto ts = tasks("/orph");
        if (ts.size() != 2) return false;
        for (const auto& t : ts) {
          if (pidOf.count(t.value("id", "")) || t.value("state", "") != "TASK_RUNNING")
            return false;
        }
        return true;
      },
      20000);
  ASSERT_TRUE(ok) << app("/orph").dump();
  for (const auto& [id, pid] : pidOf) {
    EXPECT_FALSE(processAlive(pid))
        << "task " << id << " of the previous agent still runs as " << pid;
  }
  expectTasksAnswer(tasks("/orph"));
  Json a = app("/orph");
  EXPECT_EQ(a.value("tasksRunning", 0), 2);
}

// At-least-once status delivery across restarts of both ends: a task dies
// while the master is down, then the agent is killed -9 before it could
// deliver that. The update waits in the agent's work dir and reaches the
// restarted master with the re-registration: the task ends as TASK_FAILED
// (what happened), not TASK_LOST.
TEST_F(Cluster, StatusUpdateSurvivesMasterDowntimeAndAgentRestart) {
  startCluster(23, 1);
  createApp(appBody("/once", 1, demoCmd()));
  ASSERT_TRUE(waitAppStable("/once", 1)) << app("/once").dump();
  auto ts = tasks("/once");
  ASSERT_EQ(ts.size(), 1u);
  std::string taskId = ts[0].value("id", "");
  int pid = taskPid(ts[0].value("host", ""), taskId);
  ASSERT_GT(pid, 0);
  killMaster(SIGKILL);
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  // The agent saw the task fail and keeps the update on disk.
  std::string pendingFile = agents_[0].workDir + "/pending_updates.json";
  bool pending = client_.waitFor(
      [&] {
        std::ifstream in(pendingFile);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str().find(taskId) != std::string::npos &&
               ss.str().find("TASK_FAILED") != std::string::npos;
      },
      10000);
  ASSERT_TRUE(pending) << "no pending TASK_FAILED in " << pendingFile;
  ASSERT_EQ(::kill(agents_[0].child.pid, SIGKILL), 0);
  waitpid(agents_[0].child.pid, nullptr, 0);
  retired_.push_back(agents_[0].child);
  startMaster();
  startAgent(0);
  ASSERT_TRUE(waitAgentsActive(1));
  Json failure;
  bool seen = client_.waitFor(
      [&] {
        failure = app("/once").value("lastTaskFailure", Json());
        return failure.is_object() && failure.value("taskId", "") == taskId;
      },
      15000);
  ASSERT_TRUE(seen) << app("/once").dump();
  EXPECT_EQ(failure.value("state", ""), "TASK_FAILED") << failure.dump();
  EXPECT_NE(failure.value("message", "").find("signal 9"), std::string::npos) << failure.dump();
  ASSERT_TRUE(waitAppStable("/once", 1)) << app("/once").dump();
}

TEST_F(Cluster, UniqueHostnameConstraintLeavesOneInstanceWaitingWithAReason) {
  startCluster(18, 2);
  createApp(appBody("/uniq", 3, demoCmd(),
                    Json{{"constraints", Json::array({Json::array({"hostname", "UNIQUE"})})}}));
  bool two = client_.waitFor(
      [&] {
        auto ts = tasks("/uniq");
        int running = 0;
        for (const auto& t : ts) running += t.value("state", "") == "TASK_RUNNING";
        return running == 2;
      },
      20000);
  ASSERT_TRUE(two) << app("/uniq").dump();
  std::set<std::string> hosts;
  for (const auto& t : tasks("/uniq")) hosts.insert(t.value("host", ""));
  EXPECT_EQ(hosts.size(), 2u);
  Json item;
  bool queued = client_.waitFor(
      [&] {
        Json q = getJson("/v2/queue");
        for (const auto& i : q.value("queue", Json::array())) {
          if (i["app"].value("id", "") != "/uniq") continue;
          item = i;
          return !i["processedOffersSummary"].value("waitingReason", "").empty();
        }
        return false;
      },
      10000);
  ASSERT_TRUE(queued) << getJson("/v2/queue").dump();
  EXPECT_EQ(item.value("count", 0), 1) << item.dump();
  std::string reason = item["processedOffersSummary"].value("waitingReason", "");
  EXPECT_NE(reason.find("UNIQUE"), std::string::npos) << reason;
  EXPECT_NE(reason.find("hostname"), std::string::npos) << reason;
  // The deployment stays open and says so.
  EXPECT_FALSE(app("/uniq")["deployments"].empty());
  EXPECT_EQ(tasks("/uniq").size(), 2u);
}

TEST_F(Cluster, FailingHealthCheckKillsAndReplacesTheTask) {
  startCluster(19, 1);
  EventStream events(
      client_, masterIp_, masterPort_,
      "?event_type=unhealthy_instance_kill_event&event_type=failed_health_check_event");
  ASSERT_TRUE(events.connected());
  // python's http.server answers 404 on /health.
  Json extra;
  extra["healthChecks"] = Json::array({httpHealthCheck(1, 2)});
  createApp(appBody("/sick", 1, "exec /usr/bin/python3 -m http.server --bind \"$HOST\" \"$PORT0\"",
                    extra));
  std::string first;
  ASSERT_TRUE(client_.waitFor(
      [&] {
        auto ts = tasks("/sick");
        if (ts.empty()) return false;
        first = ts[0].value("id", "");
        return true;
      },
      10000));
  auto failed = events.waitFor(
      [](const SseEvent& e) { return e.type == "failed_health_check_event"; }, 20000);
  EXPECT_TRUE(failed) << events.raw();
  auto kill = events.waitFor(
      [&](const SseEvent& e) {
        return e.type == "unhealthy_instance_kill_event" && e.data.value("taskId", "") == first;
      },
      20000);
  ASSERT_TRUE(kill) << events.raw();
  EXPECT_EQ(kill->data.value("appId", ""), "/sick");
  bool replaced = client_.waitFor(
      [&] {
        auto ts = tasks("/sick");
        return ts.size() == 1 && ts[0].value("id", "") != first;
      },
      20000);
  ASSERT_TRUE(replaced) << app("/sick").dump();
  Json a = app("/sick");
  ASSERT_TRUE(a.contains("lastTaskFailure")) << a.dump();
  EXPECT_EQ(a["lastTaskFailure"].value("taskId", ""), first);
}

// Sends raw bytes and closes without reading the answer.
void sendAndHangUp(const std::string& ip, int port, const std::string& bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip.c_str(), &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

void expectValidationError(const HttpResult& r, const std::string& path) {
  EXPECT_EQ(r.status, 422) << r.body;
  Json j = r.json();
  ASSERT_TRUE(j.contains("message")) << r.body;
  ASSERT_TRUE(j.contains("details") && j["details"].is_array() && !j["details"].empty()) << r.body;
  bool found = false;
  for (const auto& d : j["details"]) {
    ASSERT_TRUE(d.contains("path") && d.contains("errors")) << r.body;
    EXPECT_TRUE(d["errors"].is_array() && !d["errors"].empty()) << r.body;
    found |= d.value("path", "") == path;
  }
  EXPECT_TRUE(found) << "no detail for " << path << " in " << r.body;
}

TEST_F(Cluster, BadInputGetsPrecise4xxAndHarmsNothing) {
  startCluster(20, 1);
  createApp(appBody("/good", 1, demoCmd()));
  ASSERT_TRUE(waitAppStable("/good", 1));
  Json before = app("/good");

  auto r = api("POST", "/v2/apps", R"({"id": "/x", "cmd": )");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(r.json().contains("message")) << r.body;
  EXPECT_EQ(api("POST", "/v2/apps", "[1, 2").status, 400);

  expectValidationError(
      api("POST", "/v2/apps", R"({"id":"/x","cmd":"sleep 9","instances":"three"})"), "/instances");
  expectValidationError(api("POST", "/v2/apps", R"({"id":"/x","cmd":"sleep 9","instances":-1})"),
                        "/instances");
  expectValidationError(api("POST", "/v2/apps", R"({"id":"/Bad_ID!","cmd":"sleep 9"})"), "/id");
  expectValidationError(api("POST", "/v2/apps", R"({"id":"/x","cmd":"sleep 9","cpus":-1})"),
                        "/cpus");
  expectValidationError(
      api("POST", "/v2/apps",
          R"({"id":"/x","cmd":"sleep 9","constraints":[["hostname","SOMETIMES"]]})"),
      "/constraints(0)");
  // A PUT with a bad value is a 422 too and leaves the app alone.
  expectValidationError(api("PUT", "/v2/apps/good", R"({"instances":"many"})"), "/instances");

  auto dup = api("POST", "/v2/apps", appBody("/good", 2, demoCmd()));
  EXPECT_EQ(dup.status, 409) << dup.body;
  EXPECT_TRUE(dup.json().contains("message")) << dup.body;

  std::string huge = R"({"id":"/big","cmd":")" + std::string(5 * 1024 * 1024, 'x') + R"("})";
  auto big = api("POST", "/v2/apps", huge);
  EXPECT_TRUE(big.status == 413 || (big.status == 0 && !big.error.empty()))
      << big.status << " " << big.error;
  EXPECT_EQ(big.status, 413) << big.error;

  // Clients that hang up mid-request.
  sendAndHangUp(masterIp_, masterPort_, "POST /v2/apps HTTP/1.1\r\nHost: x\r\nContent-Le");
  sendAndHangUp(masterIp_, masterPort_,
                "POST /v2/apps HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                "Content-Length: 1000\r\n\r\n{\"id\":\"/half\",\"cmd\":\"sle");
  sendAndHangUp(masterIp_, masterPort_, "GARBAGE\r\n\r\n\x01\x02\x03");
  // A stream subscriber that goes away.
  {
    EventStream s(client_, masterIp_, masterPort_);
    ASSERT_TRUE(s.connected());
  }

  // The master keeps serving and nothing stored was harmed.
  EXPECT_EQ(api("GET", "/ping").status, 200);
  Json apps = getJson("/v2/apps");
  ASSERT_EQ(apps["apps"].size(), 1u) << apps.dump();
  Json after = app("/good");
  EXPECT_EQ(after.value("version", ""), before.value("version", ""));
  EXPECT_EQ(after.value("instances", 0), 1);
  EXPECT_EQ(after.value("cmd", ""), before.value("cmd", ""));
  EXPECT_EQ(after["tasks"][0].value("id", ""), before["tasks"][0].value("id", ""));
  EXPECT_EQ(getJson("/v2/apps/good/versions")["versions"].size(), 1u);
  EXPECT_EQ(api("GET", "/v2/apps/half").status, 404);
  expectTasksAnswer(tasks("/good"));
  // And still accepts good changes.
  scale("/good", 2);
  EXPECT_TRUE(waitAppStable("/good", 2));
}

}  // namespace
}  // namespace corral::it

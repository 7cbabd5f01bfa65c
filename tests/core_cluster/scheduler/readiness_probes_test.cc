// Readiness probes alone, against a real HTTP server on port 0: a task is
// ready once the probe answers a ready code, probes wait their interval, and
// only running tasks with the named port are probed.
#include "core_cluster/scheduler/readiness_probes.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "base/http_server.h"

namespace corral::scheduler {
namespace {

conf::AppDefinition readyApp(int intervalSeconds) {
  auto j = parseJson(R"({"id":"/web","cmd":"x",
      "portDefinitions":[{"port":0,"name":"admin"},{"port":0,"name":"http"}],
      "readinessChecks":[{"name":"r","path":"/ready","portName":"http",
                          "intervalSeconds":)" +
                     std::to_string(intervalSeconds) + R"(,"timeoutSeconds":1,
                          "httpStatusCodesForReady":[200,204]}]})");
  EXPECT_TRUE(j.ok());
  auto d = conf::parseAppDefinition(*j);
  EXPECT_TRUE(d.ok()) << (d.ok() ? "" : d.error().message);
  return *d;
}

master::TaskRecord running(const std::string& id, int adminPort, int httpPort) {
  master::TaskRecord t;
  t.id = id;
  t.appId = "/web";
  t.host = "127.0.0.1";
  t.state = conf::TaskState::kRunning;
  t.ports = {adminPort, httpPort};
  return t;
}

class ReadinessProbesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto port = server_.listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.error().message;
    port_ = *port;
  }
  void TearDown() override {
    server_.close();
    loop_.runUntil([] { return false; }, 20);
  }

  Loop loop_;
  int answer_ = 503;
  std::vector<std::string> paths_;
  http::Server server_{loop_, [this](http::Request& req, std::shared_ptr<http::Exchange> ex) {
                         paths_.push_back(req.path);
                         ex->respond(http::Response::text(answer_, "x"));
                       }};
  int port_ = 0;
  std::vector<std::string> readyApps_;
  ReadinessProbes probes_{loop_, [this](const std::string& appId) { readyApps_.push_back(appId); }};
};

TEST_F(ReadinessProbesTest, ATaskIsReadyOnceTheNamedPortAnswersAReadyCode) {
  conf::AppDefinition d = readyApp(2);
  // The probe goes to the "http" port (the second); the first one is closed.
  master::TaskRecord t = running("t1", 1, port_);
  std::vector<const master::TaskRecord*> tasks = {&t};
  EXPECT_TRUE(probes_.pending(d, tasks));
  probes_.probe(d, tasks, 1000);
  EXPECT_EQ(probes_.inFlight(), 1u);
  probes_.probe(d, tasks, 1000);  // one probe per task at a time
  ASSERT_TRUE(loop_.runUntil([&] { return probes_.inFlight() == 0; }, 5000));
  EXPECT_EQ(paths_, std::vector<std::string>{"/ready"});
  EXPECT_FALSE(probes_.ready("t1"));
  EXPECT_TRUE(readyApps_.empty());

  // Not due before its interval.
  answer_ = 204;
  probes_.probe(d, tasks, 2500);
  EXPECT_EQ(probes_.inFlight(), 0u);
  probes_.probe(d, tasks, 3000);
  ASSERT_TRUE(loop_.runUntil([&] { return probes_.inFlight() == 0; }, 5000));
  EXPECT_TRUE(probes_.ready("t1"));
  EXPECT_EQ(readyApps_, std::vector<std::string>{"/web"});
  EXPECT_FALSE(probes_.pending(d, tasks));
  // Ready stays ready: no more probes.
  probes_.probe(d, tasks, 10000);
  EXPECT_EQ(probes_.inFlight(), 0u);

  probes_.forget("t1");
  EXPECT_FALSE(probes_.ready("t1"));
}

TEST_F(ReadinessProbesTest, OnlyRunningTasksOfAppsWithChecksAreProbed) {
  conf::AppDefinition d = readyApp(2);
  master::TaskRecord staging = running("t1", 1, port_);
  staging.state = conf::TaskState::kStaging;
  master::TaskRecord noPorts = running("t2", 1, port_);
  noPorts.ports.clear();
  std::vector<const master::TaskRecord*> tasks = {&staging, &noPorts};
  probes_.probe(d, tasks, 1000);
  EXPECT_EQ(probes_.inFlight(), 0u);
  EXPECT_FALSE(probes_.pending(d, {&staging}));

  conf::AppDefinition plain = d;
  plain.readinessChecks.clear();
  master::TaskRecord t = running("t3", 1, port_);
  probes_.probe(plain, {&t}, 1000);
  EXPECT_EQ(probes_.inFlight(), 0u);
  EXPECT_FALSE(probes_.pending(plain, {&t}));
}

TEST_F(ReadinessProbesTest, DestroyingTheProbesCancelsThoseInFlight) {
  conf::AppDefinition d = readyApp(2);
  master::TaskRecord t = running("t1", 1, port_);
  answer_ = 200;
  {
    ReadinessProbes local(loop_, [](const std::string&) { FAIL() << "called after destruction"; });
    local.probe(d, {&t}, 1000);
    EXPECT_EQ(local.inFlight(), 1u);
  }
  // The server may still see the request; the callback must not run.
  loop_.runUntil([] { return false; }, 100);
}

}  // namespace
}  // namespace corral::scheduler

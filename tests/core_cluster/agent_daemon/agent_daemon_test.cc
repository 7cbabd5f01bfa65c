// The agent daemon stops while a status post to its master is in flight: the
// answer arriving afterwards must not call into the destroyed daemon (run it
// under ASan: -DCORRAL_SANITIZE=ON). With the daemon's fetch not owned by it
// (the code before CancelHandle), ASan reports a heap-use-after-free in the
// post's callback here; with masterCalls_ owning it, the test passes clean.
#include "core_cluster/agent_daemon/agent_daemon.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/http_client.h"
#include "base/http_server.h"
#include "base/loop.h"

namespace corral::agent {
namespace {

TEST(AgentDaemon, StopsWithAStatusPostInFlight) {
  Loop loop;
  // A master that registers the agent and holds every status post unanswered.
  std::vector<std::shared_ptr<http::Exchange>> heldStatusPosts;
  bool registered = false;
  http::Server master(loop, [&](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    if (req.path == "/internal/agents/register") {
      registered = true;
      return ex->respond(http::Response::json(200, R"({"agentId":"agent-1","token":"tok-1"})"));
    }
    if (req.path == "/internal/status") {
      heldStatusPosts.push_back(std::move(ex));
      return;
    }
    ex->respond(http::Response::json(200, "{}"));
  });
  auto masterPort = master.listen("127.0.0.1", 0);
  ASSERT_TRUE(masterPort.ok());

  auto workDir = std::filesystem::temp_directory_path() /
                 ("corral-agent-daemon-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(workDir);
  AgentDaemonOptions o;
  o.ip = "127.0.0.1";
  o.port = 0;
  o.masterHost = "127.0.0.1";
  o.masterPort = *masterPort;
  o.resources = "cpus:1;mem:128;disk:100;ports:[39000-39010]";
  o.workDir = workDir.string();
  o.heartbeatMs = 60000;

  auto daemon = AgentDaemon::create(loop, o);
  ASSERT_TRUE(daemon.ok()) << daemon.error().message;
  ASSERT_TRUE(loop.runUntil([&] { return registered; }, 5000));
  // Let the registration answer arrive.
  loop.runUntil([] { return false; }, 100);

  // A launch that fails at once yields a TASK_FAILED status: its post is held.
  ASSERT_NE((*daemon)->port(), 0);
  http::Request launch;
  launch.method = "POST";
  launch.target = "/internal/launch";
  launch.headers.emplace_back("Content-Type", "application/json");
  launch.headers.emplace_back("Authorization", "Bearer tok-1");
  launch.body = R"({"tasks":[{"taskId":"..","appId":"/a","cmd":"true"}]})";
  std::optional<Result<http::Response>> launched;
  CancelHandle call = http::fetch(loop, "127.0.0.1", (*daemon)->port(), launch,
                                  [&](Result<http::Response> r) { launched = std::move(r); });
  ASSERT_TRUE(loop.runUntil([&] { return !heldStatusPosts.empty(); }, 5000));

  // The agent stops (its shutdown gives up on the undelivered status) and is
  // destroyed; then the master answers the post.
  bool stopped = false;
  (*daemon)->shutdown([&] { stopped = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }, 5000));
  daemon->reset();
  for (auto& ex : heldStatusPosts) ex->respond(http::Response::json(200, "{}"));
  heldStatusPosts.clear();
  loop.runUntil([] { return false; }, 300);  // ASan reports a use after free here
  master.close();
  call.reset();
  loop.runUntil([] { return false; }, 50);
  std::filesystem::remove_all(workDir);
}

// The agent's HTTP edge maps the kind of a task runner error to its status
// (http::statusFor): unknown task 404, a path leaving the sandbox 422; a
// request missing its task id is a bad request (400).
TEST(AgentDaemon, FileReadErrorsAnswerByKind) {
  Loop loop;
  bool registered = false;
  http::Server master(loop, [&](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    if (req.path == "/internal/agents/register") {
      registered = true;
      return ex->respond(http::Response::json(200, R"({"agentId":"agent-2","token":"tok-2"})"));
    }
    if (req.path == "/internal/status") {
      return ex->respond(http::Response::json(200, R"({"ack":true,"kill":[]})"));
    }
    ex->respond(http::Response::json(200, "{}"));
  });
  auto masterPort = master.listen("127.0.0.1", 0);
  ASSERT_TRUE(masterPort.ok());
  auto workDir = std::filesystem::temp_directory_path() /
                 ("corral-agent-daemon-files-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(workDir);
  AgentDaemonOptions o;
  o.ip = "127.0.0.1";
  o.port = 0;
  o.masterHost = "127.0.0.1";
  o.masterPort = *masterPort;
  o.resources = "cpus:1;mem:128;disk:100;ports:[39020-39030]";
  o.workDir = workDir.string();
  o.heartbeatMs = 60000;
  auto daemon = AgentDaemon::create(loop, o);
  ASSERT_TRUE(daemon.ok()) << daemon.error().message;
  ASSERT_TRUE(loop.runUntil([&] { return registered; }, 5000));

  auto call = [&](const std::string& method, const std::string& target, const std::string& body) {
    http::Request req;
    req.method = method;
    req.target = target;
    req.body = body;
    req.headers.emplace_back("Authorization", "Bearer tok-2");  // the master's calls carry it
    std::optional<Result<http::Response>> out;
    CancelHandle h = http::fetch(loop, "127.0.0.1", (*daemon)->port(), req,
                                 [&](Result<http::Response> r) { out = std::move(r); });
    EXPECT_TRUE(loop.runUntil([&] { return out.has_value(); }, 5000)) << target;
    return out && out->ok() ? (*out)->status : 0;
  };
  EXPECT_EQ(call("GET", "/files/read?taskId=ghost", ""), 404);
  EXPECT_EQ(call("GET", "/files/read", ""), 400);
  ASSERT_EQ(call("POST", "/internal/launch",
                 R"({"tasks":[{"taskId":"t1","appId":"/a","cmd":"sleep 30"}]})"),
            202);
  ASSERT_TRUE(loop.runUntil([&] { return call("GET", "/files/read?taskId=t1", "") == 200; }, 5000));
  EXPECT_EQ(call("GET", "/files/read?taskId=t1&path=../../agent_id", ""), 422);
  EXPECT_EQ(call("GET", "/files/read?taskId=t1&path=no-such-file", ""), 404);

  bool stopped = false;
  (*daemon)->shutdown([&] { stopped = true; });
  ASSERT_TRUE(loop.runUntil([&] { return stopped; }, 10000));
  daemon->reset();
  master.close();
  loop.runUntil([] { return false; }, 50);
  std::filesystem::remove_all(workDir);
}

}  // namespace
}  // namespace corral::agent

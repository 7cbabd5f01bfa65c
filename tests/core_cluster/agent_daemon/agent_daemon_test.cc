// The agent daemon stops while a status post to its master is in flight: the
// answer arriving afterwards must not call into the destroyed daemon (run it
// under ASan: -DCORRAL_SANITIZE=ON). With the daemon's fetch not owned by it
// (the code before CancelHandle), ASan reports a heap-use-after-free in the
// post's callback here; with masterCalls_ owning it, the test passes clean.
#include "core_cluster/agent_daemon/agent_daemon.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
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

}  // namespace
}  // namespace corral::agent

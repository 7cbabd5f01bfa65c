// Issue 10 end to end with real processes: a master started with agent
// credentials (--credentials) and API users (--http-credentials-file), agents
// with their --credential. Nobody without the right credential launches,
// registers or changes anything; a viewer only reads; corral dns follows the
// master with a viewer's credentials.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "core_cluster/auth/credentials.h"
#include "tests/integration/secure_cluster.h"

namespace corral::it {
namespace {

namespace fs = std::filesystem;

class SecurityTest : public SecureClusterFixture {
 protected:
  // No task of the app anywhere: not in the master, not on any agent.
  void expectNothingLaunched(const std::string& taskPrefix) {
    for (const auto& a : agents_) {
      for (const auto& t : agentState(a).value("tasks", Json::array())) {
        EXPECT_NE(t.value("id", "").rfind(taskPrefix, 0), 0u) << "launched: " << t.dump();
      }
      if (fs::exists(a.workDir + "/sandboxes")) {
        for (const auto& e : fs::directory_iterator(a.workDir + "/sandboxes")) {
          EXPECT_NE(e.path().filename().string().rfind(taskPrefix, 0), 0u) << e.path();
        }
      }
    }
  }
};

TEST_F(SecurityTest, AgentRefusesCallsThatDoNotComeFromItsMaster) {
  startSecureCluster(71, 1);
  const AgentProc& a = agents_[0];
  const std::string launch =
      R"({"tasks":[{"taskId":"evil.1","appId":"/evil","cmd":"touch /tmp/corral-evil"}]})";
  for (const http::Headers& h :
       {http::Headers{}, http::Headers{{"Authorization", "Bearer forged-token"}},
        basic("agent-1", "agent-secret"), basic("admin", "admin-pw")}) {
    auto r = client_.request("POST", a.ip, a.port, "/internal/launch", launch, h);
    EXPECT_EQ(r.status, 401) << r.body;
    r = client_.request("POST", a.ip, a.port, "/internal/kill", R"({"taskId":"x"})", h);
    EXPECT_EQ(r.status, 401) << r.body;
  }
  client_.pump(300);
  expectNothingLaunched("evil");
  auto m = client_.request("GET", a.ip, a.port, "/metrics", "", agentHeaders_);
  EXPECT_NE(m.body.find("corral_agent_auth_failures_total 8"), std::string::npos);
  // The real master still commands it.
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/good")).status, 201);
  EXPECT_TRUE(waitAppStable("/good", 1));
}

TEST_F(SecurityTest, MasterRefusesRogueAgents) {
  startSecureCluster(73, 1);
  Json reg{{"hostname", "127.73.0.9"}, {"port", 5051}, {"resources", "cpus:64;mem:65536"}};
  for (const http::Headers& h : {http::Headers{}, basic("agent-1", "wrong"),
                                 basic("rogue", "agent-secret"), basic("admin", "admin-pw")}) {
    auto r = client_.request("POST", masterIp_, masterPort_, "/internal/agents/register",
                             dumpJson(reg), h);
    EXPECT_EQ(r.status, 401) << r.body;
  }
  std::string id = api("GET", "/v1/agents").json()["agents"][0].value("id", "");
  for (const std::string& path :
       {"/internal/agents/" + id + "/heartbeat", "/internal/agents/" + id + "/drain",
        std::string("/internal/status")}) {
    auto r = client_.request("POST", masterIp_, masterPort_, path,
                             R"({"agentId":")" + id + R"(","updates":[]})", {});
    EXPECT_EQ(r.status, 401) << path << " " << r.body;
  }
  // A rogue agent process with a wrong credential never becomes an agent.
  std::string rogueCred = writeSecret(dir_ + "/rogue.credential", "agent-1 guessed\n");
  Child rogue = spawnProcess(
      "rogue agent",
      {corralBin(), "agent", "--ip", "127.73.0.9", "--port", std::to_string(freePort("127.73.0.9")),
       "--master", masterIp_ + ":" + std::to_string(masterPort_), "--resources",
       "cpus:64;mem:65536;ports:[31000-31100]", "--work-dir", dir_ + "/rogue", "--credential",
       rogueCred},
      dir_ + "/rogue.log");
  client_.pump(2500);
  Json agents = api("GET", "/v1/agents").json()["agents"];
  EXPECT_EQ(agents.size(), 1u) << agents.dump();
  for (const auto& a : agents) EXPECT_NE(a.value("hostname", ""), "127.73.0.9");
  EXPECT_NE(tailLog(dir_ + "/rogue.log", 50).find("status 401"), std::string::npos)
      << tailLog(dir_ + "/rogue.log", 20);
  stopProcess(rogue, 5000);
  auto m = api("GET", "/metrics?format=prometheus");
  EXPECT_NE(m.body.find("corral_master_agent_auth_refusals_total{reason=\"unauthenticated\"}"),
            std::string::npos);
  EXPECT_NE(tailLog(dir_ + "/master.log", 200).find("agent credential"), std::string::npos);
}

TEST_F(SecurityTest, ApiRefusesWithoutCredentialsAndViewersOnlyRead) {
  startSecureCluster(74, 1);
  auto noAuth = [&](const std::string& method, const std::string& target,
                    const std::string& body = "") {
    return client_.request(method, masterIp_, masterPort_, target, body, {});
  };
  auto as = [&](const http::Headers& h, const std::string& method, const std::string& target,
                const std::string& body = "") {
    return client_.request(method, masterIp_, masterPort_, target, body, h);
  };
  EXPECT_EQ(noAuth("GET", "/ping").status, 200);
  auto r = noAuth("POST", "/v2/apps", sleepApp("/x"));
  EXPECT_EQ(r.status, 401);
  bool challenged = false;
  for (const auto& [k, v] : r.headers) challenged |= k == "WWW-Authenticate";
  EXPECT_TRUE(challenged);
  EXPECT_EQ(as(basic("admin", "nope"), "POST", "/v2/apps", sleepApp("/x")).status, 401);
  EXPECT_EQ(noAuth("GET", "/v2/apps").status, 401);
  EXPECT_EQ(noAuth("GET", "/metrics").status, 401);
  http::Headers viewer = basic("watcher", "watch-pw");
  EXPECT_EQ(as(viewer, "POST", "/v2/apps", sleepApp("/x")).status, 403);
  client_.pump(300);
  EXPECT_EQ(api("GET", "/v2/apps/x").status, 404);
  expectNothingLaunched("x.");

  // The admin creates; the viewer reads it, follows the events, changes nothing.
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/web")).status, 201);
  ASSERT_TRUE(waitAppStable("/web", 1));
  EXPECT_EQ(as(viewer, "GET", "/v2/apps/web").status, 200);
  EventStream events(client_, masterIp_, masterPort_, "", std::nullopt, viewer);
  EXPECT_TRUE(events.connected());
  EventStream anonymous(client_, masterIp_, masterPort_);
  EXPECT_FALSE(anonymous.connected());
  EXPECT_EQ(as(viewer, "PUT", "/v2/apps/web", R"({"instances":3})").status, 403);
  EXPECT_EQ(as(viewer, "DELETE", "/v2/apps/web").status, 403);
  EXPECT_EQ(as(viewer, "POST", "/v2/apps/web/restart").status, 403);
  EXPECT_EQ(as(viewer, "POST", "/v2/tasks/delete", R"({"ids":["x"]})").status, 403);
  EXPECT_EQ(as(viewer, "POST", "/v2/eventSubscriptions?callbackUrl=http://127.0.0.1:1/").status,
            403);
  client_.pump(300);
  Json app = api("GET", "/v2/apps/web").json()["app"];
  EXPECT_EQ(app.value("instances", 0), 1);
  EXPECT_EQ(app.value("tasksRunning", 0), 1);
  auto m = api("GET", "/metrics?format=prometheus");
  EXPECT_NE(m.body.find("corral_api_auth_refusals_total{reason=\"forbidden\"}"), std::string::npos);
}

TEST_F(SecurityTest, DnsFollowsTheMasterWithAViewerCredential) {
  startSecureCluster(75, 1);
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/named")).status, 201);
  ASSERT_TRUE(waitAppStable("/named", 1));
  std::string viewerFile = writeSecret(dir_ + "/viewer", "watcher:watch-pw\n");
  std::string ip = "127.75.0.20";
  int dnsPort = freePort(ip);
  int httpPort = freePort(ip);
  Child dns = spawnProcess(
      "dns",
      {corralBin(), "dns", "--listen", ip + ":" + std::to_string(dnsPort), "--http-listen",
       ip + ":" + std::to_string(httpPort), "--master",
       masterIp_ + ":" + std::to_string(masterPort_), "--master-credentials", viewerFile},
      dir_ + "/dns.log");
  bool named = client_.waitFor(
      [&] {
        auto r = client_.request("GET", ip, httpPort, "/v1/hosts/named.marathon.mesos");
        return r.status == 200 && r.body.find("127.75.0.2") != std::string::npos;
      },
      15000);
  EXPECT_TRUE(named) << tailLog(dir_ + "/dns.log", 30);
  stopProcess(dns, 5000);
}

}  // namespace
}  // namespace corral::it

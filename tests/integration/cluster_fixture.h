// A real cluster for integration tests: one master and N agents started as
// child processes (each in its own process group) from the corral binary, in
// a temporary work dir, on loopback addresses of their own. Every wait is
// bounded; teardown stops everything (SIGTERM, then SIGKILL) and prints the
// children's logs when the test failed.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/http_client.h"
#include "base/json.h"
#include "base/loop.h"
#include "base/tls/tls_context.h"

namespace corral::it {

struct HttpResult {
  int status = 0;  // 0: transport error (see error)
  std::string body;
  std::string error;
  http::Headers headers;
  Json json() const;
};

// Blocking HTTP over base/http_client on one loop. Streams opened on the same
// loop make progress whenever the loop runs (inside request() and pump()).
class Client {
 public:
  Loop& loop() { return loop_; }
  // With `tls`, HTTPS (the server's certificate verified against it).
  HttpResult request(const std::string& method, const std::string& host, int port,
                     const std::string& target, const std::string& body = "",
                     http::Headers headers = {}, uint64_t timeoutMs = 10000,
                     std::shared_ptr<const tls::Context> tls = nullptr);
  // Runs the loop for ms milliseconds.
  void pump(uint64_t ms);
  // Polls pred every pollMs until it holds or timeoutMs passes.
  bool waitFor(const std::function<bool()>& pred, uint64_t timeoutMs, uint64_t pollMs = 100);

 private:
  Loop loop_;
};

struct SseEvent {
  uint64_t id = 0;
  std::string type;
  Json data;
};

// A /v2/events subscription that collects events while the client loop runs.
class EventStream {
 public:
  EventStream(Client& client, const std::string& host, int port, const std::string& query = "",
              std::optional<uint64_t> lastEventId = std::nullopt, http::Headers headers = {});
  ~EventStream();
  void close();
  bool connected() const { return status_ == 200; }
  bool ended() const { return ended_; }
  const std::vector<SseEvent>& events() const { return events_; }
  const std::string& raw() const { return raw_; }
  // Waits until an event satisfies pred; returns it.
  std::optional<SseEvent> waitFor(const std::function<bool(const SseEvent&)>& pred,
                                  uint64_t timeoutMs);

 private:
  void onData(std::string_view chunk);
  Client& client_;
  CancelHandle handle_;
  std::shared_ptr<bool> alive_;
  int status_ = 0;
  bool ended_ = false;
  std::string buffer_;
  std::string raw_;
  std::vector<SseEvent> events_;
};

struct Child {
  std::string name;
  pid_t pid = -1;
  std::string logPath;
};

struct AgentProc {
  std::string ip;
  int port = 0;
  std::string workDir;
  std::string attributes;
  Child child;
};

// Finds a free TCP port on ip (binds port 0 and closes).
int freePort(const std::string& ip);

// Another corral process of a test's own (e.g. `corral proxy`): spawned in
// its own process group with output to logPath; stopped with SIGTERM, then
// SIGKILL after graceMs.
Child spawnProcess(const std::string& name, const std::vector<std::string>& args,
                   const std::string& logPath);
void stopProcess(Child& c, uint64_t graceMs);
// The last maxLines lines of a log, for failure dumps.
std::string tailLog(const std::string& path, size_t maxLines);

class ClusterFixture : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts a master on 127.<net>.0.1 and `agents` agents on 127.<net>.0.2…,
  // then waits for /ping and for every agent to be ACTIVE.
  void startCluster(int net, int agents, std::vector<std::string> masterArgs = {},
                    std::vector<std::string> attributes = {});
  void startMaster();
  void killMaster(int sig);  // sends sig to the master's group and reaps it
  void startAgent(size_t i);
  bool waitAgentsActive(size_t n, uint64_t timeoutMs = 20000);

  // Master API.
  std::string masterUrl() const;  // https://ip:port with masterTls_, else ip:port
  HttpResult api(const std::string& method, const std::string& target, const std::string& body = "",
                 http::Headers headers = {});
  Json getJson(const std::string& target);
  Json app(const std::string& id);  // {"app":…}["app"], or null
  std::vector<Json> tasks(const std::string& appId);
  // Waits until the app has no deployment and `instances` running (healthy
  // when it has health checks) tasks.
  bool waitAppStable(const std::string& appId, int instances, uint64_t timeoutMs = 30000);

  // Agent API.
  Json agentState(const AgentProc& a);
  const AgentProc* agentByIp(const std::string& ip) const;
  // pid of a task from its agent's /state, or -1.
  int taskPid(const std::string& host, const std::string& taskId);
  // GET / on a task; the body or "" on failure.
  std::string hitTask(const std::string& host, int port, uint64_t timeoutMs = 2000);

  // A shell command that execs the demo server.
  static std::string demoCmd(const std::string& prefix = "");
  static const char* corralBin();

  Client client_;
  std::string dir_;
  int net_ = 0;
  std::string masterIp_;
  int masterPort_ = 0;
  std::vector<std::string> masterArgs_;
  std::vector<std::string> agentArgs_;  // appended to every agent's command line
  http::Headers apiHeaders_;            // sent with every api() call (e.g. Authorization)
  http::Headers agentHeaders_;          // sent with agentState() (a secured agent's reads)
  // A master serving HTTPS (--tls-cert): api() speaks HTTPS trusting this
  // context, agents get --master https://… --ca-file masterCaFile_.
  std::shared_ptr<const tls::Context> masterTls_;
  std::string masterCaFile_;
  Child master_;
  std::vector<AgentProc> agents_;
  std::vector<Child> retired_;  // children already stopped, for the log dump
};

bool isHealthy(const Json& task);

}  // namespace corral::it

// The follower against the real scheduler: `corral master` and one
// `corral agent` run as child processes on dedicated loopback addresses; an app
// is posted, scaled and deleted through the v2 API, and the registry must see
// every step from the event stream.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/http_client.h"
#include "registry/marathon_follower.h"

#ifndef CORRAL_BINARY
#error "CORRAL_BINARY must name the corral executable"
#endif

namespace corral::registry {
namespace {

constexpr const char* kMasterIp = "127.0.0.181";
constexpr const char* kAgentIp = "127.0.0.182";
constexpr uint64_t kWaitMs = 20000;

// A port that was free a moment ago on ip (the master needs a concrete port to advertise).
int freePort(const char* ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = 0;
  inet_pton(AF_INET, ip, &a.sin_addr);
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

class Child {
 public:
  Child(std::vector<std::string> args, const std::string& logPath) : log_(logPath) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::setpgid(0, 0);  // its tasks die with it
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  ~Child() { stop(); }

  // SIGTERM, then wait (bounded), then SIGKILL. Returns true on a clean exit.
  bool stop() {
    if (pid_ <= 0) return true;
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        ::kill(-pid_, SIGKILL);  // leftovers of its process group, if any
        pid_ = -1;
        return true;
      }
      ::usleep(50 * 1000);
    }
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return false;
  }
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  std::string logTail() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string s = ss.str();
    return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
  }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

// One blocking-style request on the test loop; status -1 on a transport error.
http::Response call(Loop& loop, const std::string& host, int port, const std::string& method,
                    const std::string& target, const std::string& body = "") {
  http::Request req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.headers = {{"Content-Type", "application/json"}};
  http::Response out;
  out.status = -1;
  bool done = false;
  CancelHandle call = http::fetch(loop, host, port, req, [&](Result<http::Response> r) {
    if (r.ok()) out = std::move(*r);
    done = true;
  });
  loop.runUntil([&] { return done; }, 15000);
  return out;
}

const Task* firstTask(const Snapshot& s, const std::string& app) {
  const App* a = s.find(app);
  return a && !a->tasks.empty() ? &a->tasks.front() : nullptr;
}

size_t runningTasks(const Snapshot& s, const std::string& app) {
  const App* a = s.find(app);
  if (!a) return 0;
  size_t n = 0;
  for (const auto& t : a->tasks) n += t.running() ? 1 : 0;
  return n;
}

TEST(RegistryCluster, FollowsARealMasterThroughScaleUpAndDown) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("corral-registry-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "master");
  fs::create_directories(dir / "agent");
  int masterPort = freePort(kMasterIp);
  int agentPort = freePort(kAgentIp);
  ASSERT_GT(masterPort, 0);
  ASSERT_GT(agentPort, 0);
  std::string master = std::string(kMasterIp) + ":" + std::to_string(masterPort);

  Child masterProc(
      {CORRAL_BINARY, "master", "--listen", master, "--work-dir", (dir / "master").string()},
      (dir / "master.log").string());
  Child agentProc({CORRAL_BINARY, "agent", "--ip", kAgentIp, "--port", std::to_string(agentPort),
                   "--master", master, "--work-dir", (dir / "agent").string(), "--resources",
                   "cpus:4;mem:4096;disk:1000;ports:[31000-31100]"},
                  (dir / "agent.log").string());
  {
    Loop loop;
    FollowerOptions o;
    o.masters = {master};
    o.metricsLabels = "test=\"cluster\"";
    auto created = MarathonFollower::create(loop, o);
    ASSERT_TRUE(created.ok());
    auto follower = std::move(*created);
    std::vector<Diff> diffs;
    follower->subscribe(
        [&](std::shared_ptr<const Snapshot>, const Diff& d) { diffs.push_back(d); });
    follower->start();
    ASSERT_TRUE(loop.runUntil([&] { return follower->live() && follower->current()->version >= 1; },
                              kWaitMs))
        << "master log:\n"
        << masterProc.logTail();
    EXPECT_EQ(follower->current()->leader, master);

    // Post an app with two instances (retry while the master is still starting).
    const std::string app = R"({"id":"/regtest","cmd":"exec sleep 100","instances":2,
        "cpus":0.1,"mem":16,"portDefinitions":[{"port":0,"name":"http"}]})";
    http::Response posted;
    ASSERT_TRUE(loop.runUntil(
        [&] {
          posted = call(loop, kMasterIp, masterPort, "POST", "/v2/apps", app);
          return posted.status == 201;
        },
        kWaitMs))
        << posted.status << " " << posted.body;

    ASSERT_TRUE(
        loop.runUntil([&] { return runningTasks(*follower->current(), "/regtest") == 2; }, kWaitMs))
        << "agent log:\n"
        << agentProc.logTail() << "\nmaster log:\n"
        << masterProc.logTail();
    auto snap = follower->current();
    const App* a = snap->find("/regtest");
    ASSERT_TRUE(a);
    ASSERT_EQ(a->portDefinitions.size(), 1u);
    EXPECT_EQ(a->portDefinitions[0].name, "http");
    EXPECT_GE(a->portDefinitions[0].port, 10000);  // a service port was assigned
    const Task* t = firstTask(*snap, "/regtest");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->host, kAgentIp);
    EXPECT_FALSE(t->agentId.empty());
    ASSERT_EQ(t->ports.size(), 1u);
    EXPECT_GE(t->ports[0], 31000);
    EXPECT_LE(t->ports[0], 31100);
    EXPECT_EQ(t->servicePorts, std::vector<int>{a->portDefinitions[0].port});
    EXPECT_GT(snap->lastEventArrivedMs, 0);
    // The events alone got us here: one full load.
    EXPECT_GT(snap->version, 1u);

    // Scale to zero: the tasks go.
    http::Response scaled =
        call(loop, kMasterIp, masterPort, "PUT", "/v2/apps/regtest", R"({"instances":0})");
    ASSERT_EQ(scaled.status, 200) << scaled.body;
    ASSERT_TRUE(loop.runUntil(
        [&] {
          const App* x = follower->current()->find("/regtest");
          return x && x->tasks.empty();
        },
        kWaitMs))
        << "agent log:\n"
        << agentProc.logTail();

    // Delete it: the app goes.
    http::Response deleted = call(loop, kMasterIp, masterPort, "DELETE", "/v2/apps/regtest");
    ASSERT_EQ(deleted.status, 200) << deleted.body;
    ASSERT_TRUE(
        loop.runUntil([&] { return follower->current()->find("/regtest") == nullptr; }, kWaitMs));
    EXPECT_FALSE(diffs.empty());
    EXPECT_EQ(diffs.back().removed, std::vector<std::string>{"/regtest"});

    follower->stop();
    follower.reset();
    EXPECT_TRUE(loop.runUntil([&] { return uv_loop_alive(loop.raw()) == 0; }, 5000));
  }
  EXPECT_TRUE(agentProc.stop());
  EXPECT_TRUE(masterProc.stop());
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace corral::registry

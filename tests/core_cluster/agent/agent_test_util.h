// Shared helpers for the agent runtime tests: a loop that runs until a condition holds.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "core_cluster/agent/task_runner.h"

namespace corral::agent::testing {

inline std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void writeFile(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

// A port nobody listens on right now (bound to port 0 and released).
inline uint16_t freePort(const char* host = "127.0.0.1") {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, host, &addr.sin_addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return 0;
  }
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "corral-agent-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A loop plus a TaskRunner on it; every test ends with all handles closed and the loop closed.
class RunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(uv_loop_init(&loop_), 0);
    makeRunner({});
  }

  void TearDown() override {
    bool done = false;
    runner_->shutdown([&] { done = true; });
    EXPECT_TRUE(runUntil([&] { return done; }, 15)) << "runner did not close";
    EXPECT_TRUE(runner_->closed());
    runner_.reset();
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  // Pool over the given ports (each its own range), or a fresh free port when empty.
  void makeRunner(std::vector<uint16_t> ports, const char* host = "127.0.0.1",
                  TaskRunner::Options options = {}) {
    if (runner_) {
      bool done = false;
      runner_->shutdown([&] { done = true; });
      ASSERT_TRUE(runUntil([&] { return done; }, 15));
      runner_.reset();
    }
    if (ports.empty()) {
      for (int i = 0; i < 3; ++i) ports.push_back(freePort(host));
    }
    std::vector<PortRange> ranges;
    for (uint16_t p : ports) ranges.push_back({p, p});
    auto pool = PortPool::create(ranges);
    ASSERT_TRUE(pool.ok()) << pool.error().message;
    pool_ = std::make_unique<PortPool>(std::move(*pool));
    runner_ = std::make_unique<TaskRunner>(
        &loop_, pool_.get(), [this](const TaskStatus& s) { statuses_.push_back(s); }, options);
  }

  // Runs the loop until pred() holds or `seconds` pass; returns pred().
  bool runUntil(const std::function<bool()>& pred, double seconds = 10) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    uv_timer_t tick;
    uv_timer_init(&loop_, &tick);
    uv_timer_start(
        &tick, [](uv_timer_t*) {}, 10, 10);  // wake up at least every 10 ms
    while (!pred() && std::chrono::steady_clock::now() < deadline) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return pred();
  }

  TaskLaunch baseLaunch(const std::string& id, const std::string& cmd) {
    TaskLaunch l;
    l.taskId = id;
    l.appId = "/test/app";
    l.appVersion = "2024-01-01T00:00:00.000Z";
    l.cmd = cmd;
    l.sandboxRoot = dir_.path().string();
    l.killGracePeriodSeconds = 2;
    return l;
  }

  bool sawState(const std::string& id, TaskState state) const {
    for (const auto& s : statuses_) {
      if (s.taskId == id && s.state == state) return true;
    }
    return false;
  }
  std::optional<TaskStatus> lastStatus(const std::string& id) const {
    for (auto it = statuses_.rbegin(); it != statuses_.rend(); ++it) {
      if (it->taskId == id) return *it;
    }
    return std::nullopt;
  }
  bool terminal(const std::string& id) const {
    auto s = lastStatus(id);
    return s && isTerminal(s->state);
  }
  std::vector<TaskStatus> statusesOf(const std::string& id) const {
    std::vector<TaskStatus> out;
    for (const auto& s : statuses_) {
      if (s.taskId == id) out.push_back(s);
    }
    return out;
  }
  std::filesystem::path sandbox(const std::string& id) const { return dir_.path() / id; }

  uv_loop_t loop_;
  TempDir dir_;
  std::unique_ptr<PortPool> pool_;
  std::unique_ptr<TaskRunner> runner_;
  std::vector<TaskStatus> statuses_;
};

}  // namespace corral::agent::testing

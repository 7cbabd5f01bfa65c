// An agent started on the work dir of a killed one kills the task process
// groups its predecessor recorded, wherever they run, but never a process
// that only reuses a recorded pid.
#include "core_cluster/agent_daemon/task_groups.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core_cluster/agent/process_info.h"

namespace corral::agent {
namespace {

namespace fs = std::filesystem;

// A task stand-in: its own session and process group (as the runner starts
// tasks), a child in the same group, running outside any sandbox.
pid_t startGroup() {
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    if (chdir("/") != 0) _exit(1);
    if (fork() == 0) {
      execl("/bin/sleep", "sleep", "60", nullptr);
      _exit(127);
    }
    execl("/bin/sleep", "sleep", "60", nullptr);
    _exit(127);
  }
  // Wait until it leads its own group.
  for (int i = 0; i < 500; ++i) {
    auto st = readProcessStat(pid);
    if (st && st->pgid == pid) break;
    usleep(10000);
  }
  return pid;
}

bool gone(pid_t pid) {
  auto st = readProcessStat(pid);
  return !st || st->state == 'Z';
}

class TaskGroupsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("task-groups-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "sandboxes");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(TaskGroupsTest, KillsRecordedGroupsAndSparesAReusedPid) {
  pid_t task = startGroup();
  pid_t other = startGroup();
  std::string record = (dir_ / "task_groups").string();
  {
    TaskGroupRecord r(record);
    r.add("web.1", task);
    r.add("web.2", other);
    r.add("gone", 999999999);  // no such process: not recorded
    EXPECT_EQ(r.size(), 2u);
  }
  // `other` stands for a process that got a recorded pid after the task
  // died: same pid, another start time.
  std::string text;
  {
    std::ifstream in(record);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("web.2 ", 0) == 0) {
        auto st = readProcessStat(other);
        line = "web.2 " + std::to_string(other) + " " + std::to_string(st->startTime + 7);
      }
      text += line + "\n";
    }
  }
  std::ofstream(record, std::ios::trunc) << text;

  EXPECT_EQ(killLeftoverTasks(record, (dir_ / "sandboxes").string()), 1);
  waitpid(task, nullptr, 0);
  EXPECT_TRUE(gone(task));
  EXPECT_FALSE(gone(other));
  EXPECT_FALSE(fs::exists(record));  // the new agent starts with an empty record
  ::kill(-other, SIGKILL);
  waitpid(other, nullptr, 0);
}

TEST_F(TaskGroupsTest, RemovedTasksAreNoLongerRecorded) {
  pid_t task = startGroup();
  std::string record = (dir_ / "task_groups").string();
  {
    TaskGroupRecord r(record);
    r.add("web.1", task);
    r.remove("web.1");
    EXPECT_EQ(r.size(), 0u);
  }
  EXPECT_EQ(killLeftoverTasks(record, (dir_ / "sandboxes").string()), 0);
  EXPECT_FALSE(gone(task));
  ::kill(-task, SIGKILL);
  waitpid(task, nullptr, 0);
}

}  // namespace
}  // namespace corral::agent

// Tasks run as unprivileged users under a root agent (issue 10): the app's
// `user` or the agent's --default-user (nobody), sandboxes only their user
// can read, a PID namespace per task so that tasks of the same user cannot
// signal each other, an unknown user failing the task with a message that
// names it, command health checks and fetched files as the task's user.
// Real master and agent processes; skipped unless the test runs as root.
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>

#include <fstream>
#include <sstream>

#include "tests/integration/cluster_fixture.h"

namespace corral::it {
namespace {

std::string appBody(const std::string& id, const std::string& cmd, Json extra = Json::object()) {
  Json j;
  j["id"] = id;
  j["cmd"] = cmd;
  j["instances"] = 1;
  j["cpus"] = 0.05;
  j["mem"] = 16;
  j["backoffSeconds"] = 1;
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return dumpJson(j);
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uid_t uidOf(const char* name) {
  passwd* pw = getpwnam(name);
  return pw != nullptr ? pw->pw_uid : static_cast<uid_t>(-1);
}

// Host pids of the processes of process group `pgid` owned by `uid`.
std::vector<int> processesOf(int pgid, uid_t uid) {
  std::vector<int> out;
  DIR* d = opendir("/proc");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0, group = 0;
    rest >> state >> ppid >> group;
    struct stat st {};
    if (group == pgid && ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 &&
        st.st_uid == uid) {
      out.push_back(pid);
    }
  }
  closedir(d);
  return out;
}

class TaskUserTest : public ClusterFixture {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "tasks switch users only under a root agent";
    ClusterFixture::SetUp();
  }
  void TearDown() override {
    if (!dir_.empty()) ClusterFixture::TearDown();  // skipped: nothing was started
  }

  // The running task of a one-instance app, once it has written `file` in its sandbox.
  struct Running {
    std::string taskId;
    std::string sandbox;
    int pid = 0;  // the task's process group (its launcher)
  };
  Running waitForFile(const std::string& appId, const std::string& file) {
    Running r;
    client_.waitFor(
        [&] {
          auto ts = tasks(appId);
          if (ts.empty() || ts[0].value("state", "") != "TASK_RUNNING") return false;
          r.taskId = ts[0].value("id", "");
          const AgentProc* a = agentByIp(ts[0].value("host", ""));
          if (a == nullptr) return false;
          r.sandbox = a->workDir + "/sandboxes/" + r.taskId;
          r.pid = taskPid(a->ip, r.taskId);
          return !readFile(r.sandbox + "/" + file).empty();
        },
        20000);
    return r;
  }
};

TEST_F(TaskUserTest, TasksRunAsNobodyOrTheAppsUserInSandboxesOfTheirOwn) {
  startCluster(31, 1);
  ASSERT_EQ(
      api("POST", "/v2/apps", appBody("/anon", "id -u > uid; id -g > gid; exec sleep 600")).status,
      201);
  ASSERT_EQ(api("POST", "/v2/apps",
                appBody("/daemonic", "id -u > uid; echo $HOME,$USER > env; exec sleep 600",
                        Json{{"user", "daemon"}}))
                .status,
            201);
  // The app JSON shows the user it was given (and none when it has none).
  EXPECT_EQ(app("/daemonic").value("user", ""), "daemon");
  EXPECT_TRUE(app("/anon").value("user", Json()).is_null()) << app("/anon").dump();

  Running anon = waitForFile("/anon", "uid");
  ASSERT_FALSE(anon.taskId.empty());
  EXPECT_EQ(readFile(anon.sandbox + "/uid"), std::to_string(uidOf("nobody")) + "\n");
  struct stat st {};
  ASSERT_EQ(::stat(anon.sandbox.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uidOf("nobody"));
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  ASSERT_EQ(::stat((anon.sandbox + "/stdout").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uidOf("nobody"));

  Running daemonic = waitForFile("/daemonic", "uid");
  ASSERT_FALSE(daemonic.taskId.empty());
  EXPECT_EQ(readFile(daemonic.sandbox + "/uid"), std::to_string(uidOf("daemon")) + "\n");
  passwd* pw = getpwnam("daemon");
  ASSERT_NE(pw, nullptr);
  EXPECT_EQ(readFile(daemonic.sandbox + "/env"), std::string(pw->pw_dir) + ",daemon\n");
}

TEST_F(TaskUserTest, ATaskCannotReadTheSandboxOfAnotherUsersTask) {
  startCluster(32, 1);
  ASSERT_EQ(
      api("POST", "/v2/apps", appBody("/holder", "echo s3cret > secret; exec sleep 600")).status,
      201);
  Running holder = waitForFile("/holder", "secret");
  ASSERT_FALSE(holder.taskId.empty());
  std::string cmd = "cat " + holder.sandbox + "/secret > out 2> err; echo $? > rc; exec sleep 600";
  ASSERT_EQ(api("POST", "/v2/apps", appBody("/snoop", cmd, Json{{"user", "daemon"}})).status, 201);
  Running snoop = waitForFile("/snoop", "rc");
  ASSERT_FALSE(snoop.taskId.empty());
  EXPECT_NE(readFile(snoop.sandbox + "/rc"), "0\n");
  EXPECT_EQ(readFile(snoop.sandbox + "/out"), "");
  EXPECT_NE(readFile(snoop.sandbox + "/err").find("Permission denied"), std::string::npos)
      << readFile(snoop.sandbox + "/err");
}

// Two tasks of one user (nobody): only the PID namespace keeps one from
// signalling the other. With --isolate-pids=false the same attack works,
// which shows what the namespace is for.
class TaskPidsTest : public TaskUserTest, public ::testing::WithParamInterface<bool> {};

TEST_P(TaskPidsTest, ATaskCannotSignalAnotherTasksProcessesOfTheSameUser) {
  bool isolate = GetParam();
  agentArgs_ = {"--isolate-pids", isolate ? "true" : "false"};
  startCluster(isolate ? 33 : 34, 1);
  ASSERT_EQ(api("POST", "/v2/apps", appBody("/target", "echo up > up; exec sleep 600")).status,
            201);
  Running target = waitForFile("/target", "up");
  ASSERT_GT(target.pid, 0);
  // The target's own process (sleep, as nobody), as the host sees it.
  std::vector<int> victims;
  client_.waitFor(
      [&] {
        victims = processesOf(target.pid, uidOf("nobody"));
        return !victims.empty();
      },
      5000);
  ASSERT_EQ(victims.size(), 1u);
  int victim = victims[0];
  std::string cmd = "kill -9 " + std::to_string(victim) + " 2> err; echo $? > rc; ls /proc | " +
                    "grep -c '^[0-9]' > procs; exec sleep 600";
  ASSERT_EQ(api("POST", "/v2/apps", appBody("/attacker", cmd)).status, 201);
  Running attacker = waitForFile("/attacker", "procs");
  ASSERT_FALSE(attacker.taskId.empty());
  if (isolate) {
    EXPECT_NE(readFile(attacker.sandbox + "/rc"), "0\n") << readFile(attacker.sandbox + "/err");
    EXPECT_EQ(::kill(victim, 0), 0) << "the target's process was killed";
    // Its own /proc: the reaper, the shell and ls (and grep) only.
    int procs = std::atoi(readFile(attacker.sandbox + "/procs").c_str());
    EXPECT_GT(procs, 0);
    EXPECT_LE(procs, 5);
  } else {
    EXPECT_EQ(readFile(attacker.sandbox + "/rc"), "0\n") << readFile(attacker.sandbox + "/err");
  }
}

INSTANTIATE_TEST_SUITE_P(IsolatePids, TaskPidsTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "On" : "Off"; });

TEST_F(TaskUserTest, UnknownUserFailsTheTaskWithAMessageNamingIt) {
  startCluster(35, 1);
  ASSERT_EQ(api("POST", "/v2/apps",
                appBody("/ghost", "exec sleep 600", Json{{"user", "no-such-user-xq"}}))
                .status,
            201);
  Json failure;
  ASSERT_TRUE(client_.waitFor(
      [&] {
        failure = getJson("/v2/apps/ghost?embed=app.lastTaskFailure")["app"].value(
            "lastTaskFailure", Json());
        return failure.is_object();
      },
      20000))
      << app("/ghost").dump();
  EXPECT_EQ(failure.value("state", ""), "TASK_FAILED");
  EXPECT_NE(failure.value("message", "").find("no-such-user-xq"), std::string::npos)
      << failure.dump();
  for (const auto& t : tasks("/ghost")) EXPECT_NE(t.value("state", ""), "TASK_RUNNING");
}

TEST_F(TaskUserTest, CommandHealthChecksAndFetchedFilesBelongToTheTaskUser) {
  startCluster(36, 1);
  std::string payload = dir_ + "/payload.txt";
  {
    std::ofstream out(payload);
    out << "hello\n";
  }
  ::chmod(payload.c_str(), 0644);
  // Healthy only when the check runs as nobody.
  Json check{{"protocol", "COMMAND"},
             {"command", Json{{"value", "test \"$(id -u)\" = " + std::to_string(uidOf("nobody"))}}},
             {"gracePeriodSeconds", 0},
             {"intervalSeconds", 1},
             {"timeoutSeconds", 5},
             {"delaySeconds", 0},
             {"maxConsecutiveFailures", 0}};
  ASSERT_EQ(api("POST", "/v2/apps",
                appBody("/checked", "cat payload.txt > copy; exec sleep 600",
                        Json{{"healthChecks", Json::array({check})},
                             {"fetch", Json::array({Json{{"uri", payload}}})}}))
                .status,
            201);
  Running r = waitForFile("/checked", "copy");
  ASSERT_FALSE(r.taskId.empty());
  EXPECT_EQ(readFile(r.sandbox + "/copy"), "hello\n");
  struct stat st {};
  ASSERT_EQ(::stat((r.sandbox + "/payload.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, uidOf("nobody"));
  EXPECT_TRUE(client_.waitFor(
      [&] {
        auto ts = tasks("/checked");
        return !ts.empty() && isHealthy(ts[0]);
      },
      20000))
      << Json(tasks("/checked")).dump();
}

}  // namespace
}  // namespace corral::it

#include "core_cluster/agent/task_runner.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <map>
#include <set>

#include "agent_test_util.h"

namespace corral::agent {
namespace {

using testing::readFile;
using testing::writeFile;
namespace fs = std::filesystem;

class TaskRunnerTest : public testing::RunnerTest {};

std::map<std::string, std::string> parseEnv(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

// /proc/<pid> gone, or a zombie nobody reaped yet: either way the process no longer runs.
bool processGone(int pid) {
  std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  if (stat.empty()) return true;
  size_t close = stat.rfind(')');
  return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] == 'Z';
}

TEST_F(TaskRunnerTest, RunsWithEnvironmentAndCapturesStdout) {
  TaskLaunch l = baseLaunch("web.1", "env > env.txt; echo hi; echo oops >&2; sleep 30");
  l.dynamicPortCount = 2;
  l.portNames = {"http-api", ""};
  l.env = {{"FOO", "bar baz"}};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return sawState("web.1", TaskState::kRunning); }));
  ASSERT_TRUE(runUntil([&] { return readFile(sandbox("web.1") / "stdout") == "hi\n"; }));
  ASSERT_TRUE(runUntil(
      [&] { return readFile(sandbox("web.1") / "env.txt").find("FOO=") != std::string::npos; }));

  auto info = runner_->task("web.1");
  ASSERT_TRUE(info.has_value());
  ASSERT_EQ(info->ports.size(), 2u);
  EXPECT_EQ(info->state, TaskState::kRunning);
  EXPECT_GT(info->pid, 0);
  EXPECT_EQ(info->sandbox, fs::absolute(sandbox("web.1")).string());
  const std::string p0 = std::to_string(info->ports[0]);
  const std::string p1 = std::to_string(info->ports[1]);
  EXPECT_TRUE(pool_->inUse(info->ports[0]));
  EXPECT_TRUE(pool_->inUse(info->ports[1]));

  auto env = parseEnv(readFile(sandbox("web.1") / "env.txt"));
  EXPECT_EQ(env["PORT0"], p0);
  EXPECT_EQ(env["PORT1"], p1);
  EXPECT_EQ(env["PORT"], p0);
  EXPECT_EQ(env["PORTS"], p0 + "," + p1);
  EXPECT_EQ(env["PORT_HTTP_API"], p0);
  EXPECT_EQ(env["HOST"], "127.0.0.1");
  EXPECT_EQ(env["MESOS_TASK_ID"], "web.1");
  EXPECT_EQ(env["MARATHON_APP_ID"], "/test/app");
  EXPECT_EQ(env["MARATHON_APP_VERSION"], "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(env["MESOS_SANDBOX"], info->sandbox);
  EXPECT_EQ(env["FOO"], "bar baz");

  auto out = runner_->readSandboxFile("web.1", "stdout", std::nullopt, 1024);
  ASSERT_TRUE(out.ok()) << out.error().message;
  EXPECT_EQ(out->data, "hi\n");
  auto err = runner_->readSandboxFile("web.1", "stderr", 0, 1024);
  ASSERT_TRUE(err.ok());
  EXPECT_EQ(err->data, "oops\n");
  EXPECT_FALSE(runner_->readSandboxFile("web.1", "../web.1/stdout", 0, 10).ok());
  EXPECT_EQ(runner_->readSandboxFile("nope", "stdout", 0, 10).error().kind, ErrorKind::kNotFound);

  // STAGING → STARTING → RUNNING, all with the pid once known.
  auto seq = statusesOf("web.1");
  ASSERT_GE(seq.size(), 3u);
  EXPECT_EQ(seq[0].state, TaskState::kStaging);
  EXPECT_EQ(seq[1].state, TaskState::kStarting);
  EXPECT_EQ(seq[2].state, TaskState::kRunning);
  EXPECT_EQ(seq[2].pid, info->pid);

  ASSERT_TRUE(runner_->kill("web.1", 0.0).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("web.1"); }));
  EXPECT_EQ(lastStatus("web.1")->state, TaskState::kKilled);
  EXPECT_FALSE(pool_->inUse(info->ports[0]));
  EXPECT_FALSE(pool_->inUse(info->ports[1]));
  EXPECT_EQ(runner_->liveTaskCount(), 0u);
  EXPECT_EQ(runner_->task("web.1")->state, TaskState::kKilled);
}

TEST_F(TaskRunnerTest, ExitCodesMapToStates) {
  ASSERT_TRUE(runner_->launch(baseLaunch("ok", "exit 0")).ok());
  ASSERT_TRUE(runner_->launch(baseLaunch("bad", "exit 3")).ok());
  ASSERT_TRUE(runner_->launch(baseLaunch("sig", "kill -9 $$")).ok());
  TaskLaunch args = baseLaunch("args", "");
  args.args = {"/bin/echo", "one arg", "$NOT_EXPANDED"};
  ASSERT_TRUE(runner_->launch(args).ok());
  ASSERT_TRUE(runUntil(
      [&] { return terminal("ok") && terminal("bad") && terminal("sig") && terminal("args"); }));
  EXPECT_EQ(lastStatus("ok")->state, TaskState::kFinished);
  EXPECT_EQ(lastStatus("ok")->message, "exited with status 0");
  EXPECT_EQ(lastStatus("bad")->state, TaskState::kFailed);
  EXPECT_EQ(lastStatus("bad")->message, "exited with status 3");
  EXPECT_EQ(lastStatus("sig")->state, TaskState::kFailed);
  EXPECT_EQ(lastStatus("sig")->message, "killed by signal 9");
  EXPECT_EQ(lastStatus("args")->state, TaskState::kFinished);
  EXPECT_EQ(readFile(sandbox("args") / "stdout"), "one arg $NOT_EXPANDED\n");
  EXPECT_EQ(runner_->task("bad")->exitStatus, 3);
  EXPECT_EQ(runner_->task("sig")->termSignal, 9);
  EXPECT_EQ(runner_->tasks().size(), 4u);
}

TEST_F(TaskRunnerTest, MissingExecutableFails) {
  TaskLaunch l = baseLaunch("missing", "");
  l.args = {"/no/such/binary"};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("missing"); }));
  EXPECT_EQ(lastStatus("missing")->state, TaskState::kFailed);
  EXPECT_EQ(lastStatus("missing")->reason, StatusReason::kLaunchFailed);
  EXPECT_NE(lastStatus("missing")->message.find("/no/such/binary"), std::string::npos);
}

TEST_F(TaskRunnerTest, RejectsBadLaunches) {
  TaskLaunch both = baseLaunch("both", "true");
  both.args = {"true"};
  EXPECT_FALSE(runner_->launch(both).ok());
  EXPECT_FALSE(runner_->launch(baseLaunch("../evil", "true")).ok());
  EXPECT_FALSE(runner_->launch(baseLaunch("", "true")).ok());
  TaskLaunch badCheck = baseLaunch("badcheck", "true");
  badCheck.healthChecks.push_back({});  // HTTP on portIndex 0, but no ports
  auto r = runner_->launch(badCheck);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().path, "/healthChecks(0)/portIndex");

  ASSERT_TRUE(runner_->launch(baseLaunch("dup", "sleep 30")).ok());
  auto dup = runner_->launch(baseLaunch("dup", "sleep 30"));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(runner_->kill("unknown").error().kind, ErrorKind::kNotFound);

  // Ports: a port outside the pool, and one already taken by a live task.
  TaskLaunch outside = baseLaunch("outside", "true");
  outside.ports = {1};
  EXPECT_FALSE(runner_->launch(outside).ok());
  TaskLaunch a = baseLaunch("a", "sleep 30");
  a.dynamicPortCount = 1;
  ASSERT_TRUE(runner_->launch(a).ok());
  TaskLaunch b = baseLaunch("b", "sleep 30");
  b.ports = runner_->task("a")->ports;
  auto taken = runner_->launch(b);
  ASSERT_FALSE(taken.ok());
  EXPECT_NE(taken.error().message.find("already in use"), std::string::npos);
  TaskLaunch tooMany = baseLaunch("many", "true");
  tooMany.dynamicPortCount = 3;
  auto many = runner_->launch(tooMany);
  ASSERT_FALSE(many.ok());
  EXPECT_NE(many.error().message.find("only 2 of 3 are free"), std::string::npos)
      << many.error().message;
  // Nothing failed launched anything.
  EXPECT_EQ(runner_->liveTaskCount(), 2u);
  EXPECT_FALSE(fs::exists(sandbox("both")));
}

TEST_F(TaskRunnerTest, KillSendsTermAndTheTaskExitsWithinGrace) {
  TaskLaunch l = baseLaunch("polite",
                            "trap 'echo got-term; exit 0' TERM; echo ready > ready; "
                            "while true; do sleep 0.05; done");
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return fs::exists(sandbox("polite") / "ready"); }));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(runner_->kill("polite", 10.0).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("polite"); }, 8));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto seq = statusesOf("polite");
  ASSERT_GE(seq.size(), 2u);
  EXPECT_EQ(seq[seq.size() - 2].state, TaskState::kKilling);
  EXPECT_EQ(seq.back().state, TaskState::kKilled);
  EXPECT_EQ(seq.back().reason, StatusReason::kKillRequested);
  EXPECT_NE(readFile(sandbox("polite") / "stdout").find("got-term"), std::string::npos);
}

TEST_F(TaskRunnerTest, TaskIgnoringTermIsKilledWithItsChildrenAfterGrace) {
  TaskLaunch l = baseLaunch(
      "stubborn", "trap '' TERM; sleep 1000 & echo $! > child.pid; echo ready > ready; wait");
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return fs::exists(sandbox("stubborn") / "ready"); }));
  int child = std::stoi(readFile(sandbox("stubborn") / "child.pid"));
  ASSERT_FALSE(processGone(child));
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(runner_->kill("stubborn", 0.3).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("stubborn"); }, 8));
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(290));
  EXPECT_EQ(lastStatus("stubborn")->state, TaskState::kKilled);
  EXPECT_NE(lastStatus("stubborn")->message.find("killed by signal 9"), std::string::npos);
  EXPECT_TRUE(runUntil([&] { return processGone(child); }, 5)) << "child " << child << " survived";
}

TEST_F(TaskRunnerTest, ChildrenDieWhenTheLeaderExits) {
  TaskLaunch l = baseLaunch("leader", "sleep 1000 & echo $! > child.pid; exit 0");
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("leader"); }));
  EXPECT_EQ(lastStatus("leader")->state, TaskState::kFinished);
  int child = std::stoi(readFile(sandbox("leader") / "child.pid"));
  EXPECT_TRUE(runUntil([&] { return processGone(child); }, 5));
}

TEST_F(TaskRunnerTest, SecondKillCanShortenTheGrace) {
  TaskLaunch l =
      baseLaunch("slow", "trap '' TERM; echo ready > ready; while true; do sleep 0.05; done");
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return fs::exists(sandbox("slow") / "ready"); }));
  ASSERT_TRUE(runner_->kill("slow", 60.0).ok());
  ASSERT_TRUE(runUntil([&] { return sawState("slow", TaskState::kKilling); }));
  ASSERT_TRUE(runner_->kill("slow", 0.0).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("slow"); }, 5));
  EXPECT_EQ(lastStatus("slow")->state, TaskState::kKilled);
  // Exactly one KILLING.
  int killing = 0;
  for (const auto& s : statusesOf("slow")) killing += s.state == TaskState::kKilling;
  EXPECT_EQ(killing, 1);
}

TEST_F(TaskRunnerTest, ShutdownKillsLiveTasksAndReportsThem) {
  ASSERT_TRUE(runner_->launch(baseLaunch("s1", "sleep 30")).ok());
  ASSERT_TRUE(runner_->launch(baseLaunch("s2", "trap '' TERM; sleep 30")).ok());
  ASSERT_TRUE(runUntil(
      [&] { return sawState("s1", TaskState::kRunning) && sawState("s2", TaskState::kRunning); }));
  bool done = false;
  runner_->shutdown([&] { done = true; });
  EXPECT_FALSE(runner_->launch(baseLaunch("late", "true")).ok());
  ASSERT_TRUE(runUntil([&] { return done; }, 5));
  EXPECT_EQ(lastStatus("s1")->state, TaskState::kKilled);
  EXPECT_EQ(lastStatus("s1")->reason, StatusReason::kShutdown);
  EXPECT_EQ(lastStatus("s2")->state, TaskState::kKilled);
}

TEST_F(TaskRunnerTest, FetchesLocalFileAndExtractsTarGzBeforeStart) {
  testing::TempDir src;
  writeFile(src.path() / "data.txt", "data-line");
  fs::create_directories(src.path() / "pkg");
  writeFile(src.path() / "pkg/hello.txt", "hello-from-archive");
  writeFile(src.path() / "run.sh", "#!/bin/sh\necho script-ran\n");
  std::string tarCmd =
      "tar -czf " + (src.path() / "bundle.tar.gz").string() + " -C " + src.path().string() + " pkg";
  ASSERT_EQ(std::system(tarCmd.c_str()), 0);

  TaskLaunch l = baseLaunch("fetcher", "cat data.txt; echo; cat pkg/hello.txt; echo; ./run.sh");
  l.fetch = {{(src.path() / "data.txt").string(), true, false, ""},
             {"file://" + (src.path() / "bundle.tar.gz").string(), true, false, ""},
             {(src.path() / "run.sh").string(), false, true, ""}};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("fetcher"); }));
  EXPECT_EQ(lastStatus("fetcher")->state, TaskState::kFinished) << lastStatus("fetcher")->message;
  EXPECT_EQ(readFile(sandbox("fetcher") / "stdout"), "data-line\nhello-from-archive\nscript-ran\n");
}

TEST_F(TaskRunnerTest, FetchFailureFailsTheTaskWithTheReason) {
  TaskLaunch l = baseLaunch("nofetch", "touch started");
  l.dynamicPortCount = 1;
  l.fetch = {{"/definitely/not/here.tgz", true, false, ""}};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("nofetch"); }));
  auto s = *lastStatus("nofetch");
  EXPECT_EQ(s.state, TaskState::kFailed);
  EXPECT_EQ(s.reason, StatusReason::kFetchFailed);
  EXPECT_NE(s.message.find("/definitely/not/here.tgz"), std::string::npos) << s.message;
  EXPECT_FALSE(fs::exists(sandbox("nofetch") / "started"));
  EXPECT_EQ(pool_->freeCount(), pool_->size());

  TaskLaunch https = baseLaunch("https", "true");
  https.fetch = {{"https://example.com/app.tgz", true, false, ""}};
  ASSERT_TRUE(runner_->launch(https).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("https"); }));
  EXPECT_NE(lastStatus("https")->message.find("https:// is not supported"), std::string::npos);
}

TEST_F(TaskRunnerTest, FetchesOverHttpFromAnotherTask) {
  // Task "server" serves its sandbox over HTTP; task "client" fetches a file from it.
  TaskLaunch server = baseLaunch("server",
                                 "echo served-content > file.txt; "
                                 "exec /usr/bin/python3 -m http.server $PORT0 --bind $HOST");
  server.dynamicPortCount = 1;
  HealthCheckSpec hc;
  hc.protocol = HealthCheckSpec::Protocol::kTcp;
  hc.gracePeriodSeconds = 30;
  hc.intervalSeconds = 0.1;
  hc.timeoutSeconds = 1;
  hc.delaySeconds = 0;
  server.healthChecks = {hc};
  ASSERT_TRUE(runner_->launch(server).ok());
  ASSERT_TRUE(runUntil([&] { return runner_->task("server")->healthy == true; }, 15));
  std::string base = "http://127.0.0.1:" + std::to_string(runner_->task("server")->ports[0]);

  TaskLaunch client = baseLaunch("client", "cat fetched.txt");
  client.fetch = {{base + "/file.txt", true, false, "fetched.txt"}};
  ASSERT_TRUE(runner_->launch(client).ok());
  TaskLaunch missing = baseLaunch("client404", "true");
  missing.fetch = {{base + "/nope.txt", true, false, ""}};
  ASSERT_TRUE(runner_->launch(missing).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("client") && terminal("client404"); }));
  EXPECT_EQ(lastStatus("client")->state, TaskState::kFinished) << lastStatus("client")->message;
  EXPECT_EQ(readFile(sandbox("client") / "stdout"), "served-content\n");
  EXPECT_EQ(lastStatus("client404")->state, TaskState::kFailed);
  EXPECT_NE(lastStatus("client404")->message.find("answered HTTP 404"), std::string::npos)
      << lastStatus("client404")->message;
}

TEST_F(TaskRunnerTest, KillDuringFetchNeverStartsTheTask) {
  // A listener that accepts connections (backlog) but never answers: the fetch hangs until its
  // timeout, and the kill must win.
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 8), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  TaskRunner::Options options;
  options.httpFetchTimeoutSeconds = 0.5;
  makeRunner({}, "127.0.0.1", options);

  TaskLaunch l = baseLaunch("hang", "touch started");
  l.dynamicPortCount = 1;
  l.fetch = {
      {"http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/slow.bin", true, false, ""}};
  ASSERT_TRUE(runner_->launch(l).ok());
  ASSERT_TRUE(runUntil([&] { return sawState("hang", TaskState::kStaging); }));
  ASSERT_TRUE(runner_->kill("hang").ok());
  ASSERT_TRUE(runUntil([&] { return terminal("hang"); }, 5));
  close(listener);
  auto seq = statusesOf("hang");
  ASSERT_EQ(seq.size(), 3u);
  EXPECT_EQ(seq[0].state, TaskState::kStaging);
  EXPECT_EQ(seq[1].state, TaskState::kKilling);
  EXPECT_EQ(seq[2].state, TaskState::kKilled);
  EXPECT_EQ(seq[2].message, "killed while fetching");
  EXPECT_FALSE(fs::exists(sandbox("hang") / "started"));
  EXPECT_EQ(pool_->freeCount(), pool_->size());
}

TEST_F(TaskRunnerTest, LiveTasksNeverShareAPort) {
  makeRunner({testing::freePort(), testing::freePort(), testing::freePort(), testing::freePort()});
  std::set<uint16_t> seen;
  for (int i = 0; i < 4; ++i) {
    TaskLaunch l = baseLaunch("t" + std::to_string(i), "sleep 30");
    l.dynamicPortCount = 1;
    ASSERT_TRUE(runner_->launch(l).ok());
    EXPECT_TRUE(seen.insert(runner_->task(l.taskId)->ports[0]).second);
  }
  TaskLaunch extra = baseLaunch("extra", "sleep 30");
  extra.dynamicPortCount = 1;
  EXPECT_FALSE(runner_->launch(extra).ok());
  // A port comes back only once its task is terminal.
  ASSERT_TRUE(runner_->kill("t2", 0.0).ok());
  EXPECT_FALSE(runner_->launch(extra).ok());
  ASSERT_TRUE(runUntil([&] { return terminal("t2"); }));
  ASSERT_TRUE(runner_->launch(extra).ok());
  EXPECT_EQ(runner_->task("extra")->ports[0], runner_->task("t2")->ports[0]);
}

}  // namespace
}  // namespace corral::agent

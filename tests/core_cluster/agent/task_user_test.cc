// Whom a task runs as (task_user.h) and the launcher's command line
// (task_launcher.h); the launcher itself runs in the integration tests.
#include "core_cluster/agent/task_user.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent_test_util.h"
#include "core_cluster/agent/task_launcher.h"

namespace corral::agent {
namespace {

TEST(TaskUserTest, LooksUpUsersAndNamesUnknownOnes) {
  auto nobody = lookupUser("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.error().message;
  EXPECT_EQ(nobody->name, "nobody");
  EXPECT_NE(nobody->uid, 0u);
  auto root = lookupUser("root");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->home, "/root");
  auto ghost = lookupUser("no-such-user-xq");
  ASSERT_FALSE(ghost.ok());
  EXPECT_EQ(ghost.error().kind, ErrorKind::kNotFound);
  EXPECT_NE(ghost.error().message.find("'no-such-user-xq'"), std::string::npos);
  EXPECT_FALSE(lookupUser("").ok());
}

TEST(TaskUserTest, AnAgentThatCannotSwitchRunsTasksAsItselfAndRefusesOthers) {
  RunAsPolicy p;
  p.switchUser = false;
  auto none = resolveTaskUser("", p);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  auto self = resolveTaskUser(currentUserName(), p);
  ASSERT_TRUE(self.ok());
  EXPECT_FALSE(self->has_value());
  std::string other = currentUserName() == "daemon" ? "nobody" : "daemon";
  auto refused = resolveTaskUser(other, p);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("'" + other + "'"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("not root"), std::string::npos);
}

TEST(TaskUserTest, AnAgentThatSwitchesUsesTheAppsUserOrItsDefault) {
  RunAsPolicy p;
  p.switchUser = true;
  p.defaultUser = "nobody";
  auto byDefault = resolveTaskUser("", p);
  ASSERT_TRUE(byDefault.ok());
  ASSERT_TRUE(byDefault->has_value());
  EXPECT_EQ((*byDefault)->name, "nobody");
  auto daemon = resolveTaskUser("daemon", p);
  ASSERT_TRUE(daemon.ok());
  EXPECT_EQ((*daemon)->name, "daemon");
  auto ghost = resolveTaskUser("no-such-user-xq", p);
  ASSERT_FALSE(ghost.ok());
  EXPECT_NE(ghost.error().message.find("no-such-user-xq"), std::string::npos);
}

TEST(TaskUserTest, ChownTreeGivesEverythingToTheUserWithoutFollowingLinks) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  testing::TempDir dir;
  auto base = dir.path();
  std::filesystem::create_directories(base / "sb/sub");
  std::ofstream(base / "sb/sub/f") << "x";
  std::ofstream(base / "outside") << "y";
  std::filesystem::create_symlink(base / "outside", base / "sb/link");
  auto nobody = lookupUser("nobody");
  ASSERT_TRUE(nobody.ok());
  ASSERT_TRUE(chownTree((base / "sb").string(), *nobody).ok());
  struct stat st {};
  for (const char* p : {"sb", "sb/sub", "sb/sub/f"}) {
    ASSERT_EQ(::stat((base / p).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, nobody->uid) << p;
  }
  ASSERT_EQ(::stat((base / "outside").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "followed the symlink out of the sandbox";
}

TEST(TaskUserTest, ChownTreeRefusesDeviceFilesAndClearsSetIdBits) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to give files away";
  auto nobody = lookupUser("nobody");
  ASSERT_TRUE(nobody.ok());
  testing::TempDir dir;
  auto sb = dir.path() / "sb";
  std::filesystem::create_directories(sb);
  std::ofstream(sb / "tool") << "#!/bin/sh\n";
  ASSERT_EQ(::chmod((sb / "tool").c_str(), 04755), 0);
  ASSERT_TRUE(chownTree(sb.string(), *nobody).ok());
  struct stat st {};
  ASSERT_EQ(::stat((sb / "tool").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  if (::mknod((sb / "mem").c_str(), S_IFCHR | 0600, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "cannot mknod here";
  }
  Status refused = chownTree(sb.string(), *nobody);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("device"), std::string::npos);
}

TEST(TaskUserTest, UserMayReadChecksEveryDirectoryAboveAndEverythingBelow) {
  auto nobody = lookupUser("nobody");
  ASSERT_TRUE(nobody.ok());
  EXPECT_TRUE(userMayRead("/etc/passwd", *nobody).ok());
  if (geteuid() != 0) GTEST_SKIP() << "the rest needs files nobody cannot read";
  testing::TempDir dir;
  auto open = dir.path() / "open";
  std::filesystem::create_directories(open / "sub");
  ::chmod(dir.path().c_str(), 0755);
  ::chmod(open.c_str(), 0755);
  ::chmod((open / "sub").c_str(), 0755);
  std::ofstream(open / "sub/public") << "x";
  ::chmod((open / "sub/public").c_str(), 0644);
  EXPECT_TRUE(userMayRead((open / "sub/public").string(), *nobody).ok());
  EXPECT_TRUE(userMayRead(open.string(), *nobody).ok());
  std::ofstream(open / "sub/secret") << "s";
  ::chmod((open / "sub/secret").c_str(), 0600);
  Status file = userMayRead((open / "sub/secret").string(), *nobody);
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.error().message.find("'nobody'"), std::string::npos);
  EXPECT_FALSE(userMayRead(open.string(), *nobody).ok()) << "a secret below a readable directory";
  ::chmod((open / "sub").c_str(), 0700);
  EXPECT_FALSE(userMayRead((open / "sub/public").string(), *nobody).ok()) << "no search above";
  std::filesystem::create_symlink(open / "sub/secret", dir.path() / "link");
  EXPECT_FALSE(userMayRead((dir.path() / "link").string(), *nobody).ok());
}

TEST(TaskUserTest, MakeTraversableAddsOnlySearchPermission) {
  testing::TempDir dir;
  auto d = dir.path() / "a/b";
  std::filesystem::create_directories(d);
  ::chmod((dir.path() / "a").c_str(), 0700);
  std::string changed = makeTraversable(d.string());
  EXPECT_NE(changed.find((dir.path() / "a").string()), std::string::npos) << changed;
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() / "a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0701u);
  EXPECT_EQ(makeTraversable(d.string()), "");  // nothing left to change
}

std::vector<const char*> cstrs(const std::vector<std::string>& v) {
  std::vector<const char*> out;
  for (const auto& s : v) out.push_back(s.c_str());
  return out;
}

TEST(TaskLauncherTest, ArgumentsRoundTrip) {
  LauncherArgs a{TaskUser{"nobody", 65534, 65533, "/"}, true, {"/bin/sh", "-c", "echo -- --uid"}};
  auto argv = launcherArgv("/proc/self/exe", a);
  EXPECT_EQ(argv[0], "/proc/self/exe");
  EXPECT_EQ(argv[1], kTaskLauncherCommand);
  auto c = cstrs(argv);
  auto back = parseLauncherArgs(static_cast<int>(c.size()), c.data());
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->user.name, "nobody");
  EXPECT_EQ(back->user.uid, 65534u);
  EXPECT_EQ(back->user.gid, 65533u);
  EXPECT_TRUE(back->isolatePids);
  EXPECT_EQ(back->command, a.command);
  a.isolatePids = false;
  argv = launcherArgv("x", a);
  c = cstrs(argv);
  back = parseLauncherArgs(static_cast<int>(c.size()), c.data());
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->isolatePids);
}

TEST(TaskLauncherTest, BadArgumentsAreRefused) {
  const std::vector<std::vector<std::string>> bad{
      {"corral"},
      {"corral", "agent"},
      {"corral", kTaskLauncherCommand, "--user", "nobody", "--uid", "1", "--gid", "1", "--"},
      {"corral", kTaskLauncherCommand, "--user", "nobody", "--uid", "1", "--", "true"},
      {"corral", kTaskLauncherCommand, "--user", "", "--uid", "1", "--gid", "1", "--", "true"},
      {"corral", kTaskLauncherCommand, "--user", "n", "--uid", "1x", "--gid", "1", "--", "true"},
      {"corral", kTaskLauncherCommand, "--user", "n", "--uid", "-1", "--gid", "1", "--", "true"},
      {"corral", kTaskLauncherCommand, "--user", "n", "--uid", "1", "--gid", "1", "--bogus", "--",
       "true"},
      {"corral", kTaskLauncherCommand, "--user"},
  };
  for (const auto& args : bad) {
    auto c = cstrs(args);
    EXPECT_FALSE(parseLauncherArgs(static_cast<int>(c.size()), c.data()).ok())
        << args.size() << " args";
  }
}

class RunAsRunnerTest : public testing::RunnerTest {};

TEST_F(RunAsRunnerTest, ARunnerThatCannotSwitchRefusesAnotherUserBeforeStarting) {
  TaskLaunch l = baseLaunch("other.1", "sleep 30");
  l.user = currentUserName() == "daemon" ? "nobody" : "daemon";
  Status st = runner_->launch(l);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find(l.user), std::string::npos) << st.error().message;
  EXPECT_FALSE(runner_->task("other.1").has_value());
  // Its own name is fine.
  TaskLaunch self = baseLaunch("self.1", "true");
  self.user = currentUserName();
  ASSERT_TRUE(runner_->launch(self).ok());
  EXPECT_TRUE(runUntil([&] { return sawState("self.1", TaskState::kFinished); }));
}

}  // namespace
}  // namespace corral::agent

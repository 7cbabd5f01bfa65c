#include "core_cluster/agent/task_launcher.h"

#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <optional>

#include <fmt/core.h>

namespace corral::agent {
namespace {

// Writes to stderr (the task's stderr file) without allocating: usable
// between fork and exec.
void say(const char* what, const char* detail = nullptr, int err = 0) {
  auto put = [](const char* s) {
    if (s != nullptr) (void)!::write(2, s, std::strlen(s));
  };
  put("corral task launcher: ");
  put(what);
  if (detail != nullptr) {
    put(" ");
    put(detail);
  }
  if (err != 0) {
    put(": ");
    put(std::strerror(err));
  }
  put("\n");
}

// Drops to the task's user. Order matters: supplementary groups and the
// group need root, so they go before the user id.
bool dropPrivileges(const TaskUser& u) {
  if (initgroups(u.name.c_str(), u.gid) != 0) {
    say("initgroups failed for", u.name.c_str(), errno);
    return false;
  }
  if (setgid(u.gid) != 0) {
    say("setgid failed for", u.name.c_str(), errno);
    return false;
  }
  if (setuid(u.uid) != 0) {
    say("setuid failed for", u.name.c_str(), errno);
    return false;
  }
  if (u.uid != 0 && setuid(0) == 0) {
    say("could regain root after dropping to", u.name.c_str());
    return false;
  }
  return true;
}

[[noreturn]] void execTask(const LauncherArgs& a, char** argv, const sigset_t& mask) {
  sigprocmask(SIG_SETMASK, &mask, nullptr);
  if (!dropPrivileges(a.user)) _exit(126);
  execvp(argv[0], argv);
  say("cannot run", argv[0], errno);
  _exit(127);
}

// The signals the launcher and the reaper leave to the task.
sigset_t heldSignals() {
  sigset_t s;
  sigemptyset(&s);
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGCHLD}) sigaddset(&s, sig);
  return s;
}

// pid 1 of the task's namespace: mounts its own /proc, starts the task, reaps
// every orphan, and reports the task's wait status on `report`.
[[noreturn]] void runReaper(const LauncherArgs& a, char** argv, const sigset_t& oldMask,
                            int report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
      mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) != 0) {
    say("cannot mount the task's own /proc", nullptr, errno);
    _exit(126);
  }
  pid_t task = fork();
  if (task < 0) {
    say("fork failed", nullptr, errno);
    _exit(126);
  }
  if (task == 0) {
    ::close(report);
    execTask(a, argv, oldMask);
  }
  sigset_t held = heldSignals();
  for (;;) {
    int sig = sigwaitinfo(&held, nullptr);
    if (sig != SIGCHLD) continue;  // the task's process group got it too
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == task) {
        (void)!::write(report, &status, sizeof status);
        _exit(0);  // the kernel kills what is left in the namespace
      }
    }
  }
}

// Ends this process the way the task ended.
[[noreturn]] void exitLike(int status) {
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : SIGKILL;
  rlimit noCore{0, 0};
  setrlimit(RLIMIT_CORE, &noCore);
  signal(sig, SIG_DFL);
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_UNBLOCK, &all, nullptr);
  raise(sig);
  _exit(128 + sig);
}

std::optional<uint32_t> number(const char* s) {
  uint32_t v = 0;
  const char* end = s + std::strlen(s);
  auto [p, ec] = std::from_chars(s, end, v);
  if (ec != std::errc() || p != end || p == s) return std::nullopt;
  return v;
}

}  // namespace

std::vector<std::string> launcherArgv(const std::string& launcherPath, const LauncherArgs& a) {
  std::vector<std::string> argv{
      launcherPath, kTaskLauncherCommand,       "--user", a.user.name,
      "--uid",      std::to_string(a.user.uid), "--gid",  std::to_string(a.user.gid)};
  if (a.isolatePids) argv.emplace_back("--isolate-pids");
  argv.emplace_back("--");
  argv.insert(argv.end(), a.command.begin(), a.command.end());
  return argv;
}

Result<LauncherArgs> parseLauncherArgs(int argc, const char* const* argv) {
  if (argc < 2 || std::strcmp(argv[1], kTaskLauncherCommand) != 0) {
    return makeError(ErrorKind::kInvalid, fmt::format("expected {}", kTaskLauncherCommand));
  }
  LauncherArgs a;
  bool haveUser = false, haveUid = false, haveGid = false;
  int i = 2;
  for (; i < argc; ++i) {
    std::string_view flag = argv[i];
    if (flag == "--") {
      ++i;
      break;
    }
    if (flag == "--isolate-pids") {
      a.isolatePids = true;
      continue;
    }
    if (i + 1 >= argc) return makeError(ErrorKind::kInvalid, fmt::format("{} needs a value", flag));
    const char* value = argv[++i];
    if (flag == "--user") {
      a.user.name = value;
      haveUser = !a.user.name.empty();
    } else if (flag == "--uid" || flag == "--gid") {
      auto n = number(value);
      if (!n) return makeError(ErrorKind::kInvalid, fmt::format("{}: bad id '{}'", flag, value));
      (flag == "--uid" ? haveUid : haveGid) = true;
      if (flag == "--uid") {
        a.user.uid = *n;
      } else {
        a.user.gid = *n;
      }
    } else {
      return makeError(ErrorKind::kInvalid, fmt::format("unknown flag '{}'", flag));
    }
  }
  if (!haveUser || !haveUid || !haveGid) {
    return makeError(ErrorKind::kInvalid, "--user, --uid and --gid are required");
  }
  for (; i < argc; ++i) a.command.emplace_back(argv[i]);
  if (a.command.empty()) return makeError(ErrorKind::kInvalid, "no command after --");
  return a;
}

int runTaskLauncher(int argc, char** argv) {
  auto parsed = parseLauncherArgs(argc, argv);
  if (!parsed.ok()) {
    say(parsed.error().message.c_str());
    return 126;
  }
  const LauncherArgs& a = *parsed;
  char** command = argv + (argc - static_cast<int>(a.command.size()));
  signal(SIGPIPE, SIG_DFL);
  sigset_t oldMask;
  sigprocmask(SIG_SETMASK, nullptr, &oldMask);
  if (!a.isolatePids) execTask(a, command, oldMask);

  sigset_t held = heldSignals();
  sigprocmask(SIG_BLOCK, &held, &oldMask);
  int report[2];
  if (pipe2(report, O_CLOEXEC) != 0) {
    say("pipe failed", nullptr, errno);
    return 126;
  }
  if (unshare(CLONE_NEWPID | CLONE_NEWNS) != 0) {
    say("cannot create the task's PID namespace", nullptr, errno);
    return 126;
  }
  pid_t reaper = fork();
  if (reaper < 0) {
    say("fork failed", nullptr, errno);
    return 126;
  }
  if (reaper == 0) {
    ::close(report[0]);
    runReaper(a, command, oldMask, report[1]);
  }
  ::close(report[1]);
  int reaperStatus = 0;
  while (waitpid(reaper, &reaperStatus, 0) < 0 && errno == EINTR) {
  }
  int taskStatus = 0;
  ssize_t n;
  while ((n = ::read(report[0], &taskStatus, sizeof taskStatus)) < 0 && errno == EINTR) {
  }
  // No report: the reaper itself failed (its exit code says why) or was killed.
  exitLike(n == static_cast<ssize_t>(sizeof taskStatus) ? taskStatus : reaperStatus);
}

bool canIsolatePids() {
  pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) _exit(unshare(CLONE_NEWPID | CLONE_NEWNS) == 0 ? 0 : 1);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace corral::agent

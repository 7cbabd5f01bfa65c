#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <csignal>
#include <string_view>

#include "base/fd_table.h"
#include "cli/commands.h"
#include "core_cluster/agent/task_launcher.h"

namespace {

// Every listener costs two descriptors per worker (its socket and the copy
// kept for a takeover) and every proxied connection two more: a proxy with
// 1,000 service ports and a few thousand clients is far past the usual soft
// limit of 1,024 while the hard limit is not. So the soft limit starts at
// the hard one, as nginx's worker_rlimit_nofile or Go's runtime do (libuv
// polls with epoll: no FD_SETSIZE bound).
void raiseOpenFileLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // The agent's task launcher (core_cluster/agent/task_launcher.h), before
  // anything changes signal dispositions the task would inherit.
  if (argc > 1 && std::string_view(argv[1]) == corral::agent::kTaskLauncherCommand) {
    return corral::agent::runTaskLauncher(argc, argv);
  }
  std::signal(SIGPIPE, SIG_IGN);
  raiseOpenFileLimit();
  // Before any thread: growing the table later stalls the thread that opens a
  // descriptor for an RCU grace period per doubling (base/fd_table.h).
  corral::reserveDescriptorTable();
  CLI::App app{"corral: cluster, service scheduler, reverse proxy and DNS in one binary"};
  app.require_subcommand(1);
  int exitCode = 0;
  corral::cli::addUpCommand(app, exitCode);
  corral::cli::addMasterCommand(app, exitCode);
  corral::cli::addAgentCommand(app, exitCode);
  corral::cli::addDnsCommand(app, exitCode);
  corral::cli::addProxyCommand(app, exitCode);
  corral::cli::addClientCommands(app, exitCode);
  corral::cli::addDemoServerCommand(app, exitCode);
  CLI11_PARSE(app, argc, argv);
  return exitCode;
}

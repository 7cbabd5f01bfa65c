#include <CLI/CLI.hpp>

#include <csignal>
#include <string_view>

#include "cli/commands.h"
#include "core_cluster/agent/task_launcher.h"

int main(int argc, char** argv) {
  // The agent's task launcher (core_cluster/agent/task_launcher.h), before
  // anything changes signal dispositions the task would inherit.
  if (argc > 1 && std::string_view(argv[1]) == corral::agent::kTaskLauncherCommand) {
    return corral::agent::runTaskLauncher(argc, argv);
  }
  std::signal(SIGPIPE, SIG_IGN);
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

// Subcommands of the single `corral` binary. main.cc only parses flags and
// dispatches; each command wires the libraries together.
#pragma once

#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace corral::cli {

// Each adds its subcommand to the app; the callback runs it and sets the exit code.
void addMasterCommand(CLI::App& app, int& exitCode);
void addAgentCommand(CLI::App& app, int& exitCode);
void addUpCommand(CLI::App& app, int& exitCode);
void addClientCommands(CLI::App& app, int& exitCode);
void addDemoServerCommand(CLI::App& app, int& exitCode);
void addDnsCommand(CLI::App& app, int& exitCode);
void addProxyCommand(CLI::App& app, int& exitCode);

// Absolute path of the running corral binary (for spawning parts and demo tasks).
std::string selfExe();

}  // namespace corral::cli

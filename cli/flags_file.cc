#include "cli/flags_file.h"

#include <spawn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/log.h"

extern char** environ;

namespace corral::cli {
namespace {

std::vector<std::string> ownCommandLine() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> out;
  std::string arg;
  while (std::getline(in, arg, '\0')) out.push_back(arg);
  return out;
}

}  // namespace

Status parseArgs(CLI::App& app, const std::vector<std::string>& args) {
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 pops from the back
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    return makeError(ErrorKind::kInvalid, e.what());
  }
  return Status::Ok();
}

Result<std::vector<std::string>> argsWithFlagsFile(const std::vector<std::string>& commandLine,
                                                   const std::string& path,
                                                   const FlagsCheck& check) {
  std::ifstream in(path);
  if (!in) return makeError(ErrorKind::kInvalid, path + ": " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  auto lines = parseFlagsText(text.str(), path);
  if (!lines.ok()) return lines.error();
  std::vector<std::string> all = commandLine;
  for (const FlagsLine& l : *lines) {
    Status s = check(l.tokens);
    if (!s.ok()) {
      std::string flag = l.tokens[0].substr(0, l.tokens[0].find('='));
      return makeError(ErrorKind::kInvalid, path + ":" + std::to_string(l.line) + ": " + flag +
                                                ": " + s.error().message);
    }
    all.insert(all.end(), l.tokens.begin(), l.tokens.end());
  }
  Status s = check(all);
  if (!s.ok()) return makeError(ErrorKind::kInvalid, path + ": " + s.error().message);
  return all;
}

std::vector<std::string> subcommandArgs(const std::string& name) {
  std::vector<std::string> args = ownCommandLine();
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == name) return std::vector<std::string>(args.begin() + i + 1, args.end());
  }
  return {};
}

Result<int> respawnSelf() {
  std::vector<std::string> args = ownCommandLine();
  if (args.empty()) return makeError(ErrorKind::kInternal, "cannot read /proc/self/cmdline");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv.data(), environ);
  if (rc != 0)
    return makeError(ErrorKind::kUnavailable,
                     std::string("cannot start a new process: ") + std::strerror(rc));
  return static_cast<int>(pid);
}

void reloadFlagsFile(const std::string& path, const std::function<Status()>& validate,
                     const reload::Takeover* takeover) {
  if (path.empty()) {
    log::warn("SIGHUP: no --flags-file to reload");
    return;
  }
  Status valid = validate();
  if (!valid.ok()) {
    log::error("SIGHUP: the running configuration stays: {}", valid.error().message);
    return;
  }
  if (takeover == nullptr) {
    log::error("SIGHUP: {} is valid, but applying it needs --takeover PATH", path);
    return;
  }
  if (takeover->draining()) {
    log::warn("SIGHUP: this process was taken over already; signal the new one");
    return;
  }
  auto pid = respawnSelf();
  if (!pid.ok()) {
    log::error("SIGHUP: {}", pid.error().message);
    return;
  }
  log::info("SIGHUP: {} is valid; pid {} takes over with it", path, *pid);
}

}  // namespace corral::cli

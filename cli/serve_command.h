// A long-running subcommand (`corral dns`, `corral proxy`) whose flags may
// also come from --flags-file, re-read on SIGHUP and applied by a
// self-takeover (--takeover). One implementation of parse → validate → start
// → serve for both; each command only defines its flags and their config.
//
// Flags has `std::string flagsFile` and `TakeoverFlags takeover`; Service has
// `static Result<std::unique_ptr<Service>> start(Loop&, Config)`, `stop()`
// and `ready()`.
#pragma once

#include <CLI/CLI.hpp>

#include <csignal>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/loop.h"
#include "base/result.h"
#include "cli/flags_file.h"
#include "cli/serve.h"

namespace corral::cli {

template <typename Flags, typename Config>
struct CommandSpec {
  std::string name;  // the subcommand, also the log component
  std::function<void(CLI::App*, Flags*)> define;
  // The service configuration of the flags; the error names the flag at fault.
  std::function<Result<Config>(const Flags&)> toConfig;

  // Parses `args` as the command would into *out and checks the result.
  Status parse(const std::vector<std::string>& args, Flags* out) const {
    CLI::App app(name);
    define(&app, out);
    Status s = parseArgs(app, args);
    if (!s.ok()) return s;
    auto c = toConfig(*out);
    if (!c.ok()) return c.error();
    return Status::Ok();
  }

  // The command line plus --flags-file `path`, validated completely.
  Result<Flags> withFile(const std::string& path) const {
    auto all =
        argsWithFlagsFile(subcommandArgs(name), path, [this](const std::vector<std::string>& a) {
          Flags scratch;
          return parse(a, &scratch);
        });
    if (!all.ok()) return all.error();
    Flags f;
    Status s = parse(*all, &f);
    if (!s.ok()) return s.error();
    return f;
  }
};

// Starts the service from `f` and serves until SIGTERM/SIGINT or a takeover
// has drained it; SIGHUP re-reads --flags-file. Returns the exit code.
template <typename Service, typename Flags, typename Config>
int runCommand(const CommandSpec<Flags, Config>& spec, const Flags& f) {
  log::setComponent(spec.name);
  auto c = spec.toConfig(f);
  if (!c.ok()) {
    log::error("{}", c.error().message);
    return 2;
  }
  Loop loop;
  auto takeover = f.takeover.begin(loop);
  if (!takeover.ok()) {
    log::error("{}", takeover.error().message);
    return 1;
  }
  auto service = Service::start(loop, std::move(*c));
  if (!service.ok()) return startupFailed(spec.name.c_str(), service.error());
  Service* s = service->get();
  reload::Takeover* t = takeover->get();
  // Both live until serveUntilSignal returns, like `hangup`.
  SignalWatcher hangup(loop, {SIGHUP}, [&spec, &f, t](int) {
    auto validate = [&spec, &f]() -> Status {
      auto next = spec.withFile(f.flagsFile);
      if (!next.ok()) return next.error();
      return Status::Ok();
    };
    reloadFlagsFile(f.flagsFile, validate, t);
  });
  return serveUntilSignal(loop, *s, spec.name.c_str(), t, [s] { return s->ready(); });
}

// Adds the subcommand to `app`; its exit code goes to `exitCode`.
template <typename Service, typename Flags, typename Config>
void addServeCommand(CLI::App& app, int& exitCode, CommandSpec<Flags, Config> spec,
                     const std::string& description) {
  auto shared = std::make_shared<CommandSpec<Flags, Config>>(std::move(spec));
  auto f = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(shared->name, description);
  shared->define(cmd, f.get());
  cmd->callback([shared, f, &exitCode] {
    if (f->flagsFile.empty()) {
      exitCode = runCommand<Service>(*shared, *f);
      return;
    }
    auto full = shared->withFile(f->flagsFile);
    if (!full.ok()) {
      log::error("{}", full.error().message);
      exitCode = 2;
      return;
    }
    exitCode = runCommand<Service>(*shared, *full);
  });
}

}  // namespace corral::cli

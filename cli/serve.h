// The tail every long-running subcommand shares: serve until SIGTERM or
// SIGINT, then stop the service cleanly and say so in one log line. With
// --takeover (reload/takeover.h) the process also hands its sockets to a
// newer generation and exits 0 once drained.
#pragma once

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>

#include "base/log.h"
#include "base/loop.h"
#include "base/result.h"
#include "reload/takeover.h"

namespace corral::cli {

// --takeover and --drain-timeout, shared by `corral proxy` and `corral dns`.
struct TakeoverFlags {
  std::string path;
  double drainTimeoutS = 30;

  void add(CLI::App* cmd) {
    cmd->add_option("--takeover", path,
                    "Unix socket for hitless restarts: a new process started with the same path "
                    "takes every listening socket from the running one, which then drains "
                    "(docs/TAKEOVER.md)");
    cmd->add_option("--drain-timeout", drainTimeoutS,
                    "Seconds a process that was taken over lets open connections finish")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
  }

  // Before the service binds anything: null without --takeover; an error
  // when the running process could not hand over.
  Result<std::unique_ptr<reload::Takeover>> begin(Loop& loop) const {
    if (path.empty()) return std::unique_ptr<reload::Takeover>();
    reload::TakeoverOptions o;
    o.path = path;
    o.drainTimeoutMs = static_cast<uint64_t>(drainTimeoutS * 1000);
    return reload::Takeover::begin(loop, o);
  }
};

// The one place a startup error's kind becomes an exit: a configuration the
// user must change (invalid) exits 2, like a bad flag; anything else (an
// address in use, a resource missing, a bug) exits 1. Returns the exit code.
inline int startupFailed(const char* what, const Error& e) {
  log::error("{} cannot start ({}): {}{}", what, toString(e.kind), e.message,
             e.path.empty() ? "" : " [at " + e.path + "]");
  return e.kind == ErrorKind::kInvalid ? 2 : 1;
}

// `service` is anything with stop() (idempotent); returns the exit code.
// With `takeover`: ready() says when this process may take over serving.
template <typename Service>
int serveUntilSignal(Loop& loop, Service& service, const char* what,
                     reload::Takeover* takeover = nullptr, std::function<bool()> ready = nullptr) {
  int exitCode = 0;
  bool drained = false;
  SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int sig) {
    log::info("signal {}: shutting down", sig);
    service.stop();
    loop.stop();
  });
  if (takeover != nullptr) {
    takeover->serve(
        std::move(ready),
        [&] {
          drained = true;
          service.stop();
          loop.stop();
        },
        [&](const std::string& why) {
          log::error("{}", why);
          exitCode = 1;
          service.stop();
          loop.stop();
        });
  }
  loop.run();
  if (takeover != nullptr) takeover->close();
  service.stop();
  log::info("{} stopped", what);
  if (drained) {
    // Taken over and drained: every connection and file is closed (stop()
    // joined the workers and wrote the access log out). Freeing the routes
    // one by one would take longer than the kernel dropping the whole heap
    // (150 ms at 100k routes), and a third process waiting to take over
    // waits for exactly this exit (at most two generations).
    std::_Exit(exitCode);
  }
  return exitCode;
}

}  // namespace corral::cli

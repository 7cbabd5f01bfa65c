// The ends every long-running subcommand shares: how it says it cannot
// start, and serving until SIGTERM or SIGINT, then stopping the service
// cleanly and saying so in one log line.
#pragma once

#include <csignal>

#include "base/log.h"
#include "base/loop.h"
#include "base/result.h"

namespace corral::cli {

// The one place a startup error's kind becomes an exit: a configuration the
// user must change (invalid) exits 2, like a bad flag; anything else (an
// address in use, a resource missing, a bug) exits 1. Returns the exit code.
inline int startupFailed(const char* what, const Error& e) {
  log::error("{} cannot start ({}): {}{}", what, toString(e.kind), e.message,
             e.path.empty() ? "" : " [at " + e.path + "]");
  return e.kind == ErrorKind::kInvalid ? 2 : 1;
}

// `service` is anything with stop() (idempotent); returns the exit code.
template <typename Service>
int serveUntilSignal(Loop& loop, Service& service, const char* what) {
  SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int sig) {
    log::info("signal {}: shutting down", sig);
    service.stop();
    loop.stop();
  });
  loop.run();
  service.stop();
  log::info("{} stopped", what);
  return 0;
}

}  // namespace corral::cli

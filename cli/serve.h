// The tail every long-running subcommand shares: serve until SIGTERM or
// SIGINT, then stop the service cleanly and say so in one log line.
#pragma once

#include <csignal>

#include "base/log.h"
#include "base/loop.h"

namespace corral::cli {

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

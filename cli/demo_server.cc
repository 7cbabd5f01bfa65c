// A tiny HTTP service used as the demo app and in tests: answers every
// request with which task, host and port served it.
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdlib>

#include "base/http_server.h"
#include "base/log.h"
#include "cli/commands.h"

namespace corral::cli {

namespace {
int runDemo(std::string host, int port) {
  log::setComponent("demo");
  if (host.empty()) host = std::getenv("HOST") ? std::getenv("HOST") : "127.0.0.1";
  if (port == 0 && std::getenv("PORT0")) port = std::atoi(std::getenv("PORT0"));
  std::string task = std::getenv("MESOS_TASK_ID") ? std::getenv("MESOS_TASK_ID") : "local";
  Loop loop;
  http::Server server(loop, [&](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    if (req.path == "/health") return ex->respond(http::Response::text(200, "ok\n"));
    ex->respond(http::Response::text(
        200, "hello from " + task + " at " + host + ":" + std::to_string(port) + "\n"));
  });
  auto bound = server.listen(host, port);
  if (!bound.ok()) {
    log::error("{}", bound.error().message);
    return 1;
  }
  log::info("demo server {} on {}:{}", task, host, *bound);
  SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int) {
    server.close();
    loop.stop();
  });
  loop.run();
  return 0;
}
}  // namespace

void addDemoServerCommand(CLI::App& app, int& exitCode) {
  auto host = std::make_shared<std::string>();
  auto port = std::make_shared<int>(0);
  auto* cmd = app.add_subcommand("demo-server", "A small HTTP service (the demo app)");
  cmd->add_option("--host", *host, "Bind address (default $HOST)");
  cmd->add_option("--port", *port, "Port (default $PORT0)");
  cmd->callback([host, port, &exitCode] { exitCode = runDemo(*host, *port); });
}

}  // namespace corral::cli

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
  // POST /health/fail turns /health into 503 (a task going unhealthy, for tests).
  bool failing = false;
  http::Server server(loop, [&](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    if (req.path == "/health/fail" && req.method == "POST") {
      failing = true;
      return ex->respond(http::Response::text(200, "failing health checks from now on\n"));
    }
    if (req.path == "/health") {
      return ex->respond(failing ? http::Response::text(503, "failing\n")
                                 : http::Response::text(200, "ok\n"));
    }
    http::Response r = http::Response::text(
        200, "hello from " + task + " at " + host + ":" + std::to_string(port) + "\n");
    // What the task saw, so that a proxy's rewrites can be checked.
    r.headers.emplace_back("X-Demo-Task", task);
    r.headers.emplace_back("X-Demo-Target", req.target);
    r.headers.emplace_back("X-Demo-Host", std::string(req.header("Host").value_or("")));
    ex->respond(std::move(r));
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

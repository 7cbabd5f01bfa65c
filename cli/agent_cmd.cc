#include <CLI/CLI.hpp>

#include <csignal>

#include "base/http_client.h"
#include "base/log.h"
#include "cli/commands.h"
#include "cli/master_endpoints.h"
#include "cli/serve.h"
#include "core_cluster/agent_daemon/agent_daemon.h"
#include "core_cluster/auth/credentials.h"

namespace corral::cli {

namespace {

struct AgentFlags {
  std::string master = "127.0.0.1:8080";
  std::string credential;
  std::string caFile;
  std::string httpCredentialsFile;
};

int runAgent(agent::AgentDaemonOptions o, const AgentFlags& f) {
  log::setComponent("agent " + o.ip);
  o.taskLauncher = "/proc/self/exe";  // this binary runs kTaskLauncherCommand
  if (!f.credential.empty()) {
    auto c = auth::loadCredential(f.credential);
    if (!c.ok()) {
      log::error("--credential: {}", c.error().message);
      return 2;
    }
    o.masterAuthorization = auth::basicAuthorization(c->principal, c->secret);
    log::info("authenticating to the master as principal '{}'", c->principal);
  }
  if (!f.httpCredentialsFile.empty()) {
    auto users = auth::loadHttpUsersFile(f.httpCredentialsFile);
    if (!users.ok()) {
      return startupFailed("agent", makeError(ErrorKind::kInvalid,
                                              "--http-credentials-file: " + users.error().message));
    }
    for (auto& u : *users) o.httpUsers.add(std::move(u));
  }
  auto endpoints = masterEndpoints({f.master}, f.caFile);
  if (!endpoints.ok()) return startupFailed("agent", endpoints.error());
  http::splitHostPort(endpoints->hostPorts.front(), 8080, &o.masterHost, &o.masterPort);
  o.masterTls = endpoints->tls;
  Loop loop;
  auto d = agent::AgentDaemon::create(loop, o);
  if (!d.ok()) return startupFailed("agent", d.error());
  bool stopping = false;
  SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int sig) {
    if (stopping) return;
    stopping = true;
    log::info("signal {}: killing tasks and shutting down", sig);
    (*d)->shutdown([&] { loop.stop(); });
  });
  loop.run();
  log::info("agent stopped");
  return 0;
}

}  // namespace

void addAgentCommand(CLI::App& app, int& exitCode) {
  auto o = std::make_shared<agent::AgentDaemonOptions>();
  auto f = std::make_shared<AgentFlags>();
  auto* cmd = app.add_subcommand("agent", "Run an agent that runs tasks for the master");
  cmd->add_option("--ip", o->ip, "Address to bind; tasks get it as $HOST")->capture_default_str();
  cmd->add_option("--port", o->port, "Agent API port")->capture_default_str();
  cmd->add_option("--master", f->master,
                  "Master address: host:port, http://host:port or https://host:port")
      ->capture_default_str();
  cmd->add_option("--resources", o->resources,
                  "Mesos syntax, e.g. 'cpus:4;mem:4096;disk:10000;ports:[31000-32000]'")
      ->capture_default_str();
  cmd->add_option("--attributes", o->attributes, "Mesos syntax, e.g. 'rack:a;zone:z1'");
  cmd->add_option("--work-dir", o->workDir, "Sandboxes and the agent id")->capture_default_str();
  cmd->add_option("--credential", f->credential,
                  "File with this agent's 'principal secret' (Mesos' format; mode 600), for a "
                  "master started with --credentials");
  cmd->add_option("--http-credentials-file", f->httpCredentialsFile,
                  "File of HTTP users who may read /state, /files/* and /metrics (the master's "
                  "format: 'user:password' a line; mode 600). With it or --credential those "
                  "endpoints need the master's token or such a user");
  cmd->add_option("--ca-file", f->caFile,
                  "PEM CA certificate(s) that an https:// master's certificate must chain to "
                  "(default: the system's CA store)");
  cmd->add_option("--default-user", o->defaultUser,
                  "User that tasks of apps without a 'user' run as, when the agent runs as root")
      ->capture_default_str();
  cmd->add_option_function<bool>(
      "--isolate-pids", [o](bool on) { o->isolatePids = on; },
      "true/false: each task in its own PID namespace, so it cannot see or signal another task's "
      "processes (root only; default true when the kernel allows it)");
  cmd->callback([o, f, &exitCode] { exitCode = runAgent(*o, *f); });
}

}  // namespace corral::cli

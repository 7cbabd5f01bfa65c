#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <csignal>
#include <tuple>

#include "base/clock.h"
#include "base/http_client.h"
#include "base/log.h"
#include "base/tls/tls_context.h"
#include "cli/commands.h"
#include "cli/serve.h"
#include "core_cluster/api/v2_api.h"
#include "core_cluster/auth/credentials.h"
#include "core_cluster/auth/http_users.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/master.h"
#include "core_cluster/scheduler/service_scheduler.h"
#include "core_cluster/state/log_state_store.h"

namespace corral::cli {

namespace {

struct MasterFlags {
  std::string listen = "127.0.0.1:8080";
  std::string workDir = ".corral/master";
  std::string frameworkName = "marathon";
  double agentPingTimeout = 10;
  double agentRemovalTimeout = 600;
  double offerTimeout = 5;
  std::string agentCredentials;                // --credentials FILE
  std::vector<std::string> httpCredentials;    // admin user:password
  std::vector<std::string> viewerCredentials;  // viewer user:password
  std::string httpCredentialsFile;
  std::string tlsCert;  // --tls-cert: with --tls-key, the API speaks HTTPS
  std::string tlsKey;
  int httpsPort = 0;  // --https-port: HTTPS there, plain HTTP stays on --listen
};

// The API's TLS context from the flags; null without --tls-cert.
Result<tls::ContextPtr> tlsFrom(const MasterFlags& f) {
  if (f.tlsCert.empty() != f.tlsKey.empty()) {
    return makeError(ErrorKind::kInvalid, "--tls-cert and --tls-key go together");
  }
  if (f.httpsPort != 0 && f.tlsCert.empty()) {
    return makeError(ErrorKind::kInvalid, "--https-port needs --tls-cert and --tls-key");
  }
  if (f.tlsCert.empty()) return tls::ContextPtr();
  return tls::loadServerContext(f.tlsCert, f.tlsKey);
}

// The v2 API's users from the flags; an error names the flag.
Result<auth::HttpUsers> httpUsersFrom(const MasterFlags& f) {
  auth::HttpUsers users;
  for (const auto& [list, role, flag] :
       {std::tuple{&f.httpCredentials, auth::HttpRole::kAdmin, "--http-credentials"},
        std::tuple{&f.viewerCredentials, auth::HttpRole::kViewer, "--http-viewer-credentials"}}) {
    for (const auto& text : *list) {
      auto u = auth::parseHttpUser(text, role);
      if (!u.ok())
        return makeError(ErrorKind::kInvalid, std::string(flag) + ": " + u.error().message);
      users.add(std::move(*u));
    }
  }
  if (!f.httpCredentialsFile.empty()) {
    auto list = auth::loadHttpUsersFile(f.httpCredentialsFile);
    if (!list.ok()) {
      return makeError(ErrorKind::kInvalid, "--http-credentials-file: " + list.error().message);
    }
    for (auto& u : *list) users.add(std::move(u));
  }
  return users;
}

bool isLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int runMaster(const MasterFlags& f) {
  log::setComponent("master");
  std::string host;
  int port;
  if (!http::splitHostPort(f.listen, 8080, &host, &port)) {
    log::error("--listen: expected host:port, got '{}'", f.listen);
    return 2;
  }
  auto users = httpUsersFrom(f);
  if (!users.ok()) {
    log::error("{}", users.error().message);
    return 2;
  }
  auto tlsContext = tlsFrom(f);
  if (!tlsContext.ok()) return startupFailed("master", tlsContext.error());
  master::MasterOptions mo;
  if (!f.agentCredentials.empty()) {
    auto creds = auth::loadCredentials(f.agentCredentials);
    if (!creds.ok()) {
      log::error("--credentials: {}", creds.error().message);
      return 2;
    }
    log::info("agents must authenticate: {} credential(s) from {}", creds->size(),
              f.agentCredentials);
    mo.agentCredentials = auth::CredentialSet(std::move(*creds));
  }
  if (!isLoopback(host) && (!mo.agentCredentials.enabled() || !users->enabled())) {
    log::warn(
        "listening on {} without {}: anyone who reaches it can {}. See the README's "
        "\"Credentials\" section.",
        host, mo.agentCredentials.enabled() ? "--http-credentials" : "--credentials",
        mo.agentCredentials.enabled() ? "run commands through the v2 API"
                                      : "register an agent and receive tasks");
  }
  auto store = state::LogStateStore::open(f.workDir);
  if (!store.ok()) {
    log::error("cannot open state in {}: {}", f.workDir, store.error().message);
    return 1;
  }
  auto state = (*store)->recover();
  if (!state.ok()) {
    log::error("cannot recover state from {}: {}", f.workDir, state.error().message);
    return 1;
  }
  Loop loop;
  events::EventBus bus(loop);
  // Ids keep increasing across restarts: start from the wall clock in microseconds.
  bus.setNextId(static_cast<uint64_t>(wallMs()) * 1000);
  mo.agentPingTimeoutMs = static_cast<uint64_t>(f.agentPingTimeout * 1000);
  mo.agentRemovalTimeoutMs = static_cast<uint64_t>(f.agentRemovalTimeout * 1000);
  mo.offerTimeoutMs = static_cast<uint64_t>(f.offerTimeout * 1000);
  master::Master m(loop, **store, mo);
  scheduler::SchedulerOptions so;
  so.frameworkName = f.frameworkName;
  scheduler::ServiceScheduler sched(loop, **store, bus, so);
  if (Status st = m.recover(*state); !st.ok()) {
    log::error("{}", st.error().message);
    return 1;
  }
  if (Status st = sched.recover(*state); !st.ok()) {
    log::error("{}", st.error().message);
    return 1;
  }
  m.addScheduler(&sched);
  api::ApiInfo info;
  info.advertisedAddress = host + ":" + std::to_string(port);
  info.frameworkId = f.frameworkName;
  api::V2Api v2(sched, m, bus, info);
  http::Handler handler = [&](http::Request& req, std::shared_ptr<http::Exchange> ex) {
    // /internal/* authenticates agents itself (their credentials, not API users).
    if (m.handleInternal(req, ex)) return;
    if (auth::refuseUnlessAllowed(*users, req,
                                  [&ex](http::Response r) { ex->respond(std::move(r)); })) {
      return;
    }
    v2.handle(req, ex);
  };
  // --listen speaks HTTPS with a certificate, unless --https-port puts HTTPS
  // on a port of its own (Marathon's --https_port) and leaves --listen plain.
  http::ServerOptions listenOptions;
  if (f.httpsPort == 0) listenOptions.tls = *tlsContext;
  http::Server server(loop, handler, listenOptions);
  auto bound = server.listen(host, port);
  if (!bound.ok()) return startupFailed("master", bound.error());
  std::unique_ptr<http::Server> httpsServer;
  int httpsBound = 0;
  if (f.httpsPort != 0) {
    http::ServerOptions httpsOptions;
    httpsOptions.tls = *tlsContext;
    httpsServer = std::make_unique<http::Server>(loop, handler, httpsOptions);
    auto b = httpsServer->listen(host, f.httpsPort);
    if (!b.ok()) return startupFailed("master", b.error());
    httpsBound = *b;
  }
  v2.setAdvertisedAddress(host + ":" + std::to_string(*bound));
  v2.setHttpsPort(listenOptions.tls ? *bound : httpsBound);
  m.start();
  sched.start();
  log::info("master listening on {}://{}:{} (v2 API, /v2/events, /metrics); state in {}",
            listenOptions.tls ? "https" : "http", host, *bound, f.workDir);
  if (httpsServer) log::info("master listening on https://{}:{} as well", host, httpsBound);
  SignalWatcher signals(loop, {SIGTERM, SIGINT}, [&](int sig) {
    log::info("signal {}: shutting down", sig);
    server.close();
    if (httpsServer) httpsServer->close();
    bus.closeAll();
    loop.stop();
  });
  loop.run();
  log::info("master stopped");
  return 0;
}

}  // namespace

void addMasterCommand(CLI::App& app, int& exitCode) {
  auto flags = std::make_shared<MasterFlags>();
  auto* cmd =
      app.add_subcommand("master", "Run a master with the built-in Marathon-compatible scheduler");
  cmd->add_option("--listen", flags->listen, "Address of the v2 API and the agent protocol")
      ->capture_default_str();
  cmd->add_option("--work-dir", flags->workDir, "Where the durable state lives")
      ->capture_default_str();
  cmd->add_option("--framework-name", flags->frameworkName, "Scheduler name (Mesos-DNS uses it)")
      ->capture_default_str();
  cmd->add_option("--agent-ping-timeout", flags->agentPingTimeout,
                  "Seconds without a heartbeat before an agent is unreachable")
      ->capture_default_str();
  cmd->add_option("--agent-removal-timeout", flags->agentRemovalTimeout,
                  "Seconds unreachable before an agent is removed")
      ->capture_default_str();
  cmd->add_option("--offer-timeout", flags->offerTimeout,
                  "Seconds before an unanswered offer is rescinded")
      ->capture_default_str();
  cmd->add_option("--credentials", flags->agentCredentials,
                  "File of the agent credentials accepted, one 'principal secret' a line "
                  "(Mesos' format; mode 600). Without it any agent may register");
  cmd->add_option("--http-credentials,--http_credentials", flags->httpCredentials,
                  "user:password of an API user who may do anything (repeatable). Without "
                  "any user the v2 API is open");
  cmd->add_option("--http-viewer-credentials,--http_viewer_credentials", flags->viewerCredentials,
                  "user:password of an API user who may only read: GET and the event stream "
                  "(repeatable)");
  cmd->add_option("--http-credentials-file", flags->httpCredentialsFile,
                  "File of API users, one a line: 'user:password' or 'admin user:password' or "
                  "'viewer user:password' (mode 600)");
  cmd->add_option("--tls-cert", flags->tlsCert,
                  "PEM certificate (chain) of the API: with --tls-key, --listen speaks HTTPS "
                  "(TLS 1.2+); clients then use https:// and --ca-file");
  cmd->add_option("--tls-key", flags->tlsKey, "PEM private key (unencrypted) of --tls-cert");
  cmd->add_option("--https-port,--https_port", flags->httpsPort,
                  "Serve HTTPS on this port of the --listen host and keep --listen plain HTTP "
                  "(Marathon's --https_port); without it --listen itself is HTTPS")
      ->check(CLI::Range(1, 65535));
  cmd->callback([flags, &exitCode] { exitCode = runMaster(*flags); });
}

}  // namespace corral::cli

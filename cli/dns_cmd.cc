// `corral dns`: an authoritative DNS server (Mesos-DNS names) fed by the
// scheduler's event stream, with Mesos-DNS's HTTP API and /metrics.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <thread>

#include "base/http_client.h"
#include "base/log.h"
#include "base/loop.h"
#include "cli/commands.h"
#include "cli/serve.h"
#include "dns/dns_service.h"

namespace corral::cli {

namespace {

struct DnsFlags {
  std::string listen = "0.0.0.0:53";
  std::string httpListen = "0.0.0.0:8123";
  std::vector<std::string> masters{"127.0.0.1:8080"};
  std::string domain = "mesos";
  std::string frameworkName = "marathon";
  uint32_t ttl = 5;
  std::vector<std::string> resolvers;
  bool noForward = false;
  bool enforceRfc952 = false;
  bool includeUnhealthy = false;
  int workers = 0;
};

int runDns(const DnsFlags& f) {
  log::setComponent("dns");
  dns::DnsServiceConfig c;
  std::string host;
  int port;
  if (!http::splitHostPort(f.listen, 53, &host, &port)) {
    log::error("--listen: expected ip:port, got '{}'", f.listen);
    return 2;
  }
  if (!http::splitHostPort(f.httpListen, 8123, &c.httpHost, &c.httpPort)) {
    log::error("--http-listen: expected ip:port, got '{}'", f.httpListen);
    return 2;
  }
  c.server.address = host;
  c.server.port = static_cast<uint16_t>(port);
  c.server.workers = f.workers > 0 ? f.workers : std::max(1u, std::thread::hardware_concurrency());
  c.server.resolvers = f.resolvers;
  c.server.forwarding = !f.noForward && !f.resolvers.empty();
  c.naming.domain = f.domain;
  c.naming.framework = f.frameworkName;
  c.naming.options.ttl = f.ttl;
  c.naming.options.enforceRfc952 = f.enforceRfc952;
  c.naming.options.onlyHealthy = !f.includeUnhealthy;
  c.naming.masters = f.masters;
  if (host != "0.0.0.0" && host != "::") c.naming.options.nameServerIps.push_back(host);

  Loop loop;
  auto service = dns::DnsService::start(loop, std::move(c));
  if (!service.ok()) return startupFailed("dns", service.error());
  return serveUntilSignal(loop, **service, "dns");
}

}  // namespace

void addDnsCommand(CLI::App& app, int& exitCode) {
  auto f = std::make_shared<DnsFlags>();
  auto* cmd =
      app.add_subcommand("dns", "Authoritative DNS (Mesos-DNS names) fed by the event stream");
  cmd->add_option("--listen", f->listen, "UDP+TCP address")->capture_default_str();
  cmd->add_option("--http-listen", f->httpListen, "Mesos-DNS HTTP API and /metrics")
      ->capture_default_str();
  cmd->add_option("--master", f->masters, "Marathon/corral master host:port (repeatable)")
      ->capture_default_str();
  cmd->add_option("--domain", f->domain, "Authoritative domain")->capture_default_str();
  cmd->add_option("--framework-name", f->frameworkName, "Scheduler name in names")
      ->capture_default_str();
  cmd->add_option("--ttl", f->ttl, "TTL of every record")->capture_default_str();
  cmd->add_option("--resolvers", f->resolvers, "Upstream resolvers for other names (ip[:port])");
  cmd->add_flag("--no-forward", f->noForward, "Answer REFUSED for names outside the domain");
  cmd->add_flag("--enforce-rfc952", f->enforceRfc952,
                "Labels start with a letter, at most 24 octets");
  cmd->add_flag("--include-unhealthy", f->includeUnhealthy,
                "Also list tasks failing health checks");
  cmd->add_option("--workers", f->workers, "UDP/TCP worker loops (default: one per core)");
  cmd->callback([f, &exitCode] { exitCode = runDns(*f); });
}

}  // namespace corral::cli

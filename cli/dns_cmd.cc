// `corral dns`: an authoritative DNS server (Mesos-DNS names) fed by the
// scheduler's event stream, with Mesos-DNS's HTTP API and /metrics.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <optional>
#include <thread>

#include "base/http_client.h"
#include "base/log.h"
#include "base/loop.h"
#include "cli/commands.h"
#include "cli/master_endpoints.h"
#include "cli/serve_command.h"
#include "dns/dns_service.h"

#include "core_cluster/auth/credentials.h"

namespace corral::cli {

namespace {

// Knot's recommended rate: far above what one resolver behind a /24 asks for
// the same kind of answer, far below what makes an amplifier.
constexpr uint32_t kDefaultRrlRate = 20;

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
  dns::RrlConfig rrl;
  std::optional<uint32_t> rrlRate;  // none: kDefaultRrlRate unless listening on loopback
  std::string masterCredentials;
  std::string caFile;
  TakeoverFlags takeover;
  std::string flagsFile;
};

void defineDnsFlags(CLI::App* cmd, DnsFlags* f) {
  cmd->add_option("--listen", f->listen, "UDP+TCP address")->capture_default_str();
  cmd->add_option("--http-listen", f->httpListen, "Mesos-DNS HTTP API and /metrics")
      ->capture_default_str();
  cmd->add_option("--master", f->masters,
                  "Marathon/corral master host:port, http://host:port or https://host:port "
                  "(repeatable)")
      ->capture_default_str();
  cmd->add_option(
      "--master-credentials", f->masterCredentials,
      "File with 'user:password' of a v2 API user (a viewer is enough; mode 600), for masters "
      "started with --http-credentials");
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
  cmd->add_option("--ca-file", f->caFile,
                  "PEM CA certificate(s) that https:// masters' certificates must chain to "
                  "(default: the system's CA store)");
  cmd->add_option_function<uint32_t>(
      "--rrl-rate", [f](uint32_t rate) { f->rrlRate = rate; },
      "Response rate limiting: UDP answers per second to one source prefix (/24, /56) and kind "
      "of answer; 0 turns it off (default: 20, or off when --listen is a loopback address)");
  cmd->add_option("--rrl-slip", f->rrl.slip,
                  "Every Nth answer over the rate goes out empty with TC (the client retries "
                  "over TCP), the others are dropped; 0: drop all, 1: truncate all")
      ->check(CLI::Range(0, 100))
      ->capture_default_str();
  cmd->add_option_function<unsigned>(
         "--rrl-ipv4-prefix",
         [f](unsigned n) { f->rrl.ipv4PrefixLength = static_cast<uint8_t>(n); },
         "IPv4 sources sharing one rate limit: this prefix length (default 24)")
      ->check(CLI::Range(0, 32));
  cmd->add_option_function<unsigned>(
         "--rrl-ipv6-prefix",
         [f](unsigned n) { f->rrl.ipv6PrefixLength = static_cast<uint8_t>(n); },
         "IPv6 sources sharing one rate limit: this prefix length (default 56)")
      ->check(CLI::Range(0, 128));
  cmd->add_option("--rrl-window", f->rrl.windowSeconds,
                  "Seconds a flood is remembered: a prefix is answered again once its rate over "
                  "about this window is below --rrl-rate")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  f->takeover.add(cmd);
  cmd->add_option("--flags-file", f->flagsFile,
                  "More of these flags, one per line; re-read on SIGHUP and, when valid, applied "
                  "by a takeover (needs --takeover; docs/TAKEOVER.md)");
}

// The service configuration of `f`; the error names the flag at fault.
Result<dns::DnsServiceConfig> toConfig(const DnsFlags& f) {
  dns::DnsServiceConfig c;
  std::string host;
  int port;
  if (!http::splitHostPort(f.listen, 53, &host, &port)) {
    return makeError(ErrorKind::kInvalid, "--listen: expected ip:port, got '" + f.listen + "'");
  }
  if (!http::splitHostPort(f.httpListen, 8123, &c.httpHost, &c.httpPort)) {
    return makeError(ErrorKind::kInvalid,
                     "--http-listen: expected ip:port, got '" + f.httpListen + "'");
  }
  if (f.masters.empty()) return makeError(ErrorKind::kInvalid, "--master: at least one is needed");
  c.server.address = host;
  c.server.port = static_cast<uint16_t>(port);
  c.server.workers = f.workers > 0 ? f.workers : std::max(1u, std::thread::hardware_concurrency());
  c.server.resolvers = f.resolvers;
  c.server.forwarding = !f.noForward && !f.resolvers.empty();
  c.server.rrl = f.rrl;
  // Loopback sources cannot be spoofed from elsewhere: nothing to limit there
  // unless asked (benchmarks and tests query from one source).
  bool loopback = host.rfind("127.", 0) == 0 || host == "::1";
  c.server.rrl.ratePerSecond = f.rrlRate.value_or(loopback ? 0 : kDefaultRrlRate);
  c.naming.domain = f.domain;
  c.naming.framework = f.frameworkName;
  c.naming.options.ttl = f.ttl;
  c.naming.options.enforceRfc952 = f.enforceRfc952;
  c.naming.options.onlyHealthy = !f.includeUnhealthy;
  auto masters = masterEndpoints(f.masters, f.caFile);
  if (!masters.ok()) return masters.error();
  c.naming.masters = masters->hostPorts;
  c.masterTls = masters->tls;
  if (host != "0.0.0.0" && host != "::") c.naming.options.nameServerIps.push_back(host);
  if (!f.masterCredentials.empty()) {
    auto h = auth::loadBasicAuthorization(f.masterCredentials);
    if (!h.ok())
      return makeError(ErrorKind::kInvalid, "--master-credentials: " + h.error().message);
    c.masterAuthorization = std::move(*h);
  }
  return c;
}

}  // namespace

void addDnsCommand(CLI::App& app, int& exitCode) {
  addServeCommand<dns::DnsService>(
      app, exitCode, CommandSpec<DnsFlags, dns::DnsServiceConfig>{"dns", defineDnsFlags, toConfig},
      "Authoritative DNS (Mesos-DNS names) fed by the event stream");
}

}  // namespace corral::cli

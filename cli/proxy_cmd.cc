// `corral proxy`: the edge proxy (HTTP vhosts and paths, HTTP and TCP service
// ports) routed by marathon-lb labels and updated live from the event
// stream. Only flags here; proxy::ProxyService wires the parts.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <thread>

#include "base/http_client.h"
#include "base/log.h"
#include "base/loop.h"
#include "cli/commands.h"
#include "cli/master_endpoints.h"
#include "cli/serve_command.h"
#include "proxy/proxy_service.h"

#include "core_cluster/auth/credentials.h"

namespace corral::cli {

namespace {

struct ProxyFlags {
  std::vector<std::string> masters{"127.0.0.1:8080"};
  std::vector<std::string> groups{"external"};
  bool strictMode = false;
  int workers = 0;
  std::string httpListen = "0.0.0.0:80";
  std::string httpsListen;
  std::string certDir;
  // Loopback: the admin API shows every backend and is not for the world.
  std::string adminListen = "127.0.0.1:9090";
  std::string serviceBind = "0.0.0.0";
  std::string accessLog;
  std::string masterCredentials;
  std::string caFile;
  TakeoverFlags takeover;
  std::string flagsFile;
};

void defineProxyFlags(CLI::App* cmd, ProxyFlags* f) {
  cmd->add_option("--master", f->masters,
                  "Marathon/corral master host:port, http://host:port or https://host:port "
                  "(repeatable)")
      ->capture_default_str();
  cmd->add_option("--master-credentials", f->masterCredentials,
                  "File with 'user:password' of a v2 API user (a viewer is enough; mode 600), for "
                  "masters started with --http-credentials");
  cmd->add_option("--group", f->groups,
                  "HAPROXY_GROUP(s) this proxy serves (repeatable; '*' serves every app)")
      ->capture_default_str();
  cmd->add_flag("--strict-mode", f->strictMode, "Route a port only when HAPROXY_{n}_ENABLED=true");
  cmd->add_option("--workers", f->workers, "Event loops (default: one per core)");
  cmd->add_option("--http-listen", f->httpListen,
                  "Frontend for HAPROXY_{n}_VHOST/_PATH routes (empty: none)")
      ->capture_default_str();
  cmd->add_option("--https-listen", f->httpsListen,
                  "TLS frontend for the same routes, opened once a certificate is available "
                  "(empty: none)")
      ->expected(0, 1)
      ->capture_default_str();
  cmd->add_option("--cert-dir", f->certDir,
                  "Directory of PEM files (certificate, chain, key) for --https-listen, besides "
                  "HAPROXY_{n}_SSL_CERT; re-read when files change");
  cmd->add_option("--admin-listen", f->adminListen, "/metrics /routes /healthz /config /stats")
      ->capture_default_str();
  cmd->add_option("--service-bind", f->serviceBind,
                  "Address of service port listeners whose HAPROXY_{n}_BIND_ADDR is unset")
      ->capture_default_str();
  cmd->add_option("--access-log", f->accessLog,
                  "One line per HTTP request to this file (appended; '-': standard output); "
                  "off by default");
  cmd->add_option("--ca-file", f->caFile,
                  "PEM CA certificate(s) that https:// masters' certificates must chain to "
                  "(default: the system's CA store)");
  f->takeover.add(cmd);
  cmd->add_option("--flags-file", f->flagsFile,
                  "More of these flags, one per line; re-read on SIGHUP and, when valid, applied "
                  "by a takeover (needs --takeover; docs/TAKEOVER.md)");
}

// The service configuration of `f`; the error names the flag at fault.
Result<proxy::ProxyServiceConfig> toConfig(const ProxyFlags& f) {
  proxy::ProxyServiceConfig c;
  auto masters = masterEndpoints(f.masters, f.caFile);
  if (!masters.ok()) return masters.error();
  c.masters = masters->hostPorts;
  c.masterTls = masters->tls;
  c.labels.groups = f.groups;
  c.labels.strictMode = f.strictMode;
  c.workers = f.workers > 0 ? f.workers : std::max(1u, std::thread::hardware_concurrency());
  c.serviceHost = f.serviceBind;
  if (f.httpListen.empty()) {
    c.httpHost.clear();
  } else if (!http::splitHostPort(f.httpListen, 80, &c.httpHost, &c.httpPort)) {
    return makeError(ErrorKind::kInvalid,
                     "--http-listen: expected ip:port, got '" + f.httpListen + "'");
  }
  if (!f.httpsListen.empty() &&
      !http::splitHostPort(f.httpsListen, 443, &c.httpsHost, &c.httpsPort)) {
    return makeError(ErrorKind::kInvalid,
                     "--https-listen: expected ip:port, got '" + f.httpsListen + "'");
  }
  c.certDir = f.certDir;
  c.accessLog = f.accessLog;
  if (!http::splitHostPort(f.adminListen, 9090, &c.adminHost, &c.adminPort)) {
    return makeError(ErrorKind::kInvalid,
                     "--admin-listen: expected ip:port, got '" + f.adminListen + "'");
  }
  if (f.masters.empty()) return makeError(ErrorKind::kInvalid, "--master: at least one is needed");
  if (!f.masterCredentials.empty()) {
    auto h = auth::loadBasicAuthorization(f.masterCredentials);
    if (!h.ok())
      return makeError(ErrorKind::kInvalid, "--master-credentials: " + h.error().message);
    c.masterAuthorization = std::move(*h);
  }
  return c;
}

}  // namespace

void addProxyCommand(CLI::App& app, int& exitCode) {
  addServeCommand<proxy::ProxyService>(
      app, exitCode,
      CommandSpec<ProxyFlags, proxy::ProxyServiceConfig>{"proxy", defineProxyFlags, toConfig},
      "HTTP/TCP edge proxy routed by marathon-lb labels, fed by the event stream");
}

}  // namespace corral::cli

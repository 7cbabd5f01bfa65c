// `corral proxy`: the edge proxy (HTTP vhosts and paths, HTTP and TCP service
// ports) routed by marathon-lb labels and updated live from the event
// stream. Only flags here; proxy::ProxyService wires the parts.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <thread>

#include "base/http_client.h"
#include "base/log.h"
#include "base/loop.h"
#include "cli/commands.h"
#include "cli/serve.h"
#include "proxy/proxy_service.h"

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
  std::string adminListen = "0.0.0.0:9090";
  std::string serviceBind = "0.0.0.0";
};

int runProxy(const ProxyFlags& f) {
  log::setComponent("proxy");
  proxy::ProxyServiceConfig c;
  c.masters = f.masters;
  c.labels.groups = f.groups;
  c.labels.strictMode = f.strictMode;
  c.workers = f.workers > 0 ? f.workers : std::max(1u, std::thread::hardware_concurrency());
  c.serviceHost = f.serviceBind;
  if (f.httpListen.empty()) {
    c.httpHost.clear();
  } else if (!http::splitHostPort(f.httpListen, 80, &c.httpHost, &c.httpPort)) {
    log::error("--http-listen: expected ip:port, got '{}'", f.httpListen);
    return 2;
  }
  if (!f.httpsListen.empty() &&
      !http::splitHostPort(f.httpsListen, 443, &c.httpsHost, &c.httpsPort)) {
    log::error("--https-listen: expected ip:port, got '{}'", f.httpsListen);
    return 2;
  }
  c.certDir = f.certDir;
  if (!http::splitHostPort(f.adminListen, 9090, &c.adminHost, &c.adminPort)) {
    log::error("--admin-listen: expected ip:port, got '{}'", f.adminListen);
    return 2;
  }
  Loop loop;
  auto service = proxy::ProxyService::start(loop, std::move(c));
  if (!service.ok()) return startupFailed("proxy", service.error());
  return serveUntilSignal(loop, **service, "proxy");
}

}  // namespace

void addProxyCommand(CLI::App& app, int& exitCode) {
  auto f = std::make_shared<ProxyFlags>();
  auto* cmd = app.add_subcommand(
      "proxy", "HTTP/TCP edge proxy routed by marathon-lb labels, fed by the event stream");
  cmd->add_option("--master", f->masters, "Marathon/corral master host:port (repeatable)")
      ->capture_default_str();
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
  cmd->callback([f, &exitCode] { exitCode = runProxy(*f); });
}

}  // namespace corral::cli

// `corral proxy` end to end: a real master and agent, tasks, and the proxy
// as its own process (one worker, so that round robin is exact), all on
// loopback addresses of the test's own (127.<net>.0.x; the proxy's frontend,
// admin and service ports on .9). Shared by the proxy's integration tests.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "tests/integration/cluster_fixture.h"

namespace corral::it {

class ProxyFixture : public ClusterFixture {
 protected:
  void TearDown() override;

  // With certDir: the HTTPS frontend on httpsPort_ with that --cert-dir;
  // extraArgs go to `corral proxy` as they are.
  void startProxy(const std::string& certDir = "", const std::vector<std::string>& extraArgs = {});

  HttpResult admin(const std::string& path);
  Json adminJson(const std::string& path);
  HttpResult viaHost(const std::string& host, const std::string& target);
  HttpResult viaPort(int port, const std::string& target = "/");

  // An app of `instances` tasks running cmd (the demo server when empty),
  // without waiting for it.
  // servicePort 0: the master assigns one.
  static Json appJson(const std::string& id, int instances, Json labels, bool healthChecks = false,
                      const std::string& cmd = "", int servicePort = 0);
  // Posts an app and waits until it runs `instances` tasks.
  void deploy(const std::string& id, int instances, Json labels, bool healthChecks = false,
              const std::string& cmd = "", int servicePort = 0);

  int servicePort(const std::string& id);
  // The task ports the proxy routes for an app port (from /routes).
  std::set<std::string> routedBackends(const std::string& id);
  bool waitBackends(const std::string& id, size_t n, uint64_t timeoutMs = 15000);
  // waitBackends, then until each of them answers HTTP itself: a task is
  // TASK_RUNNING (and routed) a moment before its server listens.
  bool waitBackendsAnswering(const std::string& id, size_t n, uint64_t timeoutMs = 15000);

  static std::string taskOf(const HttpResult& r);
  static bool startsWith(const std::string& s, const std::string& p);

  // curl over HTTPS to the proxy with `host` as SNI and Host: its verbose
  // output (the server certificate's subject) and the response headers.
  std::string curlHttps(const std::string& host, const std::string& target);

  Child proxy_;
  std::string proxyIp_;
  int httpsPort_ = 0;
  int httpPort_ = 0;
  int adminPort_ = 0;
};

// The fixture of the proxy_integration_test binary's test files.
class ProxyTest : public ProxyFixture {};

}  // namespace corral::it

#include "tests/integration/proxy_fixture.h"

#include <cstdio>
#include <iostream>
#include <vector>

#include <nlohmann/json.hpp>

namespace corral::it {

void ProxyFixture::TearDown() {
  stopProcess(proxy_, 5000);
  if (HasFailure() && !proxy_.logPath.empty()) {
    std::cerr << "----- proxy (" << proxy_.logPath << ") -----\n" << tailLog(proxy_.logPath, 200);
  }
  ClusterFixture::TearDown();
}

void ProxyFixture::startProxy(const std::string& certDir,
                              const std::vector<std::string>& extraArgs) {
  proxyIp_ = "127." + std::to_string(net_) + ".0.9";
  httpPort_ = freePort(proxyIp_);
  adminPort_ = freePort(proxyIp_);
  ASSERT_GT(httpPort_, 0);
  std::string https;
  if (!certDir.empty()) {
    httpsPort_ = freePort(proxyIp_);
    ASSERT_GT(httpsPort_, 0);
    https = proxyIp_ + ":" + std::to_string(httpsPort_);
  }
  std::string master = masterIp_ + ":" + std::to_string(masterPort_);
  std::vector<std::string> args = {corralBin(),
                                   "proxy",
                                   "--master=" + master,
                                   "--group=external",
                                   "--http-listen=" + proxyIp_ + ":" + std::to_string(httpPort_),
                                   "--https-listen=" + https,
                                   "--admin-listen=" + proxyIp_ + ":" + std::to_string(adminPort_),
                                   "--workers=1",
                                   "--service-bind=" + proxyIp_};
  if (!certDir.empty()) args.push_back("--cert-dir=" + certDir);
  args.insert(args.end(), extraArgs.begin(), extraArgs.end());
  proxy_ = spawnProcess("proxy", args, dir_ + "/proxy.log");
  ASSERT_GT(proxy_.pid, 0);
  ASSERT_TRUE(client_.waitFor([&] { return admin("/healthz").status == 200; }, 15000, 50))
      << "the proxy's /healthz never answered 200";
}

HttpResult ProxyFixture::admin(const std::string& path) {
  return client_.request("GET", proxyIp_, adminPort_, path, "", {}, 3000);
}

Json ProxyFixture::adminJson(const std::string& path) {
  auto r = admin(path);
  return r.status == 200 ? r.json() : Json();
}

HttpResult ProxyFixture::viaHost(const std::string& host, const std::string& target) {
  return client_.request("GET", proxyIp_, httpPort_, target, "", {{"Host", host}}, 5000);
}

HttpResult ProxyFixture::viaPort(int port, const std::string& target) {
  return client_.request("GET", proxyIp_, port, target, "", {}, 5000);
}

Json ProxyFixture::appJson(const std::string& id, int instances, Json labels, bool healthChecks,
                           const std::string& cmd, int servicePort) {
  Json app;
  app["id"] = id;
  app["cmd"] = cmd.empty() ? demoCmd() : cmd;
  app["instances"] = instances;
  app["cpus"] = 0.01;
  app["mem"] = 16;
  app["portDefinitions"] = Json::array({Json{{"port", servicePort}}});
  app["labels"] = std::move(labels);
  if (healthChecks) {
    app["healthChecks"] = Json::array({Json{{"protocol", "HTTP"},
                                            {"path", "/health"},
                                            {"portIndex", 0},
                                            {"gracePeriodSeconds", 5},
                                            {"intervalSeconds", 1},
                                            {"timeoutSeconds", 1},
                                            {"delaySeconds", 0},
                                            {"maxConsecutiveFailures", 1}}});
  }
  return app;
}

void ProxyFixture::deploy(const std::string& id, int instances, Json labels, bool healthChecks,
                          const std::string& cmd, int servicePort) {
  Json app = appJson(id, instances, std::move(labels), healthChecks, cmd, servicePort);
  auto r = api("POST", "/v2/apps", dumpJson(app), {{"Content-Type", "application/json"}});
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_TRUE(waitAppStable(id, instances)) << id << " did not reach " << instances;
}

int ProxyFixture::servicePort(const std::string& id) {
  Json a = app(id);
  return a.is_null() ? 0 : a["portDefinitions"][0].value("port", 0);
}

std::set<std::string> ProxyFixture::routedBackends(const std::string& id) {
  std::set<std::string> out;
  Json r = adminJson("/routes");
  if (!r.contains("routes")) return out;
  for (const auto& route : r["routes"]) {
    if (route.value("app", "") != id) continue;
    for (const auto& b : route["backends"]) out.insert(b.get<std::string>());
  }
  return out;
}

bool ProxyFixture::waitBackends(const std::string& id, size_t n, uint64_t timeoutMs) {
  return client_.waitFor([&] { return routedBackends(id).size() == n; }, timeoutMs, 50);
}

bool ProxyFixture::waitBackendsAnswering(const std::string& id, size_t n, uint64_t timeoutMs) {
  if (!waitBackends(id, n, timeoutMs)) return false;
  for (const std::string& backend : routedBackends(id)) {
    auto colon = backend.rfind(':');
    if (colon == std::string::npos) return false;
    std::string host = backend.substr(0, colon);
    int port = std::stoi(backend.substr(colon + 1));
    bool answers = client_.waitFor(
        [&] { return client_.request("GET", host, port, "/", "", {}, 1000).status > 0; }, timeoutMs,
        50);
    if (!answers) return false;
  }
  return true;
}

std::string ProxyFixture::taskOf(const HttpResult& r) {
  auto t = http::findHeader(r.headers, "X-Demo-Task");
  return t ? std::string(*t) : "";
}

bool ProxyFixture::startsWith(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}

std::string ProxyFixture::curlHttps(const std::string& host, const std::string& target) {
  std::string p = std::to_string(httpsPort_);
  std::string cmd = "curl -sv -k -D - -o /dev/null --max-time 5 --resolve " + host + ":" + p + ":" +
                    proxyIp_ + " https://" + host + ":" + p + target + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  ::pclose(pipe);
  return out;
}

}  // namespace corral::it

// 1,000 service-port listeners through a real ProxyService (in process, one
// worker) following a fake Marathon: every port opens and takes connections,
// and when the apps go every listener closes (connections refused), then the
// service stops with no handle left open (test_main checks every Loop,
// worker loops included). The ports are picked free on a loopback address no
// other test uses (127.86.0.9), so runs in parallel do not collide.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <uv.h>

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "base/loop.h"
#include "proxy/proxy_service.h"
#include "proxy/proxy_snapshot.h"
#include "tests/registry/fake_marathon.h"

namespace corral::proxy {
namespace {

constexpr const char* kServiceIp = "127.86.0.9";
constexpr int kPorts = 1000;

// `count` distinct ports free on `ip` now (all bound at once, then released).
std::vector<int> freePorts(const char* ip, int count) {
  std::vector<int> fds, ports;
  for (int i = 0; i < count; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    inet_pton(AF_INET, ip, &addr.sin_addr);
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (fd >= 0) ::close(fd);
      break;
    }
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ports.push_back(ntohs(addr.sin_port));
    fds.push_back(fd);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

// 0 when a TCP connection to ip:port is accepted, else the errno.
int connectError(const char* ip, int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, ip, &addr.sin_addr);
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

Json serviceApp(int i, int servicePort) {
  std::string id = "/svc/app" + std::to_string(i);
  Json labels{{"HAPROXY_GROUP", "external"}};
  if (i % 2) labels["HAPROXY_0_MODE"] = "http";
  Json app{{"id", id},
           {"instances", 1},
           {"version", "v1"},
           {"labels", labels},
           {"portDefinitions", Json::array({Json{{"port", servicePort}, {"protocol", "tcp"}}})},
           {"healthChecks", Json::array()}};
  // A task nobody listens for: connections through the port are refused upstream.
  app["tasks"] = Json::array({Json{{"id", id.substr(1) + ".0"},
                                   {"appId", id},
                                   {"host", "127.0.0.1"},
                                   {"slaveId", "S1"},
                                   {"ports", Json::array({1})},
                                   {"state", "TASK_RUNNING"},
                                   {"version", "v1"}}});
  return app;
}

// A proxy with one worker serving service ports only (no HTTP frontend),
// following a fake Marathon that holds kPorts apps, one per free port.
class ProxyServiceScale : public ::testing::Test {
 protected:
  void SetUp() override {
    ports_ = freePorts(kServiceIp, kPorts);
    ASSERT_EQ(ports_.size(), static_cast<size_t>(kPorts)) << "loopback " << kServiceIp;
    ASSERT_TRUE(marathon_.ok());
    for (int i = 0; i < kPorts; ++i) marathon_.setApp(serviceApp(i, ports_[i]));
    ProxyServiceConfig config;
    config.masters = {marathon_.address()};
    config.labels.groups = {"external"};
    config.workers = 1;
    config.httpHost = "";
    config.serviceHost = kServiceIp;
    config.adminHost = "127.0.0.1";
    config.adminPort = 0;
    auto started = ProxyService::start(loop_, config);
    ASSERT_TRUE(started.ok()) << started.error().message;
    service_ = std::move(*started);
  }

  void TearDown() override {
    if (service_) service_->stop();
    service_.reset();
    marathon_.close();
    loop_.runUntil([] { return false; }, 50);  // let the closes finish
  }

  Loop loop_;
  registry::testing::FakeMarathon marathon_{loop_, "127.0.0.1"};
  std::vector<int> ports_;
  std::unique_ptr<ProxyService> service_;
};

// Ready (what a takeover waits for before it accepts) means serving the
// loaded catalog: never while only the empty start-up table is applied and
// the first real build still runs.
TEST_F(ProxyServiceScale, ReadyOnlyOnceTheLoadedCatalogIsServed) {
  // Looked at right after every poll for I/O (a check handle), as a takeover's
  // timer could: also in the loop turn where the catalog arrived and its build
  // is only scheduled.
  struct Watch {
    ProxyService* service;
    bool seen = false;
    size_t ports = 0;
  } watch{service_.get()};
  auto* check = new uv_check_t;
  uv_check_init(loop_.raw(), check);
  check->data = &watch;
  uv_check_start(check, [](uv_check_t* h) {
    auto* w = static_cast<Watch*>(h->data);
    if (w->seen || !w->service->ready()) return;
    w->seen = true;
    w->ports = w->service->snapshot()->table->portCount();
  });
  bool seen = loop_.runUntil([&] { return watch.seen; }, 60000);
  closeAndDelete(check);  // before any assertion can return: the loop outlives it
  ASSERT_TRUE(seen);
  EXPECT_EQ(watch.ports, static_cast<size_t>(kPorts)) << "ready while serving an older table";
}

TEST_F(ProxyServiceScale, AThousandServicePortListenersOpenAndClose) {
  ProxyService* service = service_.get();
  const std::vector<int>& ports = ports_;

  ASSERT_TRUE(loop_.runUntil(
      [&] {
        return service->ready() &&
               service->snapshot()->table->portCount() == static_cast<size_t>(kPorts);
      },
      60000))
      << "ports routed: " << service->snapshot()->table->portCount();
  for (int i = 0; i < kPorts; ++i) {
    ASSERT_EQ(connectError(kServiceIp, ports[i]), 0) << "service port " << ports[i];
  }

  // Every app goes: every listener closes, and only its own port.
  for (int i = 0; i < kPorts; ++i) {
    std::string id = "/svc/app" + std::to_string(i);
    marathon_.removeApp(id);
    marathon_.publish("app_terminated_event",
                      Json{{"eventType", "app_terminated_event"}, {"appId", id}});
    if (i == kPorts / 2) {
      ASSERT_TRUE(loop_.runUntil(
          [&] {
            return service->ready() &&
                   service->snapshot()->table->portCount() == static_cast<size_t>(kPorts - i - 1);
          },
          30000));
      EXPECT_EQ(connectError(kServiceIp, ports[i]), ECONNREFUSED);
      EXPECT_EQ(connectError(kServiceIp, ports[i + 1]), 0) << "a staying app keeps its port";
    }
  }
  ASSERT_TRUE(loop_.runUntil(
      [&] { return service->ready() && service->snapshot()->table->portCount() == 0; }, 30000));
  for (int i = 0; i < kPorts; ++i) {
    ASSERT_EQ(connectError(kServiceIp, ports[i]), ECONNREFUSED) << "service port " << ports[i];
  }
}

}  // namespace
}  // namespace corral::proxy

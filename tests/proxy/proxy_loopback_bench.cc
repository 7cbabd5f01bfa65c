// Manual measuring tool (not a test): a ProxyWorker on one loop in front of
// one upstream, both on loopback, for a load generator such as wrk.
//   proxy_loopback_bench upstream PORT           tiny keep-alive task answering "ok"
//   proxy_loopback_bench proxy PORT UPSTREAM_PORT SECONDS
// The proxy mode prints the CPU seconds it used, so requests per proxy
// CPU-second = wrk's request count / that figure.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "base/http_request_parser.h"
#include "base/http_server.h"
#include "proxy/proxy_worker.h"

namespace {

using namespace corral;

class OneRoute : public proxy::RouteLookup, public proxy::PeerPicker {
 public:
  explicit OneRoute(int port) {
    uv_ip4_addr("127.0.0.1", port, reinterpret_cast<sockaddr_in*>(&peer_.address));
    peer_.id = 1;
  }
  bool lookup(const http::RequestHead&, proxy::RouteDecision* out) override {
    out->picker = this;
    return true;
  }
  const proxy::Peer* pick(const proxy::PickContext&) override { return &peer_; }
  void release(const proxy::Peer&, proxy::PeerOutcome) override {}

 private:
  proxy::Peer peer_;
};

double cpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string(argv[1]) == "upstream") {
    Loop loop;
    http::Server server(loop, [](http::Request&, std::shared_ptr<http::Exchange> ex) {
      ex->respond(http::Response::text(200, "ok"));
    });
    auto port = server.listen("127.0.0.1", std::atoi(argv[2]));
    if (!port.ok()) return 1;
    loop.run();
    return 0;
  }
  if (argc >= 5 && std::string(argv[1]) == "proxy") {
    Loop loop;
    OneRoute route(std::atoi(argv[3]));
    proxy::ProxyWorker worker(loop, static_cast<proxy::RouteLookup&>(route), {});
    auto port = worker.listen("127.0.0.1", std::atoi(argv[2]));
    if (!port.ok()) {
      std::fprintf(stderr, "%s\n", port.error().message.c_str());
      return 1;
    }
    double start = cpuSeconds();
    Timer stop(loop);
    stop.start(static_cast<uint64_t>(std::atoi(argv[4])) * 1000, 0, [&] {
      std::printf("proxy cpu seconds: %.3f\n", cpuSeconds() - start);
      worker.close();
      loop.stop();
    });
    loop.run();
    return 0;
  }
  std::fprintf(stderr, "usage: %s upstream PORT | proxy PORT UPSTREAM_PORT SECONDS\n", argv[0]);
  return 2;
}

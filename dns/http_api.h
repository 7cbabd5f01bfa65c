// Mesos-DNS's HTTP API: /v1/version, /v1/config, /v1/hosts/{host},
// /v1/services/{service}, plus /metrics.
#pragma once

#include <functional>
#include <memory>

#include "base/http_server.h"
#include "base/json.h"
#include "dns/zone.h"

namespace corral::dns {

class HttpApi {
 public:
  HttpApi(std::function<std::shared_ptr<const Zone>()> zone, Json config,
          std::function<std::string()> metricsText);
  void handle(http::Request& req, std::shared_ptr<http::Exchange> ex);

 private:
  std::function<std::shared_ptr<const Zone>()> zone_;
  std::string config_;  // rendered once
  std::function<std::string()> metricsText_;
};

}  // namespace corral::dns

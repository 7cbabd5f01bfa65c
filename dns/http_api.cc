#include "dns/http_api.h"

#include <nlohmann/json.hpp>

namespace corral::dns {

HttpApi::HttpApi(std::function<std::shared_ptr<const Zone>()> zone, Json config,
                 std::function<std::string()> metricsText)
    : zone_(std::move(zone)), config_(dumpJson(config)), metricsText_(std::move(metricsText)) {}

void HttpApi::handle(http::Request& req, std::shared_ptr<http::Exchange> ex) {
  const std::string& p = req.path;
  auto json = [&](int status, const Json& body) {
    ex->respond(http::Response::json(status, dumpJson(body)));
  };
  if (p == "/metrics") {
    return ex->respond(http::Response::text(200, metricsText_(), "text/plain; version=0.0.4"));
  }
  if (p == "/v1/version") {
    return json(200, Json{{"Service", "Mesos-DNS"},
                          {"Version", "corral-0.1.0"},
                          {"URL", "https://github.com/mesosphere/mesos-dns"}});
  }
  if (p == "/v1/config") return ex->respond(http::Response::json(200, config_));
  auto zone = zone_();
  if (p.rfind("/v1/hosts/", 0) == 0) {
    std::string host = p.substr(10);
    Json out = Json::array();
    if (zone) {
      for (const auto& ip : zone->hostAddresses(host))
        out.push_back(Json{{"host", host}, {"ip", ip}});
    }
    if (out.empty()) out.push_back(Json{{"host", ""}, {"ip", ""}});
    return json(200, out);
  }
  if (p.rfind("/v1/services/", 0) == 0) {
    std::string service = p.substr(13);
    Json out = Json::array();
    if (zone) {
      for (const auto& s : zone->services(service)) {
        out.push_back(Json{{"service", s.service},
                           {"host", s.host},
                           {"ip", s.ip},
                           {"port", std::to_string(s.port)}});
      }
    }
    if (out.empty()) out.push_back(Json{{"service", ""}, {"host", ""}, {"ip", ""}, {"port", ""}});
    return json(200, out);
  }
  json(404, Json{{"message", "no endpoint " + p}});
}

}  // namespace corral::dns

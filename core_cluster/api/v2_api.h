// Marathon's REST API v2 over the service scheduler and master: the routes
// real clients use, with Marathon's JSON shapes, status codes and errors.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/http_server.h"
#include "core_cluster/api/marathon_json.h"
#include "core_cluster/api/reply.h"
#include "core_cluster/api/tasks_text.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/master.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::api {

struct ApiInfo {
  std::string advertisedAddress;  // host:port of this master, for /v2/leader and /v2/info
  std::string frameworkId;
  std::string version = "1.10.0-corral";
  std::string zkUrl;  // empty: embedded state
  int httpsPort = 0;  // the port serving the API over TLS; 0: none (/v2/info)
};

class V2Api {
 public:
  V2Api(scheduler::ServiceScheduler& scheduler, master::Master& master, events::EventBus& bus,
        ApiInfo info);
  void handle(http::Request& req, std::shared_ptr<http::Exchange> ex);
  // The address clients reach this master at, once its port is bound
  // (/v2/leader, /v2/info's http_port).
  void setAdvertisedAddress(std::string address) { info_.advertisedAddress = std::move(address); }
  void setHttpsPort(int port) { info_.httpsPort = port; }
  // Each app's rendered definition, reused by /v2/apps and /v2/apps/{id}.
  const AppRenderCache& renderCache() const { return renderCache_; }

  // One entry of the route table: an exact path, or a prefix that owns every
  // path below it ("/v2/apps" owns "/v2/apps/x/y", handed "/x/y" as `rest`).
  struct Route {
    enum class Match { kExact, kPrefix };
    std::string_view path;
    Match match;
    void (V2Api::*handler)(http::Request& req, Reply& reply, std::string_view rest);
  };

 private:
  void dispatch(http::Request& req, Reply& reply);
  void ping(http::Request& req, Reply& reply, std::string_view rest);
  void metricsText(http::Request& req, Reply& reply, std::string_view rest);
  void events(http::Request& req, Reply& reply, std::string_view rest);
  void info(http::Request& req, Reply& reply, std::string_view rest);
  void agentsV1(http::Request& req, Reply& reply, std::string_view rest);
  void taskAgentV1(http::Request& req, Reply& reply, std::string_view rest);
  void leader(http::Request& req, Reply& reply, std::string_view rest);
  void eventSubscriptions(http::Request& req, Reply& reply, std::string_view rest);
  void apps(http::Request& req, Reply& reply, std::string_view rest);
  void appSubresource(http::Request& req, Reply& reply, std::string_view rest);
  void tasks(http::Request& req, Reply& reply, std::string_view rest);
  void deployments(http::Request& req, Reply& reply, std::string_view rest);
  void groups(http::Request& req, Reply& reply, std::string_view rest);
  void queue(http::Request& req, Reply& reply, std::string_view rest);
  TextApp textApp(const scheduler::AppState& app) const;
  void respondChange(Reply& reply, const Result<scheduler::ChangeResult>& r, int okStatus,
                     const Json* body = nullptr);

  static const std::vector<Route>& routes();

  scheduler::ServiceScheduler& scheduler_;
  master::Master& master_;
  events::EventBus& bus_;
  ApiInfo info_;
  AppRenderCache renderCache_;
};

// Marathon accepts "true"/"True"/"1" for query booleans.
bool queryBool(const http::Request& req, const std::string& name, bool dflt = false);

}  // namespace corral::api

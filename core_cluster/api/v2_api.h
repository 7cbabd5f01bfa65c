// Marathon's REST API v2 over the service scheduler and master: the routes
// real clients use, with Marathon's JSON shapes, status codes and errors.
#pragma once

#include <memory>
#include <string>

#include "base/http_server.h"
#include "core_cluster/events/event_bus.h"
#include "core_cluster/master/master.h"
#include "core_cluster/scheduler/service_scheduler.h"

namespace corral::api {

struct ApiInfo {
  std::string advertisedAddress;  // host:port of this master, for /v2/leader and /v2/info
  std::string frameworkId;
  std::string version = "1.10.0-corral";
  std::string zkUrl;  // empty: embedded state
};

class V2Api {
 public:
  V2Api(scheduler::ServiceScheduler& scheduler, master::Master& master, events::EventBus& bus,
        ApiInfo info);
  void handle(http::Request& req, std::shared_ptr<http::Exchange> ex);

 private:
  void dispatch(http::Request& req, std::shared_ptr<http::Exchange> ex);
  void apps(http::Request& req, http::Exchange& ex);
  void appSubresource(http::Request& req, http::Exchange& ex, const std::string& rest);
  void tasks(http::Request& req, http::Exchange& ex);
  void deployments(http::Request& req, http::Exchange& ex);
  void groups(http::Request& req, http::Exchange& ex);
  void queue(http::Request& req, http::Exchange& ex);
  void info(http::Exchange& ex);
  Json groupJson(const std::string& groupId, bool withApps) const;
  void respondChange(http::Exchange& ex, const Result<scheduler::ChangeResult>& r, int okStatus,
                     const Json* body = nullptr);

  scheduler::ServiceScheduler& scheduler_;
  master::Master& master_;
  events::EventBus& bus_;
  ApiInfo info_;
};

// Marathon accepts "true"/"True"/"1" for query booleans.
bool queryBool(const http::Request& req, const std::string& name, bool dflt = false);

}  // namespace corral::api

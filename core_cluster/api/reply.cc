#include "core_cluster/api/reply.h"

#include "base/http_server.h"
#include "base/log.h"
#include "base/metrics.h"

namespace corral::api {

namespace {

metrics::Counter& apiRequests(const std::string& method, int status) {
  return metrics::global().counter(
      "corral_api_requests_total", "v2 API requests by method and status.",
      "method=\"" + metrics::escapeLabel(method) + "\",code=\"" + std::to_string(status) + "\"");
}

}  // namespace

Reply::Reply(const http::Request& req, std::shared_ptr<http::Exchange> ex)
    : method_(req.method), target_(req.target), ex_(std::move(ex)) {}

void Reply::respond(http::Response response) {
  status_ = response.status;
  apiRequests(method_, status_).inc();
  // Reads are many and change nothing; every change request is logged.
  if (method_ != "GET" && method_ != "HEAD") {
    log::info("api {} {} -> {}", method_, target_, status_);
  }
  ex_->respond(std::move(response));
}

void Reply::answered(int status) {
  status_ = status;
  apiRequests(method_, status_).inc();
}

}  // namespace corral::api

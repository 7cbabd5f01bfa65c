// One v2 API answer. Every response of the API goes through Reply::respond(),
// which counts it (corral_api_requests_total, by method and status code) and
// logs every change request in one line, so no handler can answer uncounted.
#pragma once

#include <memory>
#include <string>

#include "base/http_message.h"

namespace corral::http {
class Exchange;
}

namespace corral::api {

class Reply {
 public:
  Reply(const http::Request& req, std::shared_ptr<http::Exchange> ex);
  void respond(http::Response response);
  // For a responder that answers on the exchange itself (the event stream):
  // it hands the exchange over, then says which status it answered with.
  const std::shared_ptr<http::Exchange>& exchange() const { return ex_; }
  void answered(int status);
  // The status code the last respond() sent (0 before any).
  int status() const { return status_; }

 private:
  std::string method_;
  std::string target_;
  std::shared_ptr<http::Exchange> ex_;
  int status_ = 0;
};

}  // namespace corral::api

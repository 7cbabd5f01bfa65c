// A blocking HTTP helper for the client verbs and `corral up`.
#pragma once

#include <string>

#include "base/http_message.h"
#include "base/result.h"

namespace corral::cli {

// Default master address: $CORRAL_MASTER or 127.0.0.1:8080.
std::string defaultMaster();
// The file of the v2 API user ("user:password", mode 600) that call() and the
// event stream authenticate with: --master-credentials, else
// $CORRAL_MASTER_CREDENTIALS; "" for none.
std::string& masterCredentialsFile();
// The CA file an https:// master's certificate must chain to: --ca-file, else
// $CORRAL_CA_FILE; "" for the system's CA store.
std::string& caFile();
// `hostPort` may be "host:port", "http://host:port" or "https://host:port".
Result<http::Response> call(const std::string& hostPort, const std::string& method,
                            const std::string& target, const std::string& body = "",
                            uint64_t timeoutMs = 10000);

}  // namespace corral::cli

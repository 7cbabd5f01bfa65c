// How the parts that talk to a master (agents, corral dns, corral proxy, the
// CLI verbs) read --master and --ca-file: "host:port" and "http://host:port"
// speak plain HTTP, "https://host:port" speaks HTTPS and verifies the
// master's certificate against --ca-file, or the system's CA store without it.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "base/tls/tls_context.h"

namespace corral::cli {

struct MasterEndpoints {
  std::vector<std::string> hostPorts;  // "host:port" each, scheme removed
  tls::ContextPtr tls;                 // null: plain HTTP
};

// Every master must use the same scheme; --ca-file without an https://
// master is an error (TLS was meant but would not be used). Errors are
// kInvalid and name the flag.
Result<MasterEndpoints> masterEndpoints(const std::vector<std::string>& masters,
                                        const std::string& caFile);

}  // namespace corral::cli

#include "cli/master_endpoints.h"

#include "base/http_client.h"

namespace corral::cli {

Result<MasterEndpoints> masterEndpoints(const std::vector<std::string>& masters,
                                        const std::string& caFile) {
  MasterEndpoints out;
  size_t https = 0;
  for (const std::string& m : masters) {
    auto e = http::parseEndpoint(m, 8080);
    if (!e.ok()) return makeError(ErrorKind::kInvalid, "--master: " + e.error().message);
    if (e->https) ++https;
    out.hostPorts.push_back(e->hostPort());
  }
  if (https != 0 && https != masters.size()) {
    return makeError(ErrorKind::kInvalid,
                     "--master: either every master is https:// or none (they serve one API)");
  }
  if (https == 0) {
    if (!caFile.empty()) {
      return makeError(ErrorKind::kInvalid,
                       "--ca-file is for https:// masters; write --master https://host:port");
    }
    return out;
  }
  auto ctx = tls::loadClientContext(caFile);
  if (!ctx.ok()) return ctx.error();
  out.tls = std::move(*ctx);
  return out;
}

}  // namespace corral::cli

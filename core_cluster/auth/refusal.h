// One place where every refused request (401/403) of the master's v2 API,
// the master's agent endpoints and the agents' endpoints is counted and
// logged. Counted in corral_auth_refusals_total{endpoint, reason} (and the
// older per-endpoint counters); logged at most a few lines a second per
// client address and for all together (base/log_rate_limit.h), the next line
// of a client saying how many of its lines were held back, so that a flood
// of bad requests cannot fill the disk.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/http_message.h"

namespace corral::auth {

// Which endpoints refused.
enum class RefusalEndpoint {
  kApi,             // the master's v2 API and its other HTTP endpoints
  kMasterInternal,  // the master's /internal/* (agents)
  kAgent,           // an agent's endpoints
};

// Why.
enum class RefusalReason {
  kNoCredentials,     // no Authorization header
  kWrongCredentials,  // a user/password or agent credential that matches none
  kViewerWrite,       // a viewer asked for a change
  kNoToken,           // an agent: no master token and no credential
  kWrongToken,        // an agent: a bearer token that is not the current master's
  kNotRegistered,     // an agent: no master yet, so no token to accept
  kWrongPrincipal,    // the master: a principal speaking for another's agent
};

std::string_view toString(RefusalEndpoint endpoint);
std::string_view toString(RefusalReason reason);
// 401 for missing or wrong proof, 403 for proof that does not allow this.
int statusFor(RefusalReason reason);

// Counts the refusal and logs "refused METHOD PATH from ADDRESS: detail"
// unless the address (or everybody) has logged too much this second.
void noteRefusal(RefusalEndpoint endpoint, RefusalReason reason, const http::Request& req,
                 std::string_view detail);

// The count of refusals so far (tests).
uint64_t refusalCount(RefusalEndpoint endpoint, RefusalReason reason);

}  // namespace corral::auth

// Marathon's /v2/groups: the group tree with its embeds, creating, replacing,
// scaling, rolling back (by version) and deleting a group, each as one
// deployment of the scheduler, a dry run answering only the steps, and the
// group's stored versions.
#pragma once

#include <string_view>

#include "base/http_message.h"

namespace corral::scheduler {
class ServiceScheduler;
}

namespace corral::api {

// One request below /v2/groups (`rest`: what follows "/v2/groups").
http::Response groupsResponse(scheduler::ServiceScheduler& scheduler, const http::Request& req,
                              std::string_view rest);

}  // namespace corral::api

// Ids the scheduler makes up: deployment ids and task ids, Marathon's shapes.
#pragma once

#include <string>

namespace corral::scheduler {

// A random UUID (version 4 layout), lower-case hex.
std::string uuid4();
// Marathon's task id for an app: "/shop/web" -> "shop_web.<uuid>".
std::string newTaskId(const std::string& appId);

}  // namespace corral::scheduler

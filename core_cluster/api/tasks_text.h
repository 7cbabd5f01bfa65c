// Marathon's text/plain task list (GET /v2/tasks and /v2/apps/{id}/tasks with
// Accept: text/plain), which haproxy-marathon-bridge style scripts read.
// One line per app service port:  {app}\t{servicePort}\t{host:port}\t...
// and for an app without service ports one line:  {app}\t \t{host}\t...
// where {app} is the id without its leading slash, '/' written as '_'
// (/probe/web -> probe_web), and only running tasks are listed, sorted.
#pragma once

#include <string>
#include <vector>

namespace corral::api {

struct TextTask {
  std::string host;
  std::vector<int> hostPorts;
};

struct TextApp {
  std::string id;  // absolute: /probe/web
  std::vector<int> servicePorts;
  std::vector<TextTask> runningTasks;
};

std::string tasksText(const std::vector<TextApp>& apps);

}  // namespace corral::api

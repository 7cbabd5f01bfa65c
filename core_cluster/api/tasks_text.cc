#include "core_cluster/api/tasks_text.h"

#include <algorithm>

namespace corral::api {

namespace {

std::string safePath(const std::string& id) {
  std::string out;
  for (char c : id) {
    if (c == '/') {
      if (!out.empty()) out.push_back('_');
    } else {
      out.push_back(c);
    }
  }
  // "/a/b/" would leave a trailing separator; ids are normalised, but be exact.
  if (!out.empty() && out.back() == '_') out.pop_back();
  return out;
}

}  // namespace

std::string tasksText(const std::vector<TextApp>& apps) {
  std::string out;
  for (const auto& app : apps) {
    std::string id = safePath(app.id);
    if (app.servicePorts.empty()) {
      std::vector<std::string> hosts;
      for (const auto& t : app.runningTasks) hosts.push_back(t.host);
      std::sort(hosts.begin(), hosts.end());
      out += id + "\t \t";
      for (const auto& h : hosts) out += h + "\t";
      out += '\n';
      continue;
    }
    for (size_t i = 0; i < app.servicePorts.size(); ++i) {
      std::vector<std::string> addresses;
      for (const auto& t : app.runningTasks) {
        int port = i < t.hostPorts.size() ? t.hostPorts[i] : 0;
        addresses.push_back(t.host + ":" + std::to_string(port));
      }
      std::sort(addresses.begin(), addresses.end());
      out += id + "\t" + std::to_string(app.servicePorts[i]) + "\t";
      for (const auto& a : addresses) out += a + "\t";
      out += '\n';
    }
  }
  return out;
}

}  // namespace corral::api

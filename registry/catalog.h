// The service catalog as plain, immutable data: apps, their tasks, ports,
// health and labels, as Marathon's /v2/apps?embed=apps.tasks describes them.
// A Snapshot is never modified once published; consecutive snapshots share
// every App that did not change, so building one costs what changed.
// Parsing is lenient (a real Marathon sends much more than we read) and
// never throws: a malformed fragment is an Error naming the field.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "conf/task_state.h"
#include "registry/app_map.h"

namespace corral::registry {

using Labels = std::map<std::string, std::string>;

struct PortDefinition {
  int port = 0;                  // the service port (Marathon's portDefinitions[].port)
  std::string name;              // "" when unnamed
  std::string protocol = "tcp";  // "tcp", "udp", "udp,tcp"
  Labels labels;
  bool operator==(const PortDefinition&) const = default;
};

struct Task {
  std::string id;
  std::string appId;
  std::string host;
  std::string agentId;  // Marathon's slaveId
  std::vector<int> ports;
  std::vector<int> servicePorts;
  conf::TaskState state = conf::TaskState::kStaging;  // never a terminal one
  std::optional<bool> healthy;                        // unset: no health check result (yet)
  std::string version;
  std::string ip;                        // first of ipAddresses; "" when none
  std::vector<std::string> ipAddresses;  // every address Marathon reports
  bool running() const { return state == conf::TaskState::kRunning; }
  bool operator==(const Task&) const = default;
};

// What the proxy needs of an app's health check: whether it speaks HTTP (it
// makes the port it targets an http one, as in marathon-lb) and that port.
struct HealthCheck {
  bool http = false;             // protocol HTTP, HTTPS, MESOS_HTTP or MESOS_HTTPS
  std::optional<int> portIndex;  // into portDefinitions (Marathon's default: 0)
  std::optional<int> port;       // a fixed port instead of portIndex
  bool operator==(const HealthCheck&) const = default;
};

struct App {
  std::string id;  // absolute, e.g. "/shop/web"
  Labels labels;
  std::vector<PortDefinition> portDefinitions;
  bool hasHealthChecks = false;
  std::vector<HealthCheck> healthChecks;
  int instances = 0;
  std::string version;
  std::vector<Task> tasks;  // sorted by id, non-terminal tasks only
  const Task* findTask(std::string_view taskId) const;
  bool operator==(const App&) const = default;
};

struct Snapshot {
  uint64_t version = 0;     // 0: nothing loaded yet; increases by one per publish
  AppMap apps;              // shares its storage with the snapshot before (app_map.h)
  std::string leader;       // "host:port" of the scheduler the stream comes from
  int64_t builtAtMs = 0;    // wall clock (wallMs()) when this snapshot was built
  std::string lastEventId;  // id of the last event folded in ("" when unknown)
  // Wall-clock arrival of the first and last stream event folded into this
  // snapshot since the previous one (0 when only a full load changed it), so a
  // consumer can measure event -> visible latency.
  int64_t firstEventArrivedMs = 0;
  int64_t lastEventArrivedMs = 0;

  const App* find(std::string_view appId) const;
};

// What changed between two consecutive snapshots, by app id (sorted).
struct Diff {
  std::vector<std::string> added;
  std::vector<std::string> changed;
  std::vector<std::string> removed;
  bool empty() const { return added.empty() && changed.empty() && removed.empty(); }
  bool operator==(const Diff&) const = default;
};

// One app of /v2/apps (or /v2/apps/{id}'s "app", or an event's appDefinition).
// Tasks are read when present (`tasks`); terminal ones are dropped.
Result<App> parseApp(const Json& json);
// One task of an app's `tasks` array.
Result<Task> parseTask(const Json& json);
// Builds the service ports of a task from its app's port definitions.
std::vector<int> servicePortsOf(const App& app);

}  // namespace corral::registry

// Marathon app definitions (REST API v2 JSON) parsed into plain structs,
// validated Marathon's way, and written back exactly as Marathon 1.x returns
// them from GET /v2/apps/{id}.
//
// Parsing rules
// * Types are strict: a wrong type is an error naming the field path
//   ("/healthChecks(0)/intervalSeconds") and the bad value. An integral float
//   (2.0) is accepted where an integer is expected, as Marathon does.
// * `null` means "absent" for every field (default applies).
// * Unknown keys are ignored (Marathon 1.x's readers are lenient), which also
//   lets the output of GET (tasks, versionInfo, deployments...) be posted back.
// * Every problem is collected, not only the first: validateApp() returns all
//   of them, parseAppDefinition() joins them into one Error (path of the first,
//   kind kInvalid) and can hand the list out too. validationErrorBody() renders the
//   list as Marathon's 422 body.
// * ids: relative ids are resolved against the base group; "." and ".."
//   segments are resolved; every segment must match Marathon's
//   ^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$ ;
//   empty segments ("/a//b", trailing "/") are errors.
// * Defaults are Marathon 1.x's, except maxLaunchDelaySeconds: 300 (the value
//   of later Marathon releases; 1.x used 3600). When neither `ports` nor
//   `portDefinitions` is given the app gets one port, {"port":0,"name":"default"},
//   like Marathon; `"portDefinitions": []` means no port.
// * Legacy `ports` become portDefinitions; legacy `uris` become fetch entries
//   (extract=true for archives). Both forms together are accepted only when
//   they agree (that is what toMarathonJson() emits).
// * `args: []` counts as absent. `cmd` and `args` together are an error; an
//   app needs `cmd`, `args` or a container.
// * Unsupported features are rejected with a clear message: secrets (and
//   secret references in env), Docker containers / container images,
//   non-host networking, ipAddress (IP-per-task).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "base/result.h"
#include "conf/constraints.h"

namespace corral::conf {

using StringMap = std::map<std::string, std::string>;

struct PortDefinition {
  int port = 0;                  // 0: the scheduler assigns a service port
  std::string protocol = "tcp";  // "tcp", "udp", "udp,tcp"
  std::optional<std::string> name;
  StringMap labels;
  bool operator==(const PortDefinition&) const = default;
};

enum class HealthCheckProtocol {
  kHttp,
  kHttps,
  kTcp,
  kCommand,
  kMesosHttp,
  kMesosHttps,
  kMesosTcp
};
std::string_view healthCheckProtocolName(HealthCheckProtocol protocol);

struct HealthCheck {
  HealthCheckProtocol protocol = HealthCheckProtocol::kHttp;
  std::optional<std::string> path;     // HTTP(S) only
  std::optional<int> portIndex;        // into portDefinitions; defaults to 0 for
                                       // network checks when `port` is absent
  std::optional<int> port;             // a fixed port instead of portIndex
  std::optional<std::string> command;  // COMMAND: {"command":{"value":...}}
  int gracePeriodSeconds = 300;
  int intervalSeconds = 60;
  int timeoutSeconds = 20;
  int maxConsecutiveFailures = 3;
  int delaySeconds = 15;
  bool ignoreHttp1xx = false;
  std::string ipProtocol = "IPv4";  // "IPv4" | "IPv6"
  bool operator==(const HealthCheck&) const = default;
};

struct ReadinessCheck {
  std::string name = "readinessCheck";
  std::string protocol = "HTTP";  // HTTP | HTTPS
  std::string path = "/";
  std::string portName = "http-api";
  int intervalSeconds = 30;
  int timeoutSeconds = 10;
  std::vector<int> httpStatusCodesForReady = {200};
  bool preserveLastResponse = false;
  bool operator==(const ReadinessCheck&) const = default;
};

struct UpgradeStrategy {
  double minimumHealthCapacity = 1.0;  // [0, 1]
  double maximumOverCapacity = 1.0;    // [0, 1]
  bool operator==(const UpgradeStrategy&) const = default;
};

struct FetchUri {
  std::string uri;
  bool executable = false;
  bool extract = true;
  bool cache = false;
  std::optional<std::string> destPath;
  bool operator==(const FetchUri&) const = default;
};

struct UnreachableStrategy {
  bool disabled = false;  // JSON "disabled"
  int64_t inactiveAfterSeconds = 300;
  int64_t expungeAfterSeconds = 600;
  bool operator==(const UnreachableStrategy&) const = default;
};

struct Residency {
  int64_t relaunchEscalationTimeoutSeconds = 3600;
  std::string taskLostBehavior = "WAIT_FOREVER";  // | RELAUNCH_AFTER_TIMEOUT
  bool operator==(const Residency&) const = default;
};

enum class KillSelection { kYoungestFirst, kOldestFirst };

struct AppDefinition {
  std::string id;  // absolute, normalised: "/shop/web"
  std::optional<std::string> cmd;
  std::optional<std::vector<std::string>> args;
  std::optional<std::string> user;
  int instances = 1;
  double cpus = 1.0;
  double mem = 128.0;
  double disk = 0.0;
  int gpus = 0;
  std::string executor;  // "" = default command executor
  std::vector<PortDefinition> portDefinitions;
  bool requirePorts = false;
  StringMap env;
  StringMap labels;
  std::vector<HealthCheck> healthChecks;
  std::vector<ReadinessCheck> readinessChecks;
  UpgradeStrategy upgradeStrategy;
  std::vector<Constraint> constraints;
  std::vector<FetchUri> fetch;
  std::vector<std::string> storeUrls;
  int backoffSeconds = 1;
  double backoffFactor = 1.15;
  int maxLaunchDelaySeconds = 300;
  KillSelection killSelection = KillSelection::kYoungestFirst;
  std::optional<int> taskKillGracePeriodSeconds;
  std::vector<std::string> dependencies;  // absolute app ids
  std::optional<std::string> version;
  std::optional<std::vector<std::string>> acceptedResourceRoles;
  // Compact JSON text of the container object (type MESOS only); nullopt = none.
  std::optional<std::string> container;
  UnreachableStrategy unreachableStrategy;
  std::optional<Residency> residency;

  bool operator==(const AppDefinition&) const = default;
};

// Parses and validates an app definition. On failure the Error's message
// joins every problem ("/instances: must be ...; /cmd: ..."), its path is the
// first problem's, kind kInvalid; `allErrors`, when given, receives the list.
Result<AppDefinition> parseAppDefinition(const Json& json, std::string_view baseGroup = "/",
                                         std::vector<Error>* allErrors = nullptr);

// Every validation problem of an app definition (empty when valid).
std::vector<Error> validateApp(const Json& json, std::string_view baseGroup = "/");

// Marathon's 422 body:
// {"message":"Object is not valid","details":[{"path":"/instances","errors":["..."]}]}
// Errors sharing a path are grouped, in first-seen order; an empty path is "/".
Json validationErrorBody(const std::vector<Error>& errors);

// The app as Marathon 1.x returns it from GET /v2/apps/{id}: every field
// present with its default, Marathon field names only (accepted by the Python
// `marathon` client). "versionInfo", tasks and counters are the caller's.
Json toMarathonJson(const AppDefinition& app);

// PUT partial update: fields present in `patch` replace the current ones
// (null resets a field to its default). Setting `cmd` drops `args` and vice
// versa; setting `ports` or `portDefinitions` (or `uris`/`fetch`) replaces
// both forms. An `id` in the patch (relative ids resolve against the app's
// parent group) must name the same app.
Result<AppDefinition> applyAppPatch(const AppDefinition& current, const Json& patch);

// "/shop/web" -> {"shop", "web"} (empty segments are skipped).
std::vector<std::string> splitAppId(std::string_view id);
// "/shop/web" -> "/shop"; "/web" -> "/"; "/" -> "/".
std::string parentGroup(std::string_view id);
// Resolves `id` (absolute or relative to `baseGroup`, "." and ".." allowed)
// and validates every segment. Errors carry `path` (e.g. "/id"), kind kInvalid.
Result<std::string> resolveAppId(std::string_view id, std::string_view baseGroup = "/",
                                 std::string_view path = "/id");

}  // namespace corral::conf

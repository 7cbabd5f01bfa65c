#include "conf/app_definition.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <ostream>
#include <string>
#include <vector>

namespace corral::conf {
namespace {

Json parse(const std::string& text) { return Json::parse(text); }

AppDefinition mustParse(const std::string& text, std::string_view base = "/") {
  auto app = parseAppDefinition(parse(text), base);
  EXPECT_TRUE(app.ok()) << text << "\n" << (app.ok() ? "" : app.error().message);
  return app.ok() ? *app : AppDefinition{};
}

const char* kFullApp = R"({
  "id": "/shop/web",
  "cmd": "python3 -m http.server $PORT0",
  "user": "nobody",
  "instances": 3,
  "cpus": 0.25,
  "mem": 64.5,
  "disk": 10,
  "gpus": 1,
  "executor": "//cmd",
  "portDefinitions": [
    {"port": 0, "name": "http", "protocol": "tcp", "labels": {"VIP_0": "1.2.3.4:80"}},
    {"port": 10005, "name": "admin", "protocol": "udp,tcp"}
  ],
  "requirePorts": true,
  "env": {"MODE": "prod", "EMPTY": ""},
  "labels": {"HAPROXY_GROUP": "external", "HAPROXY_0_VHOST": "shop.example.com"},
  "healthChecks": [
    {"protocol": "HTTP", "path": "/health", "portIndex": 0, "gracePeriodSeconds": 10,
     "intervalSeconds": 5, "timeoutSeconds": 2, "maxConsecutiveFailures": 1,
     "ignoreHttp1xx": true, "delaySeconds": 1},
    {"protocol": "TCP", "port": 10005, "ipProtocol": "IPv6"},
    {"protocol": "COMMAND", "command": {"value": "curl -f localhost:$PORT0"}},
    {"protocol": "MESOS_HTTP", "portIndex": 1}
  ],
  "readinessChecks": [
    {"name": "ready", "protocol": "HTTPS", "path": "/ready", "portName": "http",
     "intervalSeconds": 20, "timeoutSeconds": 5, "httpStatusCodesForReady": [200, 204],
     "preserveLastResponse": true}
  ],
  "upgradeStrategy": {"minimumHealthCapacity": 0.5, "maximumOverCapacity": 0.25},
  "constraints": [["hostname", "UNIQUE"], ["rack", "GROUP_BY", "2"], ["zone", "LIKE", "z[12]"]],
  "fetch": [
    {"uri": "https://example.com/app.tgz"},
    {"uri": "https://example.com/run.sh", "executable": true, "extract": false, "cache": true,
     "destPath": "bin/run.sh"}
  ],
  "storeUrls": ["https://example.com/store"],
  "backoffSeconds": 2,
  "backoffFactor": 1.5,
  "maxLaunchDelaySeconds": 600,
  "killSelection": "OLDEST_FIRST",
  "taskKillGracePeriodSeconds": 30,
  "dependencies": ["db", "/infra/cache", "../other"],
  "version": "2024-01-01T00:00:00.000Z",
  "acceptedResourceRoles": ["*", "prod"],
  "container": {"type": "MESOS", "volumes": [{"containerPath": "data", "mode": "RW",
                "persistent": {"size": 100}}]},
  "unreachableStrategy": {"inactiveAfterSeconds": 60, "expungeAfterSeconds": 120},
  "networks": [{"mode": "host"}],
  "residency": {"relaunchEscalationTimeoutSeconds": 10, "taskLostBehavior": "RELAUNCH_AFTER_TIMEOUT"},
  "secrets": {}
})";

// ---------------------------------------------------------------- valid input

TEST(ParseApp, MinimalAppGetsEveryDefault) {
  AppDefinition app = mustParse(R"({"id":"web","cmd":"sleep 1000"})");
  EXPECT_EQ(app.id, "/web");
  EXPECT_EQ(app.cmd, "sleep 1000");
  EXPECT_FALSE(app.args);
  EXPECT_FALSE(app.user);
  EXPECT_EQ(app.instances, 1);
  EXPECT_DOUBLE_EQ(app.cpus, 1.0);
  EXPECT_DOUBLE_EQ(app.mem, 128.0);
  EXPECT_DOUBLE_EQ(app.disk, 0.0);
  EXPECT_EQ(app.gpus, 0);
  EXPECT_EQ(app.executor, "");
  ASSERT_EQ(app.portDefinitions.size(), 1u);
  EXPECT_EQ(app.portDefinitions[0].port, 0);
  EXPECT_EQ(app.portDefinitions[0].protocol, "tcp");
  EXPECT_EQ(app.portDefinitions[0].name, "default");
  EXPECT_TRUE(app.portDefinitions[0].labels.empty());
  EXPECT_FALSE(app.requirePorts);
  EXPECT_TRUE(app.env.empty());
  EXPECT_TRUE(app.labels.empty());
  EXPECT_TRUE(app.healthChecks.empty());
  EXPECT_TRUE(app.readinessChecks.empty());
  EXPECT_DOUBLE_EQ(app.upgradeStrategy.minimumHealthCapacity, 1.0);
  EXPECT_DOUBLE_EQ(app.upgradeStrategy.maximumOverCapacity, 1.0);
  EXPECT_TRUE(app.constraints.empty());
  EXPECT_TRUE(app.fetch.empty());
  EXPECT_TRUE(app.storeUrls.empty());
  EXPECT_EQ(app.backoffSeconds, 1);
  EXPECT_DOUBLE_EQ(app.backoffFactor, 1.15);
  EXPECT_EQ(app.maxLaunchDelaySeconds, 300);
  EXPECT_EQ(app.killSelection, KillSelection::kYoungestFirst);
  EXPECT_FALSE(app.taskKillGracePeriodSeconds);
  EXPECT_TRUE(app.dependencies.empty());
  EXPECT_FALSE(app.version);
  EXPECT_FALSE(app.acceptedResourceRoles);
  EXPECT_FALSE(app.container);
  EXPECT_FALSE(app.unreachableStrategy.disabled);
  EXPECT_EQ(app.unreachableStrategy.inactiveAfterSeconds, 300);
  EXPECT_EQ(app.unreachableStrategy.expungeAfterSeconds, 600);
  EXPECT_FALSE(app.residency);
}

TEST(ParseApp, FullApp) {
  AppDefinition app = mustParse(kFullApp);
  EXPECT_EQ(app.id, "/shop/web");
  EXPECT_EQ(app.user, "nobody");
  EXPECT_EQ(app.instances, 3);
  EXPECT_DOUBLE_EQ(app.cpus, 0.25);
  EXPECT_DOUBLE_EQ(app.mem, 64.5);
  EXPECT_DOUBLE_EQ(app.disk, 10);
  EXPECT_EQ(app.gpus, 1);
  EXPECT_EQ(app.executor, "//cmd");
  ASSERT_EQ(app.portDefinitions.size(), 2u);
  EXPECT_EQ(app.portDefinitions[0].name, "http");
  EXPECT_EQ(app.portDefinitions[0].labels.at("VIP_0"), "1.2.3.4:80");
  EXPECT_EQ(app.portDefinitions[1].port, 10005);
  EXPECT_EQ(app.portDefinitions[1].protocol, "udp,tcp");
  EXPECT_TRUE(app.requirePorts);
  EXPECT_EQ(app.env.at("MODE"), "prod");
  EXPECT_EQ(app.env.at("EMPTY"), "");
  EXPECT_EQ(app.labels.at("HAPROXY_GROUP"), "external");

  ASSERT_EQ(app.healthChecks.size(), 4u);
  const HealthCheck& http = app.healthChecks[0];
  EXPECT_EQ(http.protocol, HealthCheckProtocol::kHttp);
  EXPECT_EQ(http.path, "/health");
  EXPECT_EQ(http.portIndex, 0);
  EXPECT_EQ(http.gracePeriodSeconds, 10);
  EXPECT_EQ(http.intervalSeconds, 5);
  EXPECT_EQ(http.timeoutSeconds, 2);
  EXPECT_EQ(http.maxConsecutiveFailures, 1);
  EXPECT_TRUE(http.ignoreHttp1xx);
  EXPECT_EQ(http.delaySeconds, 1);
  EXPECT_EQ(app.healthChecks[1].protocol, HealthCheckProtocol::kTcp);
  EXPECT_EQ(app.healthChecks[1].port, 10005);
  EXPECT_FALSE(app.healthChecks[1].portIndex);
  EXPECT_EQ(app.healthChecks[1].ipProtocol, "IPv6");
  EXPECT_EQ(app.healthChecks[2].protocol, HealthCheckProtocol::kCommand);
  EXPECT_EQ(app.healthChecks[2].command, "curl -f localhost:$PORT0");
  EXPECT_FALSE(app.healthChecks[2].portIndex);
  EXPECT_EQ(app.healthChecks[3].protocol, HealthCheckProtocol::kMesosHttp);

  ASSERT_EQ(app.readinessChecks.size(), 1u);
  const ReadinessCheck& rc = app.readinessChecks[0];
  EXPECT_EQ(rc.name, "ready");
  EXPECT_EQ(rc.protocol, "HTTPS");
  EXPECT_EQ(rc.path, "/ready");
  EXPECT_EQ(rc.portName, "http");
  EXPECT_EQ(rc.intervalSeconds, 20);
  EXPECT_EQ(rc.timeoutSeconds, 5);
  EXPECT_EQ(rc.httpStatusCodesForReady, (std::vector<int>{200, 204}));
  EXPECT_TRUE(rc.preserveLastResponse);

  EXPECT_DOUBLE_EQ(app.upgradeStrategy.minimumHealthCapacity, 0.5);
  EXPECT_DOUBLE_EQ(app.upgradeStrategy.maximumOverCapacity, 0.25);
  ASSERT_EQ(app.constraints.size(), 3u);
  EXPECT_EQ(app.constraints[1].toString(), "rack:GROUP_BY:2");
  ASSERT_EQ(app.fetch.size(), 2u);
  EXPECT_TRUE(app.fetch[0].extract);
  EXPECT_FALSE(app.fetch[0].executable);
  EXPECT_TRUE(app.fetch[1].executable);
  EXPECT_FALSE(app.fetch[1].extract);
  EXPECT_TRUE(app.fetch[1].cache);
  EXPECT_EQ(app.fetch[1].destPath, "bin/run.sh");
  EXPECT_EQ(app.storeUrls, (std::vector<std::string>{"https://example.com/store"}));
  EXPECT_EQ(app.backoffSeconds, 2);
  EXPECT_DOUBLE_EQ(app.backoffFactor, 1.5);
  EXPECT_EQ(app.maxLaunchDelaySeconds, 600);
  EXPECT_EQ(app.killSelection, KillSelection::kOldestFirst);
  EXPECT_EQ(app.taskKillGracePeriodSeconds, 30);
  // Relative dependencies resolve against the app's parent group.
  EXPECT_EQ(app.dependencies, (std::vector<std::string>{"/shop/db", "/infra/cache", "/other"}));
  EXPECT_EQ(app.version, "2024-01-01T00:00:00.000Z");
  EXPECT_EQ(app.acceptedResourceRoles, (std::vector<std::string>{"*", "prod"}));
  ASSERT_TRUE(app.container);
  EXPECT_EQ(parse(*app.container)["type"], "MESOS");
  EXPECT_EQ(app.unreachableStrategy.inactiveAfterSeconds, 60);
  EXPECT_EQ(app.unreachableStrategy.expungeAfterSeconds, 120);
  ASSERT_TRUE(app.residency);
  EXPECT_EQ(app.residency->relaunchEscalationTimeoutSeconds, 10);
  EXPECT_EQ(app.residency->taskLostBehavior, "RELAUNCH_AFTER_TIMEOUT");
}

TEST(ParseApp, HealthCheckDefaults) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","healthChecks":[{},{"protocol":"TCP"},
      {"protocol":"COMMAND","command":{"value":"true"}}]})");
  ASSERT_EQ(app.healthChecks.size(), 3u);
  for (const HealthCheck& hc : app.healthChecks) {
    EXPECT_EQ(hc.gracePeriodSeconds, 300);
    EXPECT_EQ(hc.intervalSeconds, 60);
    EXPECT_EQ(hc.timeoutSeconds, 20);
    EXPECT_EQ(hc.maxConsecutiveFailures, 3);
    EXPECT_EQ(hc.delaySeconds, 15);
    EXPECT_FALSE(hc.ignoreHttp1xx);
    EXPECT_EQ(hc.ipProtocol, "IPv4");
    EXPECT_FALSE(hc.port);
  }
  EXPECT_EQ(app.healthChecks[0].protocol, HealthCheckProtocol::kHttp);  // default protocol
  EXPECT_FALSE(app.healthChecks[0].path);
  EXPECT_EQ(app.healthChecks[0].portIndex, 0);  // defaulted: the app has a port
  EXPECT_EQ(app.healthChecks[1].portIndex, 0);
  EXPECT_FALSE(app.healthChecks[2].portIndex);
}

TEST(ParseApp, ReadinessCheckDefaults) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","portDefinitions":[{"name":"http-api"}],
      "readinessChecks":[{}]})");
  ASSERT_EQ(app.readinessChecks.size(), 1u);
  const ReadinessCheck& rc = app.readinessChecks[0];
  EXPECT_EQ(rc.name, "readinessCheck");
  EXPECT_EQ(rc.protocol, "HTTP");
  EXPECT_EQ(rc.path, "/");
  EXPECT_EQ(rc.portName, "http-api");
  EXPECT_EQ(rc.intervalSeconds, 30);
  EXPECT_EQ(rc.timeoutSeconds, 10);
  EXPECT_EQ(rc.httpStatusCodesForReady, std::vector<int>{200});
  EXPECT_FALSE(rc.preserveLastResponse);
}

TEST(ParseApp, NullMeansDefault) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","args":null,"user":null,"instances":null,
      "cpus":null,"env":null,"labels":null,"healthChecks":null,"upgradeStrategy":null,
      "container":null,"version":null,"residency":null,"secrets":null,"ipAddress":null,
      "portDefinitions":null,"taskKillGracePeriodSeconds":null,"acceptedResourceRoles":null})");
  EXPECT_EQ(app.instances, 1);
  EXPECT_DOUBLE_EQ(app.cpus, 1.0);
  EXPECT_EQ(app.portDefinitions.size(), 1u);
  EXPECT_FALSE(app.container);
}

TEST(ParseApp, DefaultRoleAndNoTtyAreAccepted) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","role":"*","tty":false})");
  EXPECT_EQ(toMarathonJson(app)["role"], "*");
}

TEST(ParseApp, UnknownAndReadOnlyKeysAreIgnored) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","tasks":[],"tasksRunning":3,
      "versionInfo":{"lastScalingAt":"2024-01-01T00:00:00.000Z"},"deployments":[],
      "somethingNew":{"x":1}})");
  EXPECT_EQ(app.id, "/a");
}

TEST(ParseApp, ArgsInsteadOfCmd) {
  AppDefinition app = mustParse(R"({"id":"/a","args":["/bin/echo","hi"]})");
  EXPECT_FALSE(app.cmd);
  EXPECT_EQ(app.args, (std::vector<std::string>{"/bin/echo", "hi"}));
  // An empty args array is no args (Marathon 0.7 clients send it with cmd).
  AppDefinition both = mustParse(R"({"id":"/a","cmd":"x","args":[]})");
  EXPECT_FALSE(both.args);
}

TEST(ParseApp, ContainerAloneIsEnough) {
  AppDefinition app = mustParse(R"({"id":"/a","container":{"type":"MESOS"}})");
  EXPECT_FALSE(app.cmd);
  EXPECT_EQ(*app.container, R"({"type":"MESOS"})");
}

TEST(ParseApp, LegacyPortsBecomePortDefinitions) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","ports":[0,0,8080]})");
  ASSERT_EQ(app.portDefinitions.size(), 3u);
  EXPECT_EQ(app.portDefinitions[2].port, 8080);
  EXPECT_EQ(app.portDefinitions[0].protocol, "tcp");
  EXPECT_FALSE(app.portDefinitions[0].name);
  AppDefinition none = mustParse(R"({"id":"/a","cmd":"x","ports":[]})");
  EXPECT_TRUE(none.portDefinitions.empty());
  AppDefinition noDefs = mustParse(R"({"id":"/a","cmd":"x","portDefinitions":[]})");
  EXPECT_TRUE(noDefs.portDefinitions.empty());
  // Both forms agreeing (what toMarathonJson emits) is fine.
  AppDefinition both = mustParse(R"({"id":"/a","cmd":"x","ports":[0,9000],
      "portDefinitions":[{"port":0,"name":"a"},{"port":9000}]})");
  EXPECT_EQ(both.portDefinitions[0].name, "a");
  EXPECT_EQ(both.portDefinitions[1].port, 9000);
}

TEST(ParseApp, LegacyUrisBecomeFetch) {
  AppDefinition app =
      mustParse(R"({"id":"/a","cmd":"x","uris":["http://h/a.tgz","http://h/b.tar.gz",
      "http://h/c.zip","http://h/run.sh","http://h/d.tar.xz","http://h/e.tbz2"]})");
  ASSERT_EQ(app.fetch.size(), 6u);
  std::vector<bool> extract;
  for (const FetchUri& f : app.fetch) {
    extract.push_back(f.extract);
    EXPECT_FALSE(f.executable);
    EXPECT_FALSE(f.cache);
  }
  EXPECT_EQ(extract, (std::vector<bool>{true, true, true, false, true, true}));
}

TEST(ParseApp, RelativeIdsResolveAgainstBaseGroup) {
  struct Case {
    const char* id;
    const char* base;
    const char* want;
  };
  for (Case c : std::vector<Case>{{"web", "/", "/web"},
                                  {"web", "/shop", "/shop/web"},
                                  {"web", "/shop/", "/shop/web"},
                                  {"web", "", "/web"},
                                  {"../web", "/shop/a", "/shop/web"},
                                  {"./web", "/shop", "/shop/web"},
                                  {"/abs/web", "/shop", "/abs/web"},
                                  {"/a/./b", "/", "/a/b"},
                                  {"/a/../b", "/", "/b"},
                                  {"web.v2", "/", "/web.v2"},
                                  {"a-1.b-2", "/", "/a-1.b-2"},
                                  {"/0/9", "/", "/0/9"}}) {
    auto id = resolveAppId(c.id, c.base);
    ASSERT_TRUE(id.ok()) << c.id << " in " << c.base << ": " << id.error().message;
    EXPECT_EQ(*id, c.want) << c.id << " in " << c.base;
    AppDefinition app = mustParse(std::string(R"({"cmd":"x","id":")") + c.id + "\"}", c.base);
    EXPECT_EQ(app.id, c.want);
  }
}

TEST(ParseApp, SplitAndParentHelpers) {
  EXPECT_EQ(splitAppId("/shop/web"), (std::vector<std::string>{"shop", "web"}));
  EXPECT_EQ(splitAppId("shop/web/"), (std::vector<std::string>{"shop", "web"}));
  EXPECT_TRUE(splitAppId("/").empty());
  EXPECT_TRUE(splitAppId("").empty());
  EXPECT_EQ(parentGroup("/shop/web"), "/shop");
  EXPECT_EQ(parentGroup("/a/b/c"), "/a/b");
  EXPECT_EQ(parentGroup("/web"), "/");
  EXPECT_EQ(parentGroup("/"), "/");
  EXPECT_EQ(parentGroup(""), "/");
}

TEST(ParseApp, HugeButValidNumbers) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","mem":1e300,"instances":2147483647,
      "cpus":0.001,"instances":2.0})");
  EXPECT_DOUBLE_EQ(app.mem, 1e300);
  EXPECT_EQ(app.instances, 2);  // the last duplicate key wins in the JSON parser
}

// ---------------------------------------------------------------- bad ids

class BadIds : public ::testing::TestWithParam<const char*> {};

TEST_P(BadIds, AreRejectedWithPathAndValue) {
  auto app = parseAppDefinition(parse(std::string(R"({"cmd":"x","id":")") + GetParam() + "\"}"));
  ASSERT_FALSE(app.ok()) << GetParam();
  EXPECT_EQ(app.error().path, "/id");
  EXPECT_EQ(app.error().kind, ErrorKind::kInvalid);
  if (std::string(GetParam()).size() > 0) {
    EXPECT_NE(app.error().message.find(GetParam()), std::string::npos) << app.error().message;
  }
}

INSTANTIATE_TEST_SUITE_P(Table, BadIds,
                         ::testing::Values("/Web", "/a//b", "web_1", "", "/", ".", "..", "/..",
                                           "/a/../..", "/-a", "/a-", "/a..b", "/a/", "/.a", "/a.",
                                           "web/..", "/a b", "/a/\u00e9", "/a:b"));

TEST(ParseApp, BadIdMessages) {
  auto upper = resolveAppId("/Web");
  ASSERT_FALSE(upper.ok());
  EXPECT_EQ(upper.error().message,
            "invalid path segment \"Web\" in \"/Web\": use lower-case letters, digits, '-' and '.' "
            "(a name may not start or end with '-' or '.')");
  auto empty = resolveAppId("/a//b");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().message, "empty path segment in \"/a//b\"");
  auto above = resolveAppId("../x", "/");
  ASSERT_FALSE(above.ok());
  EXPECT_EQ(above.error().message, "\"..\" goes above the root group in \"../x\"");
  auto root = resolveAppId("/");
  ASSERT_FALSE(root.ok());
  EXPECT_EQ(root.error().message, "\"/\" names the root group, not an app");
  auto custom = resolveAppId("X", "/", "/dependencies(2)");
  ASSERT_FALSE(custom.ok());
  EXPECT_EQ(custom.error().path, "/dependencies(2)");
}

// ---------------------------------------------------------------- error table

struct BadApp {
  std::string json;  // merged into {"id":"/a","cmd":"x"} unless it has "id"/"cmd" itself
  std::string path;
  std::string message;  // substring of the error at `path`
};

void PrintTo(const BadApp& b, std::ostream* os) { *os << b.path << " " << b.json; }

class ParseAppErrors : public ::testing::TestWithParam<BadApp> {};

TEST_P(ParseAppErrors, NamesPathAndBadValue) {
  Json body = parse(R"({"id":"/a","cmd":"x"})");
  Json extra = parse(GetParam().json);
  if (extra.is_object()) {
    for (auto it = extra.begin(); it != extra.end(); ++it) {
      if (it.value().is_string() && it.value() == "<remove>") {
        body.erase(it.key());
      } else {
        body[it.key()] = it.value();
      }
    }
  } else {
    body = extra;
  }
  std::vector<Error> errors = validateApp(body);
  ASSERT_FALSE(errors.empty()) << dumpJson(body);
  bool found = false;
  std::string all;
  for (const Error& e : errors) {
    all += e.path + ": " + e.message + "\n";
    EXPECT_EQ(e.kind, ErrorKind::kInvalid);
    if (e.path == GetParam().path && e.message.find(GetParam().message) != std::string::npos) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << "want " << GetParam().path << ": " << GetParam().message << "\ngot:\n"
                     << all;
  auto parsed = parseAppDefinition(body);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().path, errors.front().path);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParseAppErrors,
    ::testing::Values(
        BadApp{R"([1,2])", "/", "expected a JSON object, got array [1,2]"},
        BadApp{R"("app")", "/", "expected a JSON object, got string \"app\""},
        BadApp{R"({"id":"<remove>"})", "/id", "is required"},
        BadApp{R"({"id":5})", "/id", "expected string, got number 5"},
        BadApp{R"({"instances":-1})", "/instances", "must be greater than or equal to 0, got -1"},
        BadApp{R"({"instances":"3"})", "/instances", "expected integer, got string \"3\""},
        BadApp{R"({"instances":1.5})", "/instances", "expected integer, got 1.5"},
        BadApp{R"({"instances":true})", "/instances", "expected integer, got boolean true"},
        BadApp{R"({"instances":1e20})", "/instances",
               "must be less than or equal to 2147483647, got 1e+20"},
        BadApp{R"({"instances":18446744073709551615})", "/instances",
               "must be less than or equal to 2147483647, got 18446744073709551615"},
        BadApp{R"({"instances":2147483648})", "/instances",
               "must be less than or equal to 2147483647, got 2147483648"},
        BadApp{R"({"cpus":-0.5})", "/cpus", "must be greater than or equal to 0, got -0.5"},
        BadApp{R"({"mem":"lots"})", "/mem", "expected number, got string \"lots\""},
        BadApp{R"({"disk":-1})", "/disk", "must be greater than or equal to 0, got -1"},
        BadApp{R"({"gpus":-1})", "/gpus", "must be greater than or equal to 0, got -1"},
        BadApp{R"({"cmd":5})", "/cmd", "expected string, got number 5"},
        BadApp{R"({"cmd":""})", "/cmd", "must not be empty"},
        BadApp{R"({"args":[1]})", "/args(0)", "expected string, got number 1"},
        BadApp{R"({"args":"echo"})", "/args", "expected array, got string \"echo\""},
        BadApp{R"({"args":["echo"]})", "/", "must contain one of 'cmd' or 'args', not both"},
        BadApp{R"({"cmd":"<remove>"})", "/", "must either contain one of 'cmd' or 'args'"},
        BadApp{R"({"user":5})", "/user", "expected string"},
        BadApp{R"({"executor":[]})", "/executor", "expected string, got array []"},
        BadApp{R"({"env":{"A":1}})", "/env/A", "expected string, got number 1"},
        BadApp{R"({"env":{"A":{"secret":"s1"}}})", "/env/A", "secret references are not"},
        BadApp{R"({"env":[]})", "/env", "expected object, got array"},
        BadApp{R"({"labels":{"a":true}})", "/labels/a", "expected string, got boolean true"},
        BadApp{R"({"requirePorts":"yes"})", "/requirePorts", "expected boolean"},
        BadApp{R"({"ports":[70000]})", "/ports(0)", "must be less than or equal to 65535"},
        BadApp{R"({"ports":[-1]})", "/ports(0)", "must be greater than or equal to 0"},
        BadApp{R"({"ports":[80,80]})", "/ports(1)", "duplicate port 80"},
        BadApp{R"({"ports":[0,0,80,80]})", "/ports(3)", "duplicate port 80"},
        BadApp{R"({"portDefinitions":[{"port":0,"name":"http"},{"port":0,"name":"http"}]})",
               "/portDefinitions(1)/name", "duplicate port name \"http\""},
        BadApp{R"({"portDefinitions":[{"port":8080},{"port":8080}]})", "/portDefinitions(1)/port",
               "duplicate port 8080"},
        BadApp{R"({"portDefinitions":[{"name":"HTTP"}]})", "/portDefinitions(0)/name",
               "invalid port name \"HTTP\""},
        BadApp{R"({"portDefinitions":[{"protocol":"sctp"}]})", "/portDefinitions(0)/protocol",
               "got \"sctp\""},
        BadApp{R"({"portDefinitions":[{"port":65536}]})", "/portDefinitions(0)/port",
               "must be less than or equal to 65535, got 65536"},
        BadApp{R"({"portDefinitions":[5]})", "/portDefinitions(0)", "expected object, got number"},
        BadApp{R"({"portDefinitions":[{"labels":{"a":1}}]})", "/portDefinitions(0)/labels/a",
               "expected string"},
        BadApp{R"({"ports":[1],"portDefinitions":[{"port":2}]})", "/ports",
               "cannot be combined with portDefinitions"},
        BadApp{R"({"healthChecks":{}})", "/healthChecks", "expected array"},
        BadApp{R"({"healthChecks":[{"protocol":"FOO"}]})", "/healthChecks(0)/protocol",
               "unknown protocol \"FOO\""},
        BadApp{R"({"healthChecks":[{"portIndex":3}]})", "/healthChecks(0)/portIndex",
               "3 does not address a port definition (the app has 1)"},
        BadApp{R"({"healthChecks":[{"protocol":"TCP","path":"/x"}]})", "/healthChecks(0)/path",
               "is only valid with an HTTP protocol, not TCP"},
        BadApp{R"({"healthChecks":[{"path":""}]})", "/healthChecks(0)/path", "must not be empty"},
        BadApp{R"({"healthChecks":[{"protocol":"COMMAND"}]})", "/healthChecks(0)/command",
               "is required with protocol COMMAND"},
        BadApp{R"({"healthChecks":[{"protocol":"COMMAND","command":{}}]})",
               "/healthChecks(0)/command/value", "is required"},
        BadApp{R"({"healthChecks":[{"protocol":"COMMAND","command":{"value":"x"},"portIndex":0}]})",
               "/healthChecks(0)", "COMMAND health checks take no port"},
        BadApp{R"({"healthChecks":[{"protocol":"HTTP","command":{"value":"x"}}]})",
               "/healthChecks(0)/command", "is only valid with protocol COMMAND"},
        BadApp{R"({"portDefinitions":[],"healthChecks":[{"protocol":"HTTP"}]})", "/healthChecks(0)",
               "needs a port"},
        BadApp{R"({"healthChecks":[{"port":80,"portIndex":0}]})", "/healthChecks(0)",
               "either port or portIndex, not both"},
        BadApp{R"({"healthChecks":[{"intervalSeconds":"x"}]})", "/healthChecks(0)/intervalSeconds",
               "expected integer, got string \"x\""},
        BadApp{R"({"healthChecks":[{"intervalSeconds":0}]})", "/healthChecks(0)/intervalSeconds",
               "must be greater than or equal to 1"},
        BadApp{R"({"healthChecks":[{"gracePeriodSeconds":-1}]})",
               "/healthChecks(0)/gracePeriodSeconds", "must be greater than or equal to 0"},
        BadApp{R"({"healthChecks":[{"ignoreHttp1xx":1}]})", "/healthChecks(0)/ignoreHttp1xx",
               "expected boolean"},
        BadApp{R"({"healthChecks":[{"ipProtocol":"IPv5"}]})", "/healthChecks(0)/ipProtocol",
               "must be IPv4 or IPv6"},
        BadApp{R"({"readinessChecks":[{"portName":"nope"}]})", "/readinessChecks(0)/portName",
               "no port definition is named \"nope\""},
        BadApp{R"({"readinessChecks":[{"portName":"default","timeoutSeconds":30}]})",
               "/readinessChecks(0)/timeoutSeconds",
               "must be less than intervalSeconds (30), got 30"},
        BadApp{R"({"readinessChecks":[{"portName":"default","protocol":"TCP"}]})",
               "/readinessChecks(0)/protocol", "must be HTTP or HTTPS"},
        BadApp{R"({"readinessChecks":[{"portName":"default","httpStatusCodesForReady":[]}]})",
               "/readinessChecks(0)/httpStatusCodesForReady", "must not be empty"},
        BadApp{R"({"readinessChecks":[{"portName":"default","httpStatusCodesForReady":[42]}]})",
               "/readinessChecks(0)/httpStatusCodesForReady(0)",
               "must be greater than or equal to 100"},
        BadApp{R"({"upgradeStrategy":{"minimumHealthCapacity":1.5}})",
               "/upgradeStrategy/minimumHealthCapacity",
               "must be less than or equal to 1, got 1.5"},
        BadApp{R"({"upgradeStrategy":{"maximumOverCapacity":-0.1}})",
               "/upgradeStrategy/maximumOverCapacity", "must be greater than or equal to 0"},
        BadApp{R"({"upgradeStrategy":1})", "/upgradeStrategy", "expected object"},
        BadApp{R"({"constraints":[["hostname","UNIQUE"],["hostname","NEAR"]]})", "/constraints(1)",
               "unknown constraint operator \"NEAR\""},
        BadApp{R"({"constraints":[["rack","LIKE","[z"]]})", "/constraints(0)",
               "not a valid regular expression"},
        BadApp{R"({"constraints":"hostname:UNIQUE"})", "/constraints", "must be an array"},
        BadApp{R"({"backoffFactor":0.5})", "/backoffFactor",
               "must be greater than or equal to 1, got 0.5"},
        BadApp{R"({"backoffSeconds":-1})", "/backoffSeconds", "must be greater than or equal to 0"},
        BadApp{R"({"maxLaunchDelaySeconds":"1h"})", "/maxLaunchDelaySeconds", "expected integer"},
        BadApp{R"({"killSelection":"RANDOM"})", "/killSelection",
               "must be YOUNGEST_FIRST or OLDEST_FIRST, got \"RANDOM\""},
        BadApp{R"({"taskKillGracePeriodSeconds":-1})", "/taskKillGracePeriodSeconds",
               "must be greater than or equal to 0"},
        BadApp{R"({"dependencies":["/Bad"]})", "/dependencies(0)", "invalid path segment \"Bad\""},
        BadApp{R"({"dependencies":[""]})", "/dependencies(0)", "must not be empty"},
        BadApp{R"({"version":5})", "/version", "expected string"},
        BadApp{R"({"acceptedResourceRoles":["*","*"]})", "/acceptedResourceRoles(1)",
               "duplicate value \"*\""},
        BadApp{R"({"container":{"type":"DOCKER","docker":{"image":"nginx"}}})", "/container/type",
               "only \"MESOS\" containers are supported, got \"DOCKER\""},
        BadApp{R"({"container":{"docker":{"image":"nginx"}}})", "/container/type", "is required"},
        BadApp{R"({"container":{"type":"MESOS","docker":{"image":"nginx"}}})",
               "/container/docker/image", "container images are not supported"},
        BadApp{R"({"container":{"type":"MESOS","portMappings":[{"containerPort":80}]}})",
               "/container/portMappings", "host networking only"},
        BadApp{R"({"container":{"type":"MESOS","appc":{}}})", "/container/appc",
               "unsupported container field"},
        BadApp{R"({"container":{"type":"MESOS","volumes":[{"mode":"RX"}]}})",
               "/container/volumes(0)/mode", "must be RO or RW"},
        BadApp{R"({"container":{"type":"MESOS","volumes":[{"size":1}]}})",
               "/container/volumes(0)/size", "unsupported volume field"},
        BadApp{R"({"container":"MESOS"})", "/container", "expected object"},
        BadApp{R"({"networks":[{"mode":"container","name":"dcos"}]})", "/networks(0)/mode",
               "only \"host\" networking is supported, got \"container\""},
        BadApp{R"({"networks":[{"name":"dcos"}]})", "/networks(0)/mode",
               "\"container\" (the default)"},
        BadApp{R"({"secrets":{"s":{"source":"db/pass"}}})", "/secrets",
               "secrets are not supported"},
        BadApp{R"({"ipAddress":{"networkName":"x"}})", "/ipAddress", "not supported"},
        BadApp{R"({"role":"slave_public"})", "/role",
               "only the default role \"*\" is supported by corral, got \"slave_public\""},
        BadApp{R"({"role":5})", "/role", "expected string"},
        BadApp{R"({"tty":true})", "/tty", "does not allocate a TTY"},
        BadApp{R"({"tty":"yes"})", "/tty", "expected boolean"},
        BadApp{R"({"check":{"http":{"portIndex":0,"path":"/"}}})", "/check",
               "Mesos checks are not supported"},
        BadApp{R"({"resourceLimits":{"cpus":"unlimited"}})", "/resourceLimits",
               "resource limits are not supported"},
        BadApp{R"({"unreachableStrategy":"enabled"})", "/unreachableStrategy",
               "must be \"disabled\" or an object, got \"enabled\""},
        BadApp{R"({"unreachableStrategy":{"inactiveAfterSeconds":700}})",
               "/unreachableStrategy/inactiveAfterSeconds",
               "must be less than or equal to expungeAfterSeconds (600), got 700"},
        BadApp{R"({"residency":{"taskLostBehavior":"PANIC"}})", "/residency/taskLostBehavior",
               "got \"PANIC\""},
        BadApp{R"({"fetch":[{"executable":true}]})", "/fetch(0)/uri", "is required"},
        BadApp{R"({"fetch":[{"uri":"a","cache":"no"}]})", "/fetch(0)/cache", "expected boolean"},
        BadApp{R"({"uris":["a"],"fetch":[{"uri":"b"}]})", "/uris", "cannot be combined with fetch"},
        BadApp{R"({"uris":[""]})", "/uris(0)", "must not be empty"},
        BadApp{R"({"storeUrls":[""]})", "/storeUrls(0)", "must not be empty"}));

TEST(ParseApp, CollectsAllErrorsAndJoinsThem) {
  Json body = parse(R"({"id":"/Web","cmd":"x","instances":-1,"cpus":"many"})");
  std::vector<Error> all;
  auto app = parseAppDefinition(body, "/", &all);
  ASSERT_FALSE(app.ok());
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0].path, "/id");
  EXPECT_EQ(all[1].path, "/instances");
  EXPECT_EQ(all[2].path, "/cpus");
  EXPECT_EQ(app.error().path, "/id");
  EXPECT_EQ(app.error().kind, ErrorKind::kInvalid);
  EXPECT_NE(app.error().message.find("; /instances: must be greater than or equal to 0, got -1; "
                                     "/cpus: expected number, got string \"many\""),
            std::string::npos)
      << app.error().message;
  EXPECT_EQ(validateApp(body).size(), 3u);
  EXPECT_TRUE(validateApp(parse(R"({"id":"/a","cmd":"x"})")).empty());
}

TEST(ValidationErrorBody, MarathonShape) {
  std::vector<Error> errors = {
      makeError(ErrorKind::kInvalid, "must be greater than or equal to 0", "/instances"),
      makeError(ErrorKind::kInvalid, "a", "/healthChecks(0)/path"),
      makeError(ErrorKind::kInvalid, "b", "/instances"),
      makeError(ErrorKind::kInvalid, "root problem")};
  Json body = validationErrorBody(errors);
  EXPECT_EQ(body, parse(R"({"message":"Object is not valid","details":[
      {"path":"/instances","errors":["must be greater than or equal to 0","b"]},
      {"path":"/healthChecks(0)/path","errors":["a"]},
      {"path":"/","errors":["root problem"]}]})"));
  EXPECT_EQ(validationErrorBody({}), parse(R"({"message":"Object is not valid","details":[]})"));
}

TEST(ValidationErrorBody, FromValidateApp) {
  Json body = validationErrorBody(validateApp(parse(R"({"id":"/a","cmd":"x","instances":-1})")));
  EXPECT_EQ(body, parse(R"({"message":"Object is not valid","details":[
      {"path":"/instances","errors":["must be greater than or equal to 0, got -1"]}]})"));
}

// ---------------------------------------------------------------- output

TEST(ToMarathonJson, MinimalAppHasMarathonsFieldsAndNoNulls) {
  Json out = toMarathonJson(mustParse(R"({"id":"/web","cmd":"sleep 1000"})"));
  Json want = parse(R"({
    "id": "/web", "cmd": "sleep 1000", "env": {},
    "instances": 1, "cpus": 1.0, "mem": 128.0, "disk": 0.0, "gpus": 0, "executor": "",
    "constraints": [], "uris": [], "fetch": [], "storeUrls": [],
    "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
    "healthChecks": [], "readinessChecks": [], "dependencies": [],
    "upgradeStrategy": {"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0},
    "labels": {}, "secrets": {},
    "unreachableStrategy": {"inactiveAfterSeconds": 300, "expungeAfterSeconds": 600},
    "killSelection": "YOUNGEST_FIRST",
    "ports": [0], "portDefinitions": [{"port": 0, "protocol": "tcp", "name": "default", "labels": {}}],
    "requirePorts": false, "networks": [{"mode": "host"}], "role": "*"
  })");
  EXPECT_EQ(out, want) << out.dump(2);
}

TEST(ToMarathonJson, HealthChecksInMarathonShape) {
  AppDefinition app = mustParse(kFullApp);
  Json out = toMarathonJson(app);
  EXPECT_EQ(out["healthChecks"][0], parse(R"({"protocol":"HTTP","path":"/health","portIndex":0,
      "ipProtocol":"IPv4","gracePeriodSeconds":10,"intervalSeconds":5,"timeoutSeconds":2,
      "maxConsecutiveFailures":1,"delaySeconds":1,"ignoreHttp1xx":true})"));
  EXPECT_EQ(out["healthChecks"][2], parse(R"({"protocol":"COMMAND",
      "command":{"value":"curl -f localhost:$PORT0"},"gracePeriodSeconds":300,"intervalSeconds":60,
      "timeoutSeconds":20,"maxConsecutiveFailures":3,"delaySeconds":15,"ignoreHttp1xx":false})"));
  EXPECT_EQ(out["ports"], parse("[0,10005]"));
  EXPECT_EQ(out["uris"], parse(R"(["https://example.com/app.tgz","https://example.com/run.sh"])"));
  EXPECT_EQ(out["fetch"][1], parse(R"({"uri":"https://example.com/run.sh","extract":false,
      "executable":true,"cache":true,"destPath":"bin/run.sh"})"));
  EXPECT_EQ(out["constraints"], parse(R"([["hostname","UNIQUE"],["rack","GROUP_BY","2"],
      ["zone","LIKE","z[12]"]])"));
  EXPECT_EQ(out["killSelection"], "OLDEST_FIRST");
  EXPECT_EQ(out["taskKillGracePeriodSeconds"], 30);
  EXPECT_EQ(out["residency"]["taskLostBehavior"], "RELAUNCH_AFTER_TIMEOUT");
  EXPECT_EQ(out["container"]["volumes"][0]["persistent"]["size"], 100);
}

TEST(ToMarathonJson, UnreachableDisabled) {
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x","unreachableStrategy":"disabled"})");
  EXPECT_TRUE(app.unreachableStrategy.disabled);
  EXPECT_EQ(toMarathonJson(app)["unreachableStrategy"], "disabled");
}

struct RoundTripCase {
  const char* name;
  std::string json;
};

void PrintTo(const RoundTripCase& c, std::ostream* os) { *os << c.name; }

class RoundTrip : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTrip, ParseEmitParseIsIdentity) {
  AppDefinition first = mustParse(GetParam().json);
  Json emitted = toMarathonJson(first);
  auto second = parseAppDefinition(emitted);
  ASSERT_TRUE(second.ok()) << second.error().message << "\n" << emitted.dump(2);
  EXPECT_EQ(*second, first) << emitted.dump(2);
  EXPECT_EQ(toMarathonJson(*second), emitted);
}

INSTANTIATE_TEST_SUITE_P(
    Apps, RoundTrip,
    ::testing::Values(
        RoundTripCase{"full", kFullApp},
        RoundTripCase{"minimal", R"({"id":"web","cmd":"sleep 1"})"},
        RoundTripCase{"legacy",
                      R"({"id":"/a/b","args":["x","y"],"ports":[0,0],"uris":["http://h/x.zip"]})"},
        RoundTripCase{"command_check", R"({"id":"/a","cmd":"x","portDefinitions":[],
            "unreachableStrategy":"disabled",
            "healthChecks":[{"protocol":"COMMAND","command":{"value":"true"}}]})"},
        RoundTripCase{"container", R"({"id":"/a","container":{"type":"MESOS","volumes":[]},
            "constraints":[["rack","MAX_PER",2],["level","IS","3"],["x","UNLIKE",""]]})"},
        RoundTripCase{"tcp_port_roles_labels", R"({"id":"/a","cmd":"x",
            "healthChecks":[{"protocol":"TCP","port":22}],"acceptedResourceRoles":[],
            "labels":{"k":"v \"quoted\" \u00e9"}})"}));

// ---------------------------------------------------------------- patch

AppDefinition currentApp() {
  return mustParse(R"({"id":"/shop/web","cmd":"run","instances":2,"ports":[0],
      "labels":{"a":"1"},"uris":["http://h/a.tgz"],"env":{"X":"1"}})");
}

TEST(ApplyAppPatch, ReplacesOnlyGivenFields) {
  AppDefinition cur = currentApp();
  auto next = applyAppPatch(cur, parse(R"({"instances":5,"labels":{"b":"2"}})"));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->instances, 5);
  EXPECT_EQ(next->labels, (StringMap{{"b", "2"}}));  // replaced, not merged
  EXPECT_EQ(next->cmd, "run");
  EXPECT_EQ(next->env, cur.env);
  EXPECT_EQ(next->portDefinitions, cur.portDefinitions);
  EXPECT_EQ(next->fetch, cur.fetch);
  EXPECT_EQ(next->id, "/shop/web");
}

TEST(ApplyAppPatch, EmptyPatchIsIdentity) {
  AppDefinition cur = mustParse(kFullApp);
  auto next = applyAppPatch(cur, Json::object());
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(*next, cur);
}

TEST(ApplyAppPatch, CmdAndArgsReplaceEachOther) {
  AppDefinition cur = currentApp();
  auto withArgs = applyAppPatch(cur, parse(R"({"args":["/bin/true"]})"));
  ASSERT_TRUE(withArgs.ok()) << withArgs.error().message;
  EXPECT_FALSE(withArgs->cmd);
  EXPECT_EQ(withArgs->args, std::vector<std::string>{"/bin/true"});
  auto back = applyAppPatch(*withArgs, parse(R"({"cmd":"run2"})"));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->cmd, "run2");
  EXPECT_FALSE(back->args);
}

TEST(ApplyAppPatch, PortsAndFetchFormsReplaceEachOther) {
  AppDefinition cur = currentApp();
  auto next = applyAppPatch(
      cur, parse(R"({"portDefinitions":[{"port":0,"name":"http"},{"port":0,"name":"admin"}],
                     "fetch":[{"uri":"http://h/b.sh","executable":true}]})"));
  ASSERT_TRUE(next.ok()) << next.error().message;
  ASSERT_EQ(next->portDefinitions.size(), 2u);
  EXPECT_EQ(next->portDefinitions[1].name, "admin");
  ASSERT_EQ(next->fetch.size(), 1u);
  EXPECT_TRUE(next->fetch[0].executable);
  auto legacy = applyAppPatch(*next, parse(R"({"ports":[0,0,0],"uris":["http://h/c.zip"]})"));
  ASSERT_TRUE(legacy.ok()) << legacy.error().message;
  EXPECT_EQ(legacy->portDefinitions.size(), 3u);
  EXPECT_FALSE(legacy->portDefinitions[0].name);
  EXPECT_EQ(legacy->fetch[0].uri, "http://h/c.zip");
}

TEST(ApplyAppPatch, NullResetsToDefault) {
  AppDefinition cur = currentApp();
  auto next = applyAppPatch(cur, parse(R"({"instances":null,"labels":null})"));
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->instances, 1);
  EXPECT_TRUE(next->labels.empty());
}

TEST(ApplyAppPatch, IdMustMatch) {
  AppDefinition cur = currentApp();
  EXPECT_TRUE(applyAppPatch(cur, parse(R"({"id":"/shop/web"})")).ok());
  EXPECT_TRUE(applyAppPatch(cur, parse(R"({"id":"web"})")).ok());  // relative to /shop
  auto other = applyAppPatch(cur, parse(R"({"id":"/shop/api"})"));
  ASSERT_FALSE(other.ok());
  EXPECT_EQ(other.error().path, "/id");
  EXPECT_EQ(other.error().message, "the patch names app \"/shop/api\", not \"/shop/web\"");
  auto bad = applyAppPatch(cur, parse(R"({"id":"/Shop/web"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().path, "/id");
  auto type = applyAppPatch(cur, parse(R"({"id":7})"));
  ASSERT_FALSE(type.ok());
  EXPECT_EQ(type.error().path, "/id");
}

TEST(ApplyAppPatch, InvalidPatchReportsPath) {
  AppDefinition cur = currentApp();
  auto next = applyAppPatch(cur, parse(R"({"instances":-3})"));
  ASSERT_FALSE(next.ok());
  EXPECT_EQ(next.error().path, "/instances");
  auto both = applyAppPatch(cur, parse(R"({"cmd":"a","args":["b"]})"));
  ASSERT_FALSE(both.ok());
  EXPECT_EQ(both.error().path, "/");
  auto ports = applyAppPatch(cur, parse(R"({"ports":[1],"portDefinitions":[{"port":2}]})"));
  ASSERT_FALSE(ports.ok());
  EXPECT_EQ(ports.error().path, "/ports");
  auto notObject = applyAppPatch(cur, parse("[1]"));
  ASSERT_FALSE(notObject.ok());
  EXPECT_EQ(notObject.error().path, "/");
  EXPECT_EQ(notObject.error().kind, ErrorKind::kInvalid);
}

TEST(ParseApp, InvalidUtf8InStringsDoesNotThrow) {
  Json body = parse(R"({"id":"/a","cmd":"x"})");
  body["labels"] = Json::object();
  body["labels"]["k"] = std::string("\xff\xfe");
  body["instances"] = std::string("\xff");
  std::vector<Error> errors = validateApp(body);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "/instances");
  AppDefinition app = mustParse(R"({"id":"/a","cmd":"x"})");
  app.labels["k"] = std::string("\xff");
  EXPECT_NO_THROW((void)dumpJson(toMarathonJson(app)));
}

}  // namespace
}  // namespace corral::conf

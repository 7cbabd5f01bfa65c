// Prints, as one JSON array, toMarathonJson() of sample app definitions (or
// of the app JSON texts given as arguments). python_marathon_roundtrip.py
// feeds the output to the Python `marathon` client.
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/json.h"
#include "conf/app_definition.h"

namespace {

const char* const kSamples[] = {
    R"({"id":"web","cmd":"sleep 1000"})",
    R"({"id":"/shop/web","cmd":"python3 -m http.server $PORT0","user":"nobody","instances":3,
        "cpus":0.25,"mem":64,"disk":10,"gpus":0,"executor":"//cmd",
        "portDefinitions":[{"port":0,"name":"http","labels":{"VIP_0":"1.2.3.4:80"}},
                           {"port":10005,"name":"admin","protocol":"udp,tcp"}],
        "requirePorts":true,"env":{"MODE":"prod"},"labels":{"HAPROXY_GROUP":"external"},
        "healthChecks":[{"protocol":"HTTP","path":"/health","portIndex":0,"ignoreHttp1xx":true},
                        {"protocol":"TCP","port":10005},
                        {"protocol":"MESOS_HTTP","portIndex":1},
                        {"protocol":"COMMAND","command":{"value":"true"}}],
        "readinessChecks":[{"name":"ready","portName":"http","httpStatusCodesForReady":[200,204]}],
        "upgradeStrategy":{"minimumHealthCapacity":0.5,"maximumOverCapacity":0.25},
        "constraints":[["hostname","UNIQUE"],["rack","GROUP_BY","2"],["zone","LIKE","z[12]"]],
        "fetch":[{"uri":"https://example.com/app.tgz"},
                 {"uri":"https://example.com/run.sh","executable":true,"destPath":"bin/run.sh"}],
        "storeUrls":["https://example.com/store"],"backoffSeconds":2,"backoffFactor":1.5,
        "maxLaunchDelaySeconds":600,"killSelection":"OLDEST_FIRST","taskKillGracePeriodSeconds":30,
        "dependencies":["db"],"version":"2024-01-01T00:00:00.000Z",
        "acceptedResourceRoles":["*"],
        "container":{"type":"MESOS","volumes":[{"containerPath":"data","mode":"RW",
                     "persistent":{"size":100}}]},
        "unreachableStrategy":{"inactiveAfterSeconds":60,"expungeAfterSeconds":120},
        "residency":{"relaunchEscalationTimeoutSeconds":10,"taskLostBehavior":"WAIT_FOREVER"}})",
    R"({"id":"/a/b","args":["/bin/echo","hi"],"ports":[0,0],"uris":["http://h/x.zip"],
        "unreachableStrategy":"disabled","portDefinitions":[{"port":0},{"port":0}]})",
    R"({"id":"/c","container":{"type":"MESOS"},"portDefinitions":[]})",
};

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) inputs.emplace_back(argv[i]);
  if (inputs.empty()) inputs.assign(std::begin(kSamples), std::end(kSamples));
  corral::Json out = corral::Json::array();
  for (const std::string& text : inputs) {
    auto json = corral::parseJson(text);
    if (!json.ok()) {
      std::fprintf(stderr, "bad JSON: %s\n", json.error().message.c_str());
      return 2;
    }
    auto app = corral::conf::parseAppDefinition(*json);
    if (!app.ok()) {
      std::fprintf(stderr, "invalid app: %s\n", app.error().message.c_str());
      return 2;
    }
    out.push_back(corral::conf::toMarathonJson(*app));
  }
  std::printf("%s\n", corral::dumpJson(out).c_str());
  return 0;
}

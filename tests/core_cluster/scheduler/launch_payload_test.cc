// The agent's launch payload built from a definition alone.
#include "core_cluster/scheduler/launch_payload.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace corral::scheduler {
namespace {

TEST(LaunchPayloadTest, CarriesCommandEnvironmentPortsFetchChecksAndGrace) {
  auto j = parseJson(R"({"id":"/web","cmd":"serve $PORT0","env":{"A":"1"},
      "portDefinitions":[{"port":0,"name":"http"},{"port":0}],
      "fetch":[{"uri":"http://127.0.0.1/x.tgz","extract":true}],
      "taskKillGracePeriodSeconds":7,"user":"daemon",
      "healthChecks":[{"protocol":"MESOS_HTTP","path":"/health","portIndex":1},
                      {"protocol":"TCP"},{"protocol":"COMMAND","command":{"value":"true"}}]})");
  ASSERT_TRUE(j.ok());
  auto def = conf::parseAppDefinition(*j);
  ASSERT_TRUE(def.ok()) << def.error().message;
  Json p = launchPayload(*def);
  EXPECT_EQ(p["cmd"], "serve $PORT0");
  EXPECT_FALSE(p.contains("args"));
  EXPECT_EQ(p["env"]["A"], "1");
  EXPECT_EQ(p["portNames"], Json::array({"http", ""}));
  ASSERT_EQ(p["fetch"].size(), 1u);
  EXPECT_EQ(p["fetch"][0]["uri"], "http://127.0.0.1/x.tgz");
  EXPECT_EQ(p["fetch"][0]["extract"], true);
  EXPECT_EQ(p["killGracePeriodSeconds"], 7);
  EXPECT_EQ(p["user"], "daemon");
  ASSERT_EQ(p["healthChecks"].size(), 3u);
  EXPECT_EQ(p["healthChecks"][0]["protocol"], "HTTP");
  EXPECT_EQ(p["healthChecks"][0]["path"], "/health");
  EXPECT_EQ(p["healthChecks"][0]["portIndex"], 1);
  EXPECT_EQ(p["healthChecks"][1]["protocol"], "TCP");
  EXPECT_EQ(p["healthChecks"][1]["path"], "/");
  EXPECT_EQ(p["healthChecks"][2]["protocol"], "COMMAND");
  EXPECT_EQ(p["healthChecks"][2]["command"], "true");
}

TEST(LaunchPayloadTest, ArgsInsteadOfCmdAndNoGraceWhenUnset) {
  auto j = parseJson(R"({"id":"/web","args":["run","--fast"],"portDefinitions":[]})");
  ASSERT_TRUE(j.ok());
  auto def = conf::parseAppDefinition(*j);
  ASSERT_TRUE(def.ok()) << def.error().message;
  Json p = launchPayload(*def);
  EXPECT_FALSE(p.contains("cmd"));
  EXPECT_EQ(p["args"], Json::array({"run", "--fast"}));
  EXPECT_EQ(p["portNames"], Json::array());
  EXPECT_EQ(p["healthChecks"], Json::array());
  EXPECT_FALSE(p.contains("killGracePeriodSeconds"));
  EXPECT_FALSE(p.contains("user"));  // the agent's default user
}

}  // namespace
}  // namespace corral::scheduler

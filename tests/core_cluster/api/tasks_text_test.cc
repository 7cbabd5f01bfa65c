// Marathon's text/plain task list.
#include "core_cluster/api/tasks_text.h"

#include <gtest/gtest.h>

namespace corral::api {
namespace {

TEST(TasksTextTest, OneLinePerServicePortWithSafeAppIds) {
  std::vector<TextApp> apps = {
      {"/probe/web", {10000, 10001}, {{"10.0.0.2", {31001, 31002}}, {"10.0.0.1", {31005}}}}};
  EXPECT_EQ(tasksText(apps),
            "probe_web\t10000\t10.0.0.1:31005\t10.0.0.2:31001\t\n"
            "probe_web\t10001\t10.0.0.1:0\t10.0.0.2:31002\t\n");
}

TEST(TasksTextTest, AppsWithoutPortsListTheirHosts) {
  std::vector<TextApp> apps = {{"/worker", {}, {{"h2", {}}, {"h1", {}}}}, {"/idle", {}, {}}};
  EXPECT_EQ(tasksText(apps), "worker\t \th1\th2\t\nidle\t \t\n");
}

TEST(TasksTextTest, NoAppsNoText) { EXPECT_EQ(tasksText({}), ""); }

}  // namespace
}  // namespace corral::api

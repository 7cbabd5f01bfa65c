#include "core_cluster/agent/task_types.h"

#include <gtest/gtest.h>

namespace corral::agent {
namespace {

TEST(TaskTypesTest, StateNamesRoundTrip) {
  const TaskState all[] = {TaskState::kStaging,     TaskState::kStarting, TaskState::kRunning,
                           TaskState::kFinished,    TaskState::kFailed,   TaskState::kKilling,
                           TaskState::kKilled,      TaskState::kLost,     TaskState::kError,
                           TaskState::kUnreachable, TaskState::kGone,     TaskState::kDropped,
                           TaskState::kUnknown};
  for (TaskState s : all) {
    auto back = taskStateFromString(toString(s));
    ASSERT_TRUE(back.has_value()) << toString(s);
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(toString(TaskState::kRunning), "TASK_RUNNING");
  EXPECT_EQ(toString(TaskState::kUnreachable), "TASK_UNREACHABLE");
  EXPECT_FALSE(taskStateFromString("RUNNING").has_value());
  EXPECT_FALSE(taskStateFromString("task_running").has_value());
}

TEST(TaskTypesTest, TerminalStatesAreMesosOnes) {
  EXPECT_TRUE(isTerminal(TaskState::kFinished));
  EXPECT_TRUE(isTerminal(TaskState::kFailed));
  EXPECT_TRUE(isTerminal(TaskState::kKilled));
  EXPECT_TRUE(isTerminal(TaskState::kLost));
  EXPECT_TRUE(isTerminal(TaskState::kError));
  EXPECT_TRUE(isTerminal(TaskState::kGone));
  EXPECT_TRUE(isTerminal(TaskState::kDropped));
  EXPECT_FALSE(isTerminal(TaskState::kStaging));
  EXPECT_FALSE(isTerminal(TaskState::kStarting));
  EXPECT_FALSE(isTerminal(TaskState::kRunning));
  EXPECT_FALSE(isTerminal(TaskState::kKilling));
  EXPECT_FALSE(isTerminal(TaskState::kUnreachable));
  EXPECT_FALSE(isTerminal(TaskState::kUnknown));
}

TEST(TaskTypesTest, StatusReasonsGoToTheMasterAsMesosReasons) {
  // The master decides on these: a health kill must say so by its reason.
  EXPECT_EQ(toTaskReason(StatusReason::kUnhealthyKill),
            conf::TaskReason::kTaskHealthCheckStatusUpdated);
  EXPECT_EQ(toTaskReason(StatusReason::kHealthChanged),
            conf::TaskReason::kTaskHealthCheckStatusUpdated);
  EXPECT_EQ(toTaskReason(StatusReason::kLaunchFailed), conf::TaskReason::kContainerLaunchFailed);
  EXPECT_EQ(toTaskReason(StatusReason::kKillRequested), conf::TaskReason::kNone);
  EXPECT_EQ(toTaskReason(StatusReason::kExited), conf::TaskReason::kNone);
}

}  // namespace
}  // namespace corral::agent

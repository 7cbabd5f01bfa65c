#include "conf/task_state.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace corral::conf {
namespace {

TEST(TaskStateTest, EveryStateRoundTripsThroughItsMesosName) {
  std::set<std::string> names;
  for (TaskState s : allTaskStates()) {
    std::string name(toString(s));
    EXPECT_EQ(name.rfind("TASK_", 0), 0u) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(parseTaskState(name), s) << name;
    ASSERT_TRUE(taskStateFromString(name).has_value()) << name;
    EXPECT_EQ(*taskStateFromString(name), s);
  }
  EXPECT_EQ(names.size(), 14u);
  EXPECT_EQ(toString(TaskState::kRunning), "TASK_RUNNING");
  EXPECT_EQ(toString(TaskState::kGoneByOperator), "TASK_GONE_BY_OPERATOR");
}

TEST(TaskStateTest, UnknownNamesAreTypedUnknownNeverAnError) {
  for (std::string_view bad : {"", "RUNNING", "task_running", "TASK_RUNNING ", "TASK_", "\xff"}) {
    EXPECT_EQ(parseTaskState(bad), TaskState::kUnknown) << bad;
    EXPECT_FALSE(taskStateFromString(bad).has_value()) << bad;
  }
}

TEST(TaskStateTest, OneListOfTerminalStates) {
  std::set<TaskState> terminal = {
      TaskState::kFinished, TaskState::kFailed,  TaskState::kKilled, TaskState::kLost,
      TaskState::kError,    TaskState::kDropped, TaskState::kGone,   TaskState::kGoneByOperator};
  for (TaskState s : allTaskStates()) {
    EXPECT_EQ(isTerminal(s), terminal.count(s) > 0) << toString(s);
    EXPECT_EQ(isActive(s), !terminal.count(s) && s != TaskState::kUnreachable) << toString(s);
  }
}

TEST(TaskReasonTest, EveryReasonRoundTripsThroughItsMesosName) {
  std::set<std::string> names;
  for (TaskReason r : allTaskReasons()) {
    std::string name(toString(r));
    EXPECT_EQ(name.rfind("REASON_", 0), 0u) << name;
    EXPECT_TRUE(names.insert(name).second) << "duplicate name " << name;
    EXPECT_EQ(parseTaskReason(name), r) << name;
  }
  EXPECT_EQ(toString(TaskReason::kTaskHealthCheckStatusUpdated),
            "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED");
  EXPECT_EQ(toString(TaskReason::kNone), "");
  EXPECT_EQ(parseTaskReason(""), TaskReason::kNone);
}

TEST(TaskReasonTest, OldAgentSpellingsAreStillRead) {
  EXPECT_EQ(parseTaskReason("UNHEALTHY_KILL"), TaskReason::kTaskHealthCheckStatusUpdated);
  EXPECT_EQ(parseTaskReason("HEALTH_CHANGED"), TaskReason::kTaskHealthCheckStatusUpdated);
  EXPECT_EQ(parseTaskReason("HEALTH_CHECK_FAILED"), TaskReason::kTaskHealthCheckStatusUpdated);
  EXPECT_EQ(parseTaskReason("LAUNCH_FAILED"), TaskReason::kContainerLaunchFailed);
  EXPECT_EQ(parseTaskReason("KILL_REQUESTED"), TaskReason::kNone);
}

TEST(TaskReasonTest, UnknownNamesAreTypedUnknown) {
  for (std::string_view bad : {"reason_agent_removed", "REASON_", "health", "REASON_HEALTH"}) {
    EXPECT_EQ(parseTaskReason(bad), TaskReason::kUnknown) << bad;
  }
  EXPECT_EQ(toString(TaskReason::kUnknown), "REASON_UNKNOWN");
}

}  // namespace
}  // namespace corral::conf

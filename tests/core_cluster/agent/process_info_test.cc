#include "core_cluster/agent/process_info.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace corral::agent {
namespace {

TEST(ProcessInfoTest, ParsesFieldsAfterACommandNameWithSpacesAndParentheses) {
  auto st = parseProcessStat(
      "4242 (my (odd) cmd) S 17 4242 4240 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 12345 "
      "67 18446744073709551615");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->pid, 4242);
  EXPECT_EQ(st->state, 'S');
  EXPECT_EQ(st->ppid, 17);
  EXPECT_EQ(st->pgid, 4242);
  EXPECT_EQ(st->sid, 4240);
  EXPECT_EQ(st->startTime, 987654u);
}

TEST(ProcessInfoTest, RejectsMalformedText) {
  EXPECT_FALSE(parseProcessStat("").has_value());
  EXPECT_FALSE(parseProcessStat("12 (x) S 1 2 3").has_value());  // too few fields
  EXPECT_FALSE(parseProcessStat("12 x S 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 9").has_value());
  EXPECT_FALSE(parseProcessStat("ab (x) S 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 9").has_value());
  EXPECT_FALSE(parseProcessStat("12 (x) S 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 z9").has_value());
  EXPECT_FALSE(parseProcessStat("12 (x) SS 1 2 3 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 9").has_value());
}

TEST(ProcessInfoTest, OwnProcessMatchesOnlyWithItsStartTime) {
  auto self = readProcessStat(getpid());
  ASSERT_TRUE(self.has_value());
  EXPECT_EQ(self->pid, getpid());
  EXPECT_EQ(self->pgid, getpgrp());
  EXPECT_TRUE(isSameProcess(getpid(), self->startTime));
  // The same pid with another start time is another (reused-pid) process.
  EXPECT_FALSE(isSameProcess(getpid(), self->startTime + 1));
  EXPECT_FALSE(readProcessStat(0).has_value());
}

TEST(ProcessInfoTest, AZombieIsNotTheProcessAnyMore) {
  pid_t child = fork();
  if (child == 0) _exit(0);
  ASSERT_GT(child, 0);
  auto st = readProcessStat(child);
  ASSERT_TRUE(st.has_value());
  // Wait until it has exited (a zombie until reaped below).
  for (int i = 0; i < 500 && readProcessStat(child)->state != 'Z'; ++i) usleep(10000);
  EXPECT_FALSE(isSameProcess(child, st->startTime));
  waitpid(child, nullptr, 0);
  EXPECT_FALSE(readProcessStat(child).has_value());
}

}  // namespace
}  // namespace corral::agent

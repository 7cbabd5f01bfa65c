// The master <-> agent messages: what one side writes the other reads back
// unchanged, and a malformed field is refused with its name.
#include "core_cluster/wire/agent_messages.h"

#include <gtest/gtest.h>

namespace corral::wire {
namespace {

TEST(AgentMessages, LaunchRoundTrips) {
  agent::TaskLaunch l;
  l.taskId = "web.1";
  l.appId = "/web";
  l.appVersion = "v1";
  l.args = {"/bin/echo", "hi"};
  l.env = {{"A", "1"}};
  l.ports = {31000, 31001};
  l.portNames = {"http", ""};
  l.hostIp = "10.0.0.2";
  l.killGracePeriodSeconds = 2.5;
  l.user = "daemon";
  l.fetch.push_back(agent::FetchUri{"http://x/y.tgz", false, true, "bin/y"});
  agent::HealthCheckSpec h;
  h.protocol = agent::HealthCheckSpec::Protocol::kTcp;
  h.port = 8080;
  h.maxConsecutiveFailures = 0;
  l.healthChecks.push_back(h);
  auto back = parseLaunchRequest(toJson(LaunchRequest{{l}}));
  ASSERT_TRUE(back.ok()) << back.error().message;
  ASSERT_EQ(back->tasks.size(), 1u);
  const auto& b = back->tasks[0];
  EXPECT_EQ(b.taskId, "web.1");
  EXPECT_EQ(b.args, l.args);
  EXPECT_EQ(b.env, l.env);
  EXPECT_EQ(b.ports, l.ports);
  EXPECT_EQ(b.portNames, l.portNames);
  EXPECT_EQ(b.killGracePeriodSeconds, 2.5);
  EXPECT_EQ(b.user, "daemon");
  ASSERT_EQ(b.fetch.size(), 1u);
  EXPECT_FALSE(b.fetch[0].extract);
  EXPECT_TRUE(b.fetch[0].executable);
  EXPECT_EQ(b.fetch[0].destPath, "bin/y");
  ASSERT_EQ(b.healthChecks.size(), 1u);
  EXPECT_EQ(b.healthChecks[0].protocol, agent::HealthCheckSpec::Protocol::kTcp);
  EXPECT_EQ(b.healthChecks[0].port, 8080);
  EXPECT_EQ(b.healthChecks[0].maxConsecutiveFailures, 0);
}

TEST(AgentMessages, NullFieldsAreAbsentAndUnknownFieldsIgnored) {
  auto m = parseLaunchRequest(
      R"({"tasks":[{"taskId":"a","cmd":"true","killGracePeriodSeconds":null,"future":{"x":1}}]})");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_FALSE(m->tasks[0].killGracePeriodSeconds.has_value());
}

TEST(AgentMessages, ErrorsNameTheFieldAndItsPath) {
  auto m = parseLaunchRequest(R"({"tasks":[{"taskId":"a","killGracePeriodSeconds":"abc"}]})");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.error().kind, ErrorKind::kInvalid);
  EXPECT_EQ(m.error().message, "tasks[0].killGracePeriodSeconds: expected a number");
  EXPECT_EQ(m.error().path, "/tasks/0/killGracePeriodSeconds");
  auto user = parseLaunchRequest(R"({"tasks":[{"taskId":"a","cmd":"true","user":["root"]}]})");
  ASSERT_FALSE(user.ok());
  EXPECT_EQ(user.error().message, "tasks[0].user: expected a string");
  auto k = parseKillRequest(R"({"taskId":"a","gracePeriodSeconds":1e400})");
  EXPECT_FALSE(k.ok());
  auto big = parseLaunchRequest(R"({"tasks":[{"taskId":"a","ports":[18446744073709551615]}]})");
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().path, "/tasks/0/ports/0");
}

TEST(AgentMessages, RegistrationRoundTripsAndIsValidated) {
  RegisterRequest r;
  r.agentId = "e-S1";
  r.hostname = "127.0.0.2";
  r.port = 5051;
  r.resources = "cpus:1";
  r.tasks.push_back(ReportedTask{"t1", conf::TaskState::kRunning, true, "ok"});
  StatusUpdate u;
  u.uuid = "e-S1-1";
  u.taskId = "t2";
  u.state = conf::TaskState::kFailed;
  u.reason = conf::TaskReason::kAgentRestarted;
  r.updates.push_back(u);
  auto back = parseRegisterRequest(toJson(r));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->hostname, "127.0.0.2");
  ASSERT_EQ(back->tasks.size(), 1u);
  EXPECT_EQ(back->tasks[0].state, conf::TaskState::kRunning);
  EXPECT_EQ(back->tasks[0].healthy, true);
  ASSERT_EQ(back->updates.size(), 1u);
  EXPECT_EQ(back->updates[0].reason, conf::TaskReason::kAgentRestarted);

  auto bad = parseRegisterRequest(R"({"hostname":"h","port":"5051"})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("port"), std::string::npos);
  bad = parseRegisterRequest(R"({"hostname":"h","tasks":[{"taskId":"t","state":"TASK_NAPPING"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("tasks[0].state"), std::string::npos) << bad.error().message;
  bad = parseRegisterRequest(R"({"port":5051})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("hostname"), std::string::npos);
}

TEST(AgentMessages, StatusBatchAcceptsOneUpdateOrAList) {
  auto one = parseStatusBatch(R"({"taskId":"t","state":"TASK_RUNNING","agentId":"a"})");
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->agentId, "a");
  ASSERT_EQ(one->updates.size(), 1u);
  auto many = parseStatusBatch(
      R"({"agentId":"a","updates":[{"taskId":"t","state":"TASK_RUNNING","reason":"REASON_NEW"}]})");
  ASSERT_TRUE(many.ok());
  EXPECT_EQ(many->updates[0].reason, conf::TaskReason::kUnknown);
  auto bad = parseStatusBatch(
      R"({"agentId":"a","updates":[{"taskId":"t","state":"TASK_RUNNING","healthy":"yes"}]})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("updates[0].healthy"), std::string::npos);
}

TEST(AgentMessages, RepliesRoundTrip) {
  auto reply = parseRegisterReply(toJson(RegisterReply{"id", "ep", "tok", {"t1"}}));
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->token, "tok");
  EXPECT_EQ(reply->kill, std::vector<std::string>{"t1"});
  auto ack = parseStatusAck(toJson(StatusAck{{"a", "b"}}));
  ASSERT_TRUE(ack.ok());
  EXPECT_EQ(ack->kill.size(), 2u);
  EXPECT_FALSE(parseStatusAck(R"({"kill":[1]})").ok());
  EXPECT_FALSE(parseRegisterReply(R"({"token":"x"})").ok());
}

}  // namespace
}  // namespace corral::wire

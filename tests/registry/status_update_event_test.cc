#include "registry/status_update_event.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace corral::registry {
namespace {

// An event as Marathon 1.x sends it, with members the catalog does not read
// (objects and arrays among them) around the ones it does.
constexpr const char* kMarathonEvent =
    R"({"slaveId":"agent-1","taskId":"web.3","taskStatus":"TASK_RUNNING",)"
    R"("message":"","appId":"/shop/web","host":"10.0.0.5",)"
    R"("ipAddresses":[{"ipAddress":"10.0.0.5","protocol":"IPv4"},)"
    R"({"protocol":"IPv6","ipAddress":"fd00::5","extra":{"a":[1,{"b":2}]}}],)"
    R"("ports":[31001,31002],"version":"2026-01-01T00:00:00.000Z",)"
    R"("healthCheckResults":[{"alive":true}],"labels":{"x":"y"},)"
    R"("eventType":"status_update_event","timestamp":"2026-01-01T00:00:01.000Z"})";

TEST(StatusUpdateEvent, ReadsTheFieldsTheCatalogUsesAndSkipsTheRest) {
  auto ev = readStatusUpdateEvent(kMarathonEvent);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->taskId, "web.3");
  EXPECT_EQ(ev->taskStatus, "TASK_RUNNING");
  EXPECT_EQ(ev->appId, "/shop/web");
  EXPECT_EQ(ev->host, "10.0.0.5");
  EXPECT_EQ(ev->slaveId, "agent-1");
  EXPECT_EQ(ev->version, "2026-01-01T00:00:00.000Z");
  EXPECT_EQ(ev->ports, (std::vector<int>{31001, 31002}));
  EXPECT_EQ(ev->ipAddresses, (std::vector<std::string>{"10.0.0.5", "fd00::5"}));
}

TEST(StatusUpdateEvent, AbsentFieldsStayUnsetAndNullOnesAreEmpty) {
  auto ev = readStatusUpdateEvent(
      R"({"taskId":"a.1","taskStatus":"TASK_KILLED","appId":"a","host":null,"ports":null})");
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->appId, "a");
  ASSERT_TRUE(ev->host.has_value());
  EXPECT_EQ(*ev->host, "");
  ASSERT_TRUE(ev->ports.has_value());
  EXPECT_TRUE(ev->ports->empty());
  EXPECT_FALSE(ev->slaveId.has_value());
  EXPECT_FALSE(ev->version.has_value());
  EXPECT_FALSE(ev->ipAddresses.has_value());
}

TEST(StatusUpdateEvent, EmptyArraysAndEntriesWithoutAnAddress) {
  auto ev = readStatusUpdateEvent(
      R"({"ports":[],"ipAddresses":[{"protocol":"IPv4"},{"ipAddress":""},{"ipAddress":null}]})");
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  ASSERT_TRUE(ev->ports.has_value());
  EXPECT_TRUE(ev->ports->empty());
  ASSERT_TRUE(ev->ipAddresses.has_value());
  EXPECT_TRUE(ev->ipAddresses->empty());
}

TEST(StatusUpdateEvent, ARepeatedMemberKeepsItsLastValueAsAJsonTreeDoes) {
  auto ev = readStatusUpdateEvent(R"({"ports":[1,2],"host":"a","ports":[3],"host":"b"})");
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->ports, (std::vector<int>{3}));
  EXPECT_EQ(ev->host, "b");
}

TEST(StatusUpdateEvent, MalformedInputIsAnErrorNamingWhatIsWrong) {
  struct Case {
    const char* text;
    const char* message;  // a part of the error message
  };
  const Case cases[] = {
      {"", "malformed JSON"},
      {"{not json", "malformed JSON"},
      {R"({"taskId":"a.1","ports":[1,2)", "malformed JSON"},  // truncated
      {R"({"taskId":"a.1"} trailing)", "malformed JSON"},
      {"[1,2]", "not a JSON object"},
      {"5", "not a JSON object"},
      {"null", "not a JSON object"},
      {R"({"taskId":5})", "taskId: expected a string"},
      {R"({"taskStatus":["TASK_RUNNING"]})", "taskStatus: expected a string"},
      {R"({"appId":{"id":"/a"}})", "appId: expected a string"},
      {R"({"host":true})", "host: expected a string"},
      {R"({"ports":"x"})", "ports: expected an array"},
      {R"({"ports":{"0":1}})", "ports: expected an array"},
      {R"({"ports":[1,"2"]})", "ports(1): expected an integer"},
      {R"({"ports":[1.5]})", "ports(0): expected an integer"},
      {R"({"ports":[[1]]})", "ports(0): expected an integer"},
      {R"({"ipAddresses":"10.0.0.1"})", "ipAddresses: expected an array"},
      {R"({"ipAddresses":["10.0.0.1"]})", "ipAddresses(0): expected an object"},
      {R"({"ipAddresses":[{"ipAddress":"a"},null])", "ipAddresses(1): expected an object"},
      {R"({"ipAddresses":[{"ipAddress":"a"},{"ipAddress":7}]})",
       "ipAddresses(1)/ipAddress: expected a string"},
      {R"({"ipAddresses":[{"ipAddress":{"v4":"a"}}]})",
       "ipAddresses(0)/ipAddress: expected a string"},
      {R"({"version":1e99999})", "malformed JSON"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    auto ev = readStatusUpdateEvent(c.text);
    ASSERT_FALSE(ev.ok());
    EXPECT_NE(ev.error().message.find(c.message), std::string::npos) << ev.error().message;
  }
}

TEST(StatusUpdateEvent, DeepNestingInASkippedMemberIsFine) {
  std::string deep =
      R"({"taskId":"a.1","x":)" + std::string(200, '[') + std::string(200, ']') + R"(,"host":"h"})";
  auto ev = readStatusUpdateEvent(deep);
  ASSERT_TRUE(ev.ok()) << ev.error().message;
  EXPECT_EQ(ev->taskId, "a.1");
  EXPECT_EQ(ev->host, "h");
}

}  // namespace
}  // namespace corral::registry

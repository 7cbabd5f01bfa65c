#include "core_cluster/agent/sandbox.h"

#include <gtest/gtest.h>

#include "agent_test_util.h"

namespace corral::agent {
namespace {

using testing::TempDir;
using testing::writeFile;
namespace fs = std::filesystem;

TEST(SandboxTest, ReadsTailAndRanges) {
  TempDir box;
  writeFile(box.path() / "stdout", "0123456789");
  auto tail = readSandboxFile(box.path(), "stdout", std::nullopt, 4);
  ASSERT_TRUE(tail.ok()) << tail.error().message;
  EXPECT_EQ(tail->data, "6789");
  EXPECT_EQ(tail->offset, 6u);
  EXPECT_EQ(tail->size, 10u);
  auto mid = readSandboxFile(box.path(), "stdout", 2, 3);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->data, "234");
  auto past = readSandboxFile(box.path(), "stdout", 50, 3);
  ASSERT_TRUE(past.ok());
  EXPECT_EQ(past->data, "");
  EXPECT_EQ(past->offset, 10u);
  auto whole = readSandboxFile(box.path(), "stdout", std::nullopt, 100);
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->data, "0123456789");
}

TEST(SandboxTest, RefusesToLeaveTheSandbox) {
  TempDir root;
  fs::create_directories(root.path() / "box");
  writeFile(root.path() / "secret", "secret");
  fs::create_symlink(root.path() / "secret", root.path() / "box/link");
  const std::string box = (root.path() / "box").string();
  for (const char* bad : {"../secret", "/etc/passwd", "a/../../secret", ""}) {
    auto r = readSandboxFile(box, bad, 0, 100);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::kInvalid) << bad;
  }
  auto link = readSandboxFile(box, "link", 0, 100);
  ASSERT_FALSE(link.ok());
  EXPECT_NE(link.error().message.find("outside the sandbox"), std::string::npos);
  auto missing = readSandboxFile(box, "stderr", 0, 100);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
  fs::create_directories(root.path() / "box/dir");
  EXPECT_FALSE(readSandboxFile(box, "dir", 0, 100).ok());
}

}  // namespace
}  // namespace corral::agent

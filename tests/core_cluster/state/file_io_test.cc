#include "core_cluster/state/file_io.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "test_util.h"

namespace corral::state {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(ReplaceFileDurablyTest, ReplacesTheContentAndLeavesNoTemporaryFile) {
  TempDir dir;
  std::string path = dir.file("pending.json");
  ASSERT_TRUE(replaceFileDurably(path, "[1]").ok());
  ASSERT_TRUE(replaceFileDurably(path, "[1,2]").ok());
  auto text = readWholeFile(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "[1,2]");
  EXPECT_FALSE(fs::exists(path + ".tmp"));
}

TEST(ReplaceFileDurablyTest, ARenameFailureIsAnErrorNamingThePathAndCleansUp) {
  TempDir dir;
  // A non-empty directory where the file should be: rename(2) fails (EISDIR).
  std::string path = dir.file("pending.json");
  fs::create_directories(path + "/inside");
  Status st = replaceFileDurably(path, "[1]");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("cannot rename"), std::string::npos) << st.error().message;
  EXPECT_NE(st.error().message.find(path), std::string::npos) << st.error().message;
  EXPECT_FALSE(fs::exists(path + ".tmp"));
  EXPECT_TRUE(fs::is_directory(path + "/inside"));  // the old content is untouched
}

TEST(ReplaceFileDurablyTest, AnUnwritableDirectoryIsAnError) {
  TempDir dir;
  Status st = replaceFileDurably(dir.file("no/such/dir/pending.json"), "[1]");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("cannot open"), std::string::npos) << st.error().message;
}

}  // namespace
}  // namespace corral::state

#include "core_cluster/agent/fetcher.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "agent_test_util.h"

namespace corral::agent {
namespace {

using testing::freePort;
using testing::readFile;
using testing::TempDir;
using testing::writeFile;
namespace fs = std::filesystem;

TEST(FetcherTest, RecognisesArchives) {
  for (const char* name :
       {"a.tar", "a.tar.gz", "a.tgz", "a.tar.bz2", "a.tar.xz", "a.txz", "a.zip"}) {
    EXPECT_TRUE(isArchive(name)) << name;
  }
  for (const char* name : {"a.gz", "a.txt", "tar", "zip", "a.jar"})
    EXPECT_FALSE(isArchive(name)) << name;
}

TEST(FetcherTest, SafeRelativePaths) {
  EXPECT_TRUE(isSafeRelativePath("stdout"));
  EXPECT_TRUE(isSafeRelativePath("a/b/c.txt"));
  EXPECT_TRUE(isSafeRelativePath("a..b"));
  EXPECT_FALSE(isSafeRelativePath(""));
  EXPECT_FALSE(isSafeRelativePath("/etc/passwd"));
  EXPECT_FALSE(isSafeRelativePath(".."));
  EXPECT_FALSE(isSafeRelativePath("../x"));
  EXPECT_FALSE(isSafeRelativePath("a/../../x"));
  EXPECT_FALSE(isSafeRelativePath("a/.."));
}

TEST(FetcherTest, CopiesLocalFilesAndFileUris) {
  TempDir src, box;
  writeFile(src.path() / "data.txt", "payload");
  ASSERT_TRUE(fetchOne({(src.path() / "data.txt").string(), true, false, ""}, box.path()).ok());
  EXPECT_EQ(readFile(box.path() / "data.txt"), "payload");
  ASSERT_TRUE(
      fetchOne({"file://" + (src.path() / "data.txt").string(), true, true, "bin/tool"}, box.path())
          .ok());
  EXPECT_EQ(readFile(box.path() / "bin/tool"), "payload");
  struct stat st {};
  ASSERT_EQ(stat((box.path() / "bin/tool").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
}

TEST(FetcherTest, ExtractsTarGzAndZip) {
  TempDir src, box;
  fs::create_directories(src.path() / "pkg");
  writeFile(src.path() / "pkg/hello.txt", "hello from tar");
  std::string tarCmd =
      "tar -czf " + (src.path() / "bundle.tgz").string() + " -C " + src.path().string() + " pkg";
  ASSERT_EQ(std::system(tarCmd.c_str()), 0);
  ASSERT_TRUE(fetchOne({(src.path() / "bundle.tgz").string(), true, false, ""}, box.path()).ok());
  EXPECT_EQ(readFile(box.path() / "pkg/hello.txt"), "hello from tar");
  EXPECT_TRUE(fs::exists(box.path() / "bundle.tgz"));

  std::string zipCmd =
      "cd " + src.path().string() + " && /usr/bin/python3 -m zipfile -c bundle.zip pkg";
  ASSERT_EQ(std::system(zipCmd.c_str()), 0);
  TempDir zipBox;
  Status z =
      fetchOne({"file://" + (src.path() / "bundle.zip").string(), true, false, ""}, zipBox.path());
  ASSERT_TRUE(z.ok()) << z.error().message;
  EXPECT_EQ(readFile(zipBox.path() / "pkg/hello.txt"), "hello from tar");

  // extract=false keeps the archive packed.
  TempDir box2;
  ASSERT_TRUE(fetchOne({(src.path() / "bundle.tgz").string(), false, false, ""}, box2.path()).ok());
  EXPECT_FALSE(fs::exists(box2.path() / "pkg"));
}

TEST(FetcherTest, CorruptArchiveIsAClearError) {
  TempDir src, box;
  writeFile(src.path() / "broken.tar.gz", "not an archive");
  Status s = fetchOne({(src.path() / "broken.tar.gz").string(), true, false, ""}, box.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("extracting: tar exited with status"), std::string::npos)
      << s.error().message;
}

TEST(FetcherTest, RejectsWhatItCannotFetch) {
  TempDir box;
  auto message = [&](FetchUri u) {
    Status s = fetchOne(u, box.path());
    EXPECT_FALSE(s.ok()) << u.uri;
    return s.ok() ? std::string() : s.error().message;
  };
  EXPECT_NE(
      message({"https://example.com/x.tgz", true, false, ""}).find("https:// is not supported"),
      std::string::npos);
  EXPECT_NE(message({"s3://bucket/x", true, false, ""}).find("unsupported URI scheme"),
            std::string::npos);
  EXPECT_NE(message({"relative/file", true, false, ""}).find("relative paths"), std::string::npos);
  EXPECT_NE(message({"/no/such/file/anywhere", true, false, ""}).find("/no/such/file/anywhere"),
            std::string::npos);
  EXPECT_NE(message({"/etc/hostname", true, false, "../escape"}).find("must be a relative path"),
            std::string::npos);
  uint16_t port = freePort();
  std::string refused =
      message({"http://127.0.0.1:" + std::to_string(port) + "/x", true, false, ""});
  EXPECT_NE(refused.find("cannot connect to 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << refused;
}

TEST(FetcherTest, FetchAllStopsAtFirstFailure) {
  TempDir src, box;
  writeFile(src.path() / "a", "a");
  writeFile(src.path() / "c", "c");
  Status s = fetchAll({{(src.path() / "a").string(), true, false, ""},
                       {(src.path() / "missing").string(), true, false, ""},
                       {(src.path() / "c").string(), true, false, ""}},
                      box.path());
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("missing"), std::string::npos);
  EXPECT_TRUE(fs::exists(box.path() / "a"));
  EXPECT_FALSE(fs::exists(box.path() / "c"));
}

}  // namespace
}  // namespace corral::agent

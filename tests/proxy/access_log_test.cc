// The access log's line format, its buffering (one write per buffer, by
// size, by time and at the end) and its file.
#include "proxy/access_log.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace corral::proxy {
namespace {

AccessRecord sample() {
  AccessRecord r;
  r.client = "10.0.0.9";
  r.startWallMs = 1764633541123;  // 2025-12-01T23:59:01.123Z
  r.host = "shop.example.com";
  r.method = "GET";
  r.target = "/api/x?y=1";
  r.status = 200;
  r.bytes = 1432;
  r.upstreamUs = 3214;
  r.totalUs = 3502;
  r.route = "/shop:0";
  return r;
}

std::string line(const AccessRecord& r) {
  std::string out;
  formatAccessLine(r, &out);
  return out;
}

TEST(AccessLogFormat, EveryField) {
  sockaddr_storage task{};
  auto* v4 = reinterpret_cast<sockaddr_in*>(&task);
  v4->sin_family = AF_INET;
  v4->sin_port = htons(31002);
  inet_pton(AF_INET, "10.0.1.5", &v4->sin_addr);
  AccessRecord r = sample();
  r.upstream = &task;
  EXPECT_EQ(line(r),
            "10.0.0.9 [2025-12-01T23:59:01.123Z] shop.example.com \"GET /api/x?y=1 HTTP/1.1\" 200 "
            "1432 10.0.1.5:31002 3.214 3.502 /shop:0 -\n");
}

TEST(AccessLogFormat, AbsentFieldsAreDashes) {
  AccessRecord r;
  r.client = "::1";
  r.startWallMs = 1764633541005;
  r.totalUs = 7;
  r.termination = "bad-request";
  EXPECT_EQ(line(r), "::1 [2025-12-01T23:59:01.005Z] - \"-\" - 0 - - 0.007 - bad-request\n");
}

TEST(AccessLogFormat, Ipv6TaskAndHttp10) {
  sockaddr_storage task{};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&task);
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons(8080);
  inet_pton(AF_INET6, "fd00::5", &v6->sin6_addr);
  AccessRecord r = sample();
  r.upstream = &task;
  r.versionMinor = 0;
  r.status = 0;
  r.termination = "cut";
  EXPECT_NE(line(r).find("\"GET /api/x?y=1 HTTP/1.0\" - 1432 [fd00::5]:8080 3.214 "),
            std::string::npos)
      << line(r);
}

TEST(AccessLogFormat, BytesThatCouldForgeAFieldOrALineAreEscaped) {
  AccessRecord r = sample();
  r.host = "evil\" 200 x\nforged";
  std::string out = line(r);
  EXPECT_NE(out.find(" evil\\x22\\x20200\\x20x\\x0aforged \"GET"), std::string::npos) << out;
  EXPECT_EQ(out.find('\n'), out.size() - 1) << "one line, whatever the client sent";
}

class AccessLogBuffer : public ::testing::Test {
 protected:
  Loop loop_;
  std::vector<std::string> writes_;
  AccessLog::Sink sink() {
    return [this](std::string_view bytes) { writes_.emplace_back(bytes); };
  }
};

TEST_F(AccessLogBuffer, OneWritePerFullBuffer) {
  AccessLog log(loop_, sink(), AccessLogOptions{3 * line(sample()).size(), 60 * 1000});
  log.add(sample());
  log.add(sample());
  EXPECT_TRUE(writes_.empty()) << "buffered, no write per line";
  log.add(sample());
  ASSERT_EQ(writes_.size(), 1u);
  EXPECT_EQ(writes_[0], line(sample()) + line(sample()) + line(sample()));
}

TEST_F(AccessLogBuffer, AQuietBufferIsWrittenAfterFlushMs) {
  AccessLog log(loop_, sink(), AccessLogOptions{1 << 20, 20});
  log.add(sample());
  EXPECT_TRUE(writes_.empty());
  ASSERT_TRUE(loop_.runUntil([&] { return writes_.size() == 1; }, 5000));
  EXPECT_EQ(writes_[0], line(sample()));
}

TEST_F(AccessLogBuffer, TheLastLinesAreWrittenAtTheEnd) {
  {
    AccessLog log(loop_, sink(), AccessLogOptions{1 << 20, 60 * 1000});
    log.add(sample());
  }
  ASSERT_EQ(writes_.size(), 1u);
  EXPECT_EQ(writes_[0], line(sample()));
  loop_.runUntil([] { return false; }, 10);
}

TEST(AccessLogFileTest, AppendsToTheFile) {
  char path[] = "/tmp/corral-access-log-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "old\n", 4), 4);
  close(fd);
  {
    auto file = AccessLogFile::open(path);
    ASSERT_TRUE(file.ok()) << file.error().message;
    (*file)->write("a\nb\n");
    EXPECT_EQ((*file)->failedWrites(), 0u);
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "old\na\nb\n");
  unlink(path);
}

TEST(AccessLogFileTest, ABadPathIsAnErrorNamingIt) {
  auto file = AccessLogFile::open("/nonexistent-dir/access.log");
  ASSERT_FALSE(file.ok());
  EXPECT_NE(file.error().message.find("/nonexistent-dir/access.log"), std::string::npos);
  EXPECT_FALSE(AccessLogFile::open("").ok());
  EXPECT_TRUE(AccessLogFile::open("-").ok());
}

}  // namespace
}  // namespace corral::proxy

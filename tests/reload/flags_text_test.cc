// --flags-file text: what a line may hold, and the line named in each error.
#include "reload/flags_text.h"

#include <gtest/gtest.h>

namespace corral::reload {
namespace {

TEST(FlagsText, ReadsBothFormsAndSkipsCommentsAndBlanks) {
  auto lines = parseFlagsText(
      "# proxy\n\n--group=external\n  --workers 2  \r\n--strict-mode\n--cert-dir \"/etc/a b\"\n",
      "f");
  ASSERT_TRUE(lines.ok()) << lines.error().message;
  ASSERT_EQ(lines->size(), 4u);
  EXPECT_EQ((*lines)[0].line, 3);
  EXPECT_EQ((*lines)[0].tokens, (std::vector<std::string>{"--group=external"}));
  EXPECT_EQ((*lines)[1].line, 4);
  EXPECT_EQ((*lines)[1].tokens, (std::vector<std::string>{"--workers", "2"}));
  EXPECT_EQ((*lines)[2].tokens, (std::vector<std::string>{"--strict-mode"}));
  EXPECT_EQ((*lines)[3].tokens, (std::vector<std::string>{"--cert-dir", "/etc/a b"}));
  EXPECT_TRUE(parseFlagsText("", "f")->empty());
}

TEST(FlagsText, ABadLineIsNamed) {
  auto r = parseFlagsText("--group=a\nworkers=2\n", "/etc/proxy.flags");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message,
            "/etc/proxy.flags:2: 'workers=2': expected a flag (--name=value or --name value)");
  EXPECT_FALSE(parseFlagsText("--\n", "f").ok());
  EXPECT_FALSE(parseFlagsText("-w 2\n", "f").ok());
}

}  // namespace
}  // namespace corral::reload

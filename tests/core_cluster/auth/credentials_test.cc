// Credential files in Mesos' formats, Basic/Bearer headers, and the v2 API's users.
#include "core_cluster/auth/credentials.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core_cluster/auth/http_users.h"

namespace corral::auth {
namespace {

TEST(Credentials, MesosTextAndJsonForms) {
  auto one = parseCredential("# agent\n\nagent1 s3cr3t with spaces\n");
  ASSERT_TRUE(one.ok()) << one.error().message;
  EXPECT_EQ(one->principal, "agent1");
  EXPECT_EQ(one->secret, "s3cr3t with spaces");
  auto json = parseCredential(R"({"principal":"p","secret":"s"})");
  ASSERT_TRUE(json.ok());
  EXPECT_EQ(json->secret, "s");
  auto list = parseCredentials("a 1\nb 2\n");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 2u);
  auto jlist = parseCredentials(R"({"credentials":[{"principal":"a","secret":"1"}]})");
  ASSERT_TRUE(jlist.ok());
  EXPECT_EQ(jlist->size(), 1u);
  EXPECT_FALSE(parseCredential("onlyprincipal").ok());
  EXPECT_FALSE(parseCredential("").ok());
  EXPECT_FALSE(parseCredentials("\n# none\n").ok());
  EXPECT_FALSE(parseCredentials(R"({"credentials":[{"principal":"a"}]})").ok());
}

TEST(Credentials, FilesOthersCanReadAreRefused) {
  auto path =
      std::filesystem::temp_directory_path() / ("corral-cred-" + std::to_string(::getpid()));
  std::ofstream(path) << "agent secret\n";
  ::chmod(path.c_str(), 0644);
  auto r = loadCredential(path.string());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("chmod 600"), std::string::npos);
  ::chmod(path.c_str(), 0600);
  r = loadCredential(path.string());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->principal, "agent");
  std::filesystem::remove(path);
  EXPECT_FALSE(loadCredential(path.string()).ok());
}

TEST(Credentials, BasicAndBearerHeaders) {
  std::string h = basicAuthorization("agent", "pa:ss");
  EXPECT_EQ(h, "Basic YWdlbnQ6cGE6c3M=");
  auto b = parseBasicAuthorization(h);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->user, "agent");
  EXPECT_EQ(b->password, "pa:ss");
  EXPECT_FALSE(parseBasicAuthorization("Basic !!!"));
  EXPECT_FALSE(parseBasicAuthorization("Basic bm9jb2xvbg=="));  // "nocolon"
  EXPECT_FALSE(parseBasicAuthorization("Bearer x"));
  EXPECT_EQ(parseBearer("Bearer abc").value_or(""), "abc");
  EXPECT_FALSE(parseBearer("Bearer "));
  EXPECT_FALSE(parseBearer("Basic abc"));
  std::string t = randomToken();
  EXPECT_EQ(t.size(), 64u);
  EXPECT_NE(t, randomToken());
}

TEST(Credentials, SetAuthenticatesPrincipals) {
  CredentialSet set({{"a", "1"}, {"b", "2"}});
  EXPECT_TRUE(set.enabled());
  EXPECT_EQ(set.authenticate(basicAuthorization("b", "2")).value_or(""), "b");
  EXPECT_FALSE(set.authenticate(basicAuthorization("b", "1")));
  EXPECT_FALSE(set.authenticate(basicAuthorization("c", "2")));
  EXPECT_FALSE(set.authenticate(""));
  EXPECT_FALSE(CredentialSet().enabled());
}

TEST(HttpUsers, FileFormAndRoles) {
  auto users = parseHttpUsers("# users\nadmin:pw\nadmin ops:o:p\nviewer watcher:w\n");
  ASSERT_TRUE(users.ok()) << users.error().message;
  ASSERT_EQ(users->size(), 3u);
  EXPECT_EQ((*users)[1].password, "o:p");
  EXPECT_EQ((*users)[2].role, HttpRole::kViewer);
  EXPECT_FALSE(parseHttpUsers("root x:y\n").ok());
  EXPECT_FALSE(parseHttpUsers("nocolon\n").ok());
  EXPECT_FALSE(parseHttpUser(":pw", HttpRole::kAdmin).ok());
  EXPECT_FALSE(parseHttpUser("user:", HttpRole::kAdmin).ok());
}

TEST(HttpUsers, ViewersReadAdminsChange) {
  HttpUsers users;
  http::Request get;
  get.method = "GET";
  get.path = "/v2/apps";
  EXPECT_EQ(users.access(get), ApiAccess::kAllowed);  // none configured: open
  users.add(HttpUser{"admin", "a", HttpRole::kAdmin});
  users.add(HttpUser{"viewer", "v", HttpRole::kViewer});
  EXPECT_EQ(users.access(get), ApiAccess::kUnauthenticated);
  get.headers.emplace_back("Authorization", basicAuthorization("viewer", "v"));
  EXPECT_EQ(users.access(get), ApiAccess::kAllowed);
  http::Request post = get;
  post.method = "POST";
  EXPECT_EQ(users.access(post), ApiAccess::kForbidden);
  post.headers = {{"Authorization", basicAuthorization("admin", "a")}};
  EXPECT_EQ(users.access(post), ApiAccess::kAllowed);
  post.headers = {{"Authorization", basicAuthorization("admin", "v")}};
  EXPECT_EQ(users.access(post), ApiAccess::kUnauthenticated);
  http::Request ping;
  ping.path = "/ping";
  EXPECT_EQ(users.access(ping), ApiAccess::kAllowed);
}

}  // namespace
}  // namespace corral::auth

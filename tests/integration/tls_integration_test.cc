// TLS on the API end to end with real processes (issue 10): a master serving
// HTTPS (--tls-cert/--tls-key, certificates made by the openssl command at
// test time) with agent credentials and API users; agents registering over
// https:// with --ca-file; the v2 API, corral dns and the CLI over HTTPS;
// plain HTTP to the TLS port and a client trusting another CA refused before
// any request; a secured agent's /state and /files/read closed to strangers.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tests/base/test_ca.h"
#include "tests/integration/secure_cluster.h"

namespace corral::it {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TlsClusterTest : public SecureClusterFixture {
 protected:
  // A secured cluster on 127.<net>.0.x whose master speaks only HTTPS.
  void startTlsCluster(int net, int agents) {
    std::string masterIp = "127." + std::to_string(net) + ".0.1";
    test::TestCa::Server cert = ca_.issue("master", masterIp);
    auto ctx = tls::loadClientContext(ca_.caFile());
    ASSERT_TRUE(ctx.ok()) << ctx.error().message;
    masterTls_ = *ctx;
    masterCaFile_ = ca_.caFile();
    startSecureCluster(net, agents, {"--tls-cert", cert.certFile, "--tls-key", cert.keyFile});
  }

  // Runs the corral CLI; its exit code, output in *out.
  int runCli(const std::vector<std::string>& args, std::string* out) {
    std::string cmd = corralBin();
    for (const auto& a : args) cmd += " '" + a + "'";
    std::string log = dir_ + "/cli.out";
    int rc = std::system((cmd + " >" + log + " 2>&1").c_str());
    *out = slurp(log);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  }

  test::TestCa ca_;
};

TEST_F(TlsClusterTest, ApiOverHttpsWithCredentialsAndAgentsRegisteredOverHttps) {
  // startCluster waited for /ping over HTTPS and for the agent, which
  // registered with --master https://… --ca-file.
  startTlsCluster(131, 1);
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/web")).status, 201);
  ASSERT_TRUE(waitAppStable("/web", 1));
  auto anonymous =
      client_.request("GET", masterIp_, masterPort_, "/v2/apps", "", {}, 5000, masterTls_);
  EXPECT_EQ(anonymous.status, 401);
  auto viewer = client_.request("GET", masterIp_, masterPort_, "/v2/apps/web", "",
                                basic("watcher", "watch-pw"), 5000, masterTls_);
  EXPECT_EQ(viewer.status, 200);
  EXPECT_NE(viewer.body.find("\"/web\""), std::string::npos) << viewer.body;
  // /v2/info names the port that serves HTTPS (Marathon's https_port).
  auto info = api("GET", "/v2/info");
  ASSERT_EQ(info.status, 200);
  EXPECT_NE(info.body.find("\"https_port\":" + std::to_string(masterPort_)), std::string::npos)
      << info.body;
}

TEST_F(TlsClusterTest, PlainHttpAndAnotherCaAreRefusedBeforeAnyRequest) {
  startTlsCluster(132, 1);
  // Plain HTTP to the TLS port: a clean 400 that says so, nothing created.
  auto plain = client_.request("POST", masterIp_, masterPort_, "/v2/apps", sleepApp("/plain"),
                               apiHeaders_, 5000);
  EXPECT_EQ(plain.status, 400) << plain.error;
  EXPECT_NE(plain.body.find("https://"), std::string::npos) << plain.body;
  // A client trusting another CA: a verification error, and the request
  // (with valid credentials) never reached the master.
  test::TestCa other;
  auto otherCtx = tls::loadClientContext(other.caFile());
  ASSERT_TRUE(otherCtx.ok());
  auto wrong = client_.request("POST", masterIp_, masterPort_, "/v2/apps", sleepApp("/wrongca"),
                               apiHeaders_, 5000, *otherCtx);
  EXPECT_EQ(wrong.status, 0);
  EXPECT_NE(wrong.error.find("certificate cannot be verified"), std::string::npos) << wrong.error;
  client_.pump(300);
  EXPECT_EQ(api("GET", "/v2/apps/plain").status, 404);
  EXPECT_EQ(api("GET", "/v2/apps/wrongca").status, 404);

  // The CLI: works with --ca-file, refuses another CA with a clear error.
  std::string adminFile = writeSecret(dir_ + "/admin", "admin:admin-pw\n");
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/cli")).status, 201);
  std::string out;
  EXPECT_EQ(runCli({"app", "list", "--master", masterUrl(), "--ca-file", ca_.caFile(),
                    "--master-credentials", adminFile},
                   &out),
            0)
      << out;
  EXPECT_NE(out.find("/cli"), std::string::npos) << out;
  EXPECT_NE(runCli({"app", "list", "--master", masterUrl(), "--ca-file", other.caFile(),
                    "--master-credentials", adminFile},
                   &out),
            0);
  EXPECT_NE(out.find("certificate cannot be verified"), std::string::npos) << out;
}

TEST_F(TlsClusterTest, DnsFollowsAnHttpsMaster) {
  startTlsCluster(133, 1);
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/named")).status, 201);
  ASSERT_TRUE(waitAppStable("/named", 1));
  std::string viewerFile = writeSecret(dir_ + "/viewer", "watcher:watch-pw\n");
  std::string ip = "127.133.0.20";
  int dnsPort = freePort(ip);
  int httpPort = freePort(ip);
  auto startDns = [&](const std::string& name, const std::string& caFile) {
    return spawnProcess(name,
                        {corralBin(), "dns", "--listen", ip + ":" + std::to_string(dnsPort),
                         "--http-listen", ip + ":" + std::to_string(httpPort), "--master",
                         masterUrl(), "--ca-file", caFile, "--master-credentials", viewerFile},
                        dir_ + "/" + name + ".log");
  };
  Child dns = startDns("dns", ca_.caFile());
  bool named = client_.waitFor(
      [&] {
        auto r = client_.request("GET", ip, httpPort, "/v1/hosts/named.marathon.mesos");
        return r.status == 200 && r.body.find("127.133.0.2") != std::string::npos;
      },
      15000);
  EXPECT_TRUE(named) << tailLog(dir_ + "/dns.log", 30);
  stopProcess(dns, 5000);

  // Against another CA, corral dns keeps failing to connect and says why.
  test::TestCa other;
  Child lost = startDns("dns-other-ca", other.caFile());
  bool said = client_.waitFor(
      [&] {
        return tailLog(dir_ + "/dns-other-ca.log", 50).find("cannot be verified") !=
               std::string::npos;
      },
      10000);
  EXPECT_TRUE(said) << tailLog(dir_ + "/dns-other-ca.log", 30);
  stopProcess(lost, 5000);
}

TEST_F(TlsClusterTest, SecuredAgentReadsNeedCredentials) {
  startTlsCluster(134, 1);
  ASSERT_EQ(api("POST", "/v2/apps", sleepApp("/files", "echo hello-from-task; sleep 300")).status,
            201);
  ASSERT_TRUE(waitAppStable("/files", 1));
  const AgentProc& a = agents_[0];
  std::string taskId = tasks("/files").at(0).value("id", "");
  std::string files = "/files/read?taskId=" + taskId + "&path=stdout";
  for (const std::string& target : {std::string("/state"), files, std::string("/metrics")}) {
    for (const http::Headers& h : {http::Headers{}, basic("watcher", "wrong"),
                                   http::Headers{{"Authorization", "Bearer x"}}}) {
      auto r = client_.request("GET", a.ip, a.port, target, "", h);
      EXPECT_EQ(r.status, 401) << target;
      EXPECT_EQ(r.body.find("hello-from-task"), std::string::npos);
      EXPECT_EQ(r.body.find(taskId), std::string::npos);
    }
  }
  EXPECT_EQ(client_.request("GET", a.ip, a.port, "/ping").status, 200);
  auto state = client_.request("GET", a.ip, a.port, "/state", "", agentHeaders_);
  EXPECT_EQ(state.status, 200);
  EXPECT_NE(state.body.find(taskId), std::string::npos);
  bool read = client_.waitFor(
      [&] {
        auto r = client_.request("GET", a.ip, a.port, files, "", agentHeaders_);
        return r.status == 200 && r.body.find("hello-from-task") != std::string::npos;
      },
      5000);
  EXPECT_TRUE(read);
  auto m = client_.request("GET", a.ip, a.port, "/metrics", "", agentHeaders_);
  EXPECT_NE(
      m.body.find("corral_auth_refusals_total{endpoint=\"agent\",reason=\"no_credentials\"} 3"),
      std::string::npos)
      << m.body;
  EXPECT_NE(
      m.body.find("corral_auth_refusals_total{endpoint=\"agent\",reason=\"wrong_credentials\"} 3"),
      std::string::npos);
  EXPECT_NE(m.body.find("corral_auth_refusals_total{endpoint=\"agent\",reason=\"wrong_token\"} 3"),
            std::string::npos);
}

}  // namespace
}  // namespace corral::it

// A cluster with credentials everywhere (issue 10): agents authenticate with
// "agent-1 agent-secret", the API has an admin (admin:admin-pw) and a viewer
// (watcher:watch-pw), and the agents let the API users read their /state.
// api() carries the admin, agentState() the viewer.
#pragma once

#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "core_cluster/auth/credentials.h"
#include "tests/integration/cluster_fixture.h"

namespace corral::it {

// Writes a secret file readable by its owner only (the parts refuse others).
inline std::string writeSecret(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), 0600);
  return path;
}

inline http::Headers basic(const std::string& user, const std::string& password) {
  return {{"Authorization", auth::basicAuthorization(user, password)}};
}

inline std::string sleepApp(const std::string& id, const std::string& cmd = "sleep 300") {
  return R"({"id":")" + id + R"(","cmd":")" + cmd + R"(","instances":1,"cpus":0.1,"mem":16})";
}

class SecureClusterFixture : public ClusterFixture {
 protected:
  void startSecureCluster(int net, int agents, std::vector<std::string> moreMasterArgs = {}) {
    std::string agentCred = writeSecret(dir_ + "/agent.credential", "agent-1 agent-secret\n");
    std::string accepted = writeSecret(dir_ + "/credentials", "agent-1 agent-secret\n");
    usersFile_ = writeSecret(dir_ + "/api-users", "admin:admin-pw\nviewer watcher:watch-pw\n");
    agentArgs_ = {"--credential", agentCred, "--http-credentials-file", usersFile_};
    apiHeaders_ = basic("admin", "admin-pw");
    agentHeaders_ = basic("watcher", "watch-pw");
    std::vector<std::string> args{"--credentials", accepted, "--http-credentials-file", usersFile_};
    args.insert(args.end(), moreMasterArgs.begin(), moreMasterArgs.end());
    startCluster(net, agents, std::move(args));
  }

  std::string usersFile_;
};

}  // namespace corral::it

#include "cli/up_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core_cluster/auth/credentials.h"

namespace corral::cli {

namespace {

// The file's first line, when the file exists and only its owner can read it.
std::string readSecretLine(const std::string& path) {
  auto text = auth::readSecretFile(path);
  if (!text.ok()) return "";
  std::string line = text->substr(0, text->find('\n'));
  return line;
}

Status writeSecret(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return makeError(ErrorKind::kUnavailable, "cannot write " + path + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  ssize_t n = ::write(fd, text.data(), text.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(text.size()))
    return makeError(ErrorKind::kUnavailable, "cannot write " + path);
  return Status::Ok();
}

// A password: 128 random bits, hex.
std::string newSecret() { return auth::randomToken().substr(0, 32); }

// "<user>:<password>" from the file, or a new one written there.
Result<std::string> userLine(const std::string& path, const std::string& user) {
  std::string line = readSecretLine(path);
  if (line.rfind(user + ":", 0) == 0 && line.size() > user.size() + 1) return line;
  line = user + ":" + newSecret();
  if (Status st = writeSecret(path, line + "\n"); !st.ok()) return st.error();
  return line;
}

}  // namespace

std::string upAdminFile(const std::string& workDir) { return workDir + "/credentials/admin"; }

Result<UpCredentials> ensureUpCredentials(const std::string& workDir) {
  std::string dir = workDir + "/credentials";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return makeError(ErrorKind::kUnavailable, "cannot create " + dir + ": " + std::strerror(errno));
  }
  ::chmod(dir.c_str(), 0700);
  UpCredentials c;
  c.agentFile = dir + "/agent";
  c.apiUsersFile = dir + "/api-users";
  c.adminFile = upAdminFile(workDir);
  c.viewerFile = dir + "/viewer";
  auto agent = auth::parseCredential(readSecretLine(c.agentFile));
  if (!agent.ok()) {
    if (Status st = writeSecret(c.agentFile, "agent " + newSecret() + "\n"); !st.ok()) {
      return st.error();
    }
  }
  auto admin = userLine(c.adminFile, "admin");
  if (!admin.ok()) return admin.error();
  auto viewer = userLine(c.viewerFile, "viewer");
  if (!viewer.ok()) return viewer.error();
  if (Status st = writeSecret(c.apiUsersFile, "admin " + *admin + "\nviewer " + *viewer + "\n");
      !st.ok()) {
    return st.error();
  }
  c.adminUser = "admin";
  c.adminPassword = admin->substr(6);
  return c;
}

}  // namespace corral::cli

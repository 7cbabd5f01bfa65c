// The credentials `corral up` wires its parts with, kept in <work-dir>/credentials/
// (mode 700, files 600) and reused by later runs on the same work dir, so the
// printed `curl -u` lines and saved scripts keep working.
#pragma once

#include <string>

#include "base/result.h"

namespace corral::cli {

struct UpCredentials {
  std::string
      agentFile;  // "agent <secret>": the agents' --credential and the master's --credentials
  std::string apiUsersFile;  // the master's --http-credentials-file: an admin and a viewer
  std::string adminFile;     // "admin:<password>": up itself and the CLI client
  std::string viewerFile;    // "viewer:<password>": corral dns and corral proxy (they only read)
  std::string adminUser;
  std::string adminPassword;
};

// Reads the credentials of <work-dir>/credentials, generating those missing.
Result<UpCredentials> ensureUpCredentials(const std::string& workDir);

// Where a `corral up` on `workDir` keeps its admin's "user:password" file.
std::string upAdminFile(const std::string& workDir);

}  // namespace corral::cli

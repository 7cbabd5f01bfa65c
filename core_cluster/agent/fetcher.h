// The Mesos fetcher's job, blocking: put a task's URIs into its sandbox before it starts.
// Every function here blocks (disk, network, child processes): run it off the loop
// (TaskRunner does so with uv_queue_work).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "core_cluster/agent/task_types.h"
#include "core_cluster/agent/task_user.h"

namespace corral::agent {

// Fetches each URI in order into `sandbox` (an existing directory). Stops at the first failure,
// whose message names the URI and the reason.
// readAs: local sources must be readable by this user (see userMayRead);
// null: the agent's own user, no check.
Status fetchAll(const std::vector<FetchUri>& uris, const std::string& sandbox,
                double httpTimeoutSeconds = 60, const TaskUser* readAs = nullptr);

// One URI: an absolute local path or file:// URI is copied (directories recursively); http:// is
// downloaded (HTTP/1.1 GET, redirects not followed, only 200 accepted); archives are extracted
// into the sandbox when `extract` is set and `executable` is not; `executable` sets mode 0755.
Status fetchOne(const FetchUri& uri, const std::string& sandbox, double httpTimeoutSeconds = 60,
                const TaskUser* readAs = nullptr);

// Blocking HTTP/1.1 GET of an http:// URL into destFile (created or truncated).
// The timeout applies to connect and to each read/write.
Status httpGetToFile(const std::string& url, const std::string& destFile, double timeoutSeconds);

// True for names ending in .tar, .tar.gz, .tgz, .tar.bz2, .tbz2, .tar.xz, .txz or .zip.
bool isArchive(std::string_view fileName);

// A relative path that stays inside its base: not absolute, no "..", not empty.
bool isSafeRelativePath(std::string_view path);

}  // namespace corral::agent

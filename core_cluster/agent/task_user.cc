#include "core_cluster/agent/task_user.h"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include <fmt/core.h>

namespace corral::agent {
namespace fs = std::filesystem;

Result<TaskUser> lookupUser(const std::string& name) {
  if (name.empty()) return makeError(ErrorKind::kInvalid, "empty user name", "/user");
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 4096);
  for (;;) {
    passwd pw{};
    passwd* found = nullptr;
    int rc = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc == ERANGE && buf.size() < (1u << 20)) {
      buf.resize(buf.size() * 2);
      continue;
    }
    if (rc != 0) {
      return makeError(ErrorKind::kUnavailable,
                       fmt::format("cannot look up user '{}': {}", name, std::strerror(rc)),
                       "/user");
    }
    if (found == nullptr) {
      return makeError(ErrorKind::kNotFound,
                       fmt::format("user '{}' does not exist on this agent", name), "/user");
    }
    return TaskUser{name, pw.pw_uid, pw.pw_gid, pw.pw_dir != nullptr ? pw.pw_dir : "/"};
  }
}

std::string currentUserName() {
  long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(hint > 0 ? static_cast<size_t>(hint) : 4096);
  passwd pw{};
  passwd* found = nullptr;
  uid_t uid = geteuid();
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr) {
    return pw.pw_name;
  }
  return fmt::format("uid {}", uid);
}

Result<std::optional<TaskUser>> resolveTaskUser(const std::string& requested,
                                                const RunAsPolicy& policy) {
  if (!policy.switchUser) {
    if (requested.empty()) return std::optional<TaskUser>{};
    std::string self = currentUserName();
    if (requested == self) return std::optional<TaskUser>{};
    return makeError(ErrorKind::kInvalid,
                     fmt::format("the app asks for user '{}' but this agent runs as '{}' (not "
                                 "root) and can only run tasks as itself",
                                 requested, self),
                     "/user");
  }
  auto user = lookupUser(requested.empty() ? policy.defaultUser : requested);
  if (!user.ok()) return user.error();
  return std::optional<TaskUser>{std::move(*user)};
}

Status chownTree(const std::string& path, const TaskUser& user) {
  if (lchown(path.c_str(), user.uid, user.gid) != 0) {
    return makeError(ErrorKind::kInternal, fmt::format("cannot give {} to user '{}': {}", path,
                                                       user.name, std::strerror(errno)));
  }
  std::error_code ec;
  fs::recursive_directory_iterator it(path, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const std::string entry = it->path().string();
    struct stat st {};
    if (lstat(entry.c_str(), &st) != 0) continue;
    // Unpacked as root, an archive could hold device nodes (a raw disk for
    // the task's user) or set-id programs.
    if (S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)) {
      return makeError(ErrorKind::kInvalid,
                       fmt::format("{} is a device file: not allowed in a sandbox", entry));
    }
    if (lchown(entry.c_str(), user.uid, user.gid) != 0 ||
        (S_ISREG(st.st_mode) && (st.st_mode & (S_ISUID | S_ISGID)) != 0 &&
         chmod(entry.c_str(), st.st_mode & 0777) != 0)) {
      return makeError(ErrorKind::kInternal, fmt::format("cannot give {} to user '{}': {}", entry,
                                                         user.name, std::strerror(errno)));
    }
  }
  if (ec) {
    return makeError(ErrorKind::kInternal, fmt::format("cannot walk {}: {}", path, ec.message()));
  }
  return Status::Ok();
}

namespace {

// May `u` (with its supplementary groups) do `want` (4 read, 1 search) on `st`?
bool permitted(const struct stat& st, const TaskUser& u, const std::vector<gid_t>& groups,
               unsigned want) {
  if (u.uid == 0) return true;
  unsigned bits;
  if (st.st_uid == u.uid) {
    bits = (st.st_mode >> 6) & 7;
  } else if (std::find(groups.begin(), groups.end(), st.st_gid) != groups.end()) {
    bits = (st.st_mode >> 3) & 7;
  } else {
    bits = st.st_mode & 7;
  }
  return (bits & want) == want;
}

}  // namespace

Status userMayRead(const std::string& path, const TaskUser& user) {
  int n = 32;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  while (getgrouplist(user.name.c_str(), user.gid, groups.data(), &n) < 0) {
    groups.resize(static_cast<size_t>(n));
  }
  groups.resize(static_cast<size_t>(n));
  auto denied = [&](const std::string& what) {
    return makeError(ErrorKind::kInvalid,
                     fmt::format("user '{}' may not read {}", user.name, what));
  };
  std::error_code ec;
  fs::path real = fs::canonical(path, ec);
  if (ec) return Status::Ok();  // the fetch itself reports a missing source
  for (fs::path dir = real.parent_path();; dir = dir.parent_path()) {
    struct stat st {};
    if (stat(dir.c_str(), &st) != 0 || !permitted(st, user, groups, 1)) {
      return denied(dir.string());
    }
    if (dir == dir.root_path()) break;
  }
  auto check = [&](const fs::path& p) {
    struct stat st {};  // through symlinks: what a copy would read
    if (stat(p.c_str(), &st) != 0) return true;
    return permitted(st, user, groups, S_ISDIR(st.st_mode) ? 5 : 4);
  };
  if (!check(real)) return denied(real.string());
  if (fs::is_directory(real, ec)) {
    fs::recursive_directory_iterator it(real, fs::directory_options::none, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (!check(it->path())) return denied(it->path().string());
    }
  }
  return Status::Ok();
}

std::string makeTraversable(const std::string& dir) {
  std::error_code ec;
  fs::path p = fs::absolute(dir, ec);
  if (ec) return "";
  std::string changed;
  uid_t self = geteuid();
  for (; !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH) == 0 &&
        st.st_uid == self && chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH) == 0) {
      changed += (changed.empty() ? "" : ", ") + p.string();
    }
    if (p == p.root_path()) break;
  }
  return changed;
}

}  // namespace corral::agent

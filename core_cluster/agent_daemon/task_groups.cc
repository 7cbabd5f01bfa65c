#include "core_cluster/agent_daemon/task_groups.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "core_cluster/agent/process_info.h"

namespace corral::agent {

namespace fs = std::filesystem;

void TaskGroupRecord::add(const std::string& taskId, pid_t pgid) {
  auto st = readProcessStat(pgid);
  if (!st) return;
  groups_[taskId] = Group{pgid, st->startTime};
  save();
}

void TaskGroupRecord::remove(const std::string& taskId) {
  if (groups_.erase(taskId) > 0) save();
}

// Not fsynced: the record is about running processes, which a power loss
// ends anyway; a rename keeps it whole across an agent crash.
void TaskGroupRecord::save() const {
  std::string tmp = path_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const auto& [id, g] : groups_) out << id << ' ' << g.pgid << ' ' << g.startTime << '\n';
    if (!out) {
      log::warn("cannot write {}: tasks of this agent may outlive a crash of it", tmp);
      return;
    }
  }
  std::error_code ec;
  fs::rename(tmp, path_, ec);
  if (ec) log::warn("cannot rename {} to {}: {}", tmp, path_, ec.message());
}

int killLeftoverTasks(const std::string& recordPath, const std::string& sandboxRoot) {
  int killed = 0;
  std::ifstream in(recordPath);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string taskId;
    long long pgid = 0;
    unsigned long long start = 0;
    if (!(fields >> taskId >> pgid >> start) || pgid <= 1) continue;
    if (!isSameProcess(static_cast<pid_t>(pgid), start)) continue;
    log::warn("task {} (process group {}) was left running by a previous agent: killing it", taskId,
              pgid);
    if (::kill(-static_cast<pid_t>(pgid), SIGKILL) == 0) ++killed;
  }
  in.close();
  std::error_code ec;
  fs::remove(recordPath, ec);

  // Children that outlived their task's leader still run in its sandbox.
  fs::path root = fs::canonical(sandboxRoot, ec);
  if (ec) return killed;
  std::string prefix = root.string() + "/";
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (pid == getpid()) continue;
    std::error_code lec;
    fs::path cwd = fs::read_symlink(entry.path() / "cwd", lec);
    if (lec || cwd.string().rfind(prefix, 0) != 0) continue;
    pid_t pgid = getpgid(pid);
    if (pgid > 1 && pgid != getpgrp()) ::kill(-pgid, SIGKILL);
    ::kill(pid, SIGKILL);
    ++killed;
  }
  if (killed > 0) log::warn("killed {} task process(es) left by a previous agent", killed);
  return killed;
}

}  // namespace corral::agent

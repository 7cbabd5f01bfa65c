// The process groups of an agent's running tasks, recorded in its work dir
// (one "task-id pgid start-time" line each), so that an agent started again on
// the same work dir after a crash or `kill -9` stops what its predecessor left
// running. A group is only killed while its leader is the recorded process
// (same pid and start time): a reused pid is never signalled.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>

namespace corral::agent {

class TaskGroupRecord {
 public:
  explicit TaskGroupRecord(std::string path) : path_(std::move(path)) {}
  // The task's process group (led by `pgid`) runs; a pid that is gone already is not recorded.
  void add(const std::string& taskId, pid_t pgid);
  void remove(const std::string& taskId);
  size_t size() const { return groups_.size(); }

 private:
  struct Group {
    pid_t pgid = 0;
    uint64_t startTime = 0;
  };
  void save() const;

  std::string path_;
  std::map<std::string, Group> groups_;
};

// SIGKILLs the task process groups recorded in `recordPath` whose leader is
// still the recorded process, and every process whose working directory is
// under `sandboxRoot` (a task's child that outlived its leader), then empties
// the record. Returns how many processes or groups were killed.
int killLeftoverTasks(const std::string& recordPath, const std::string& sandboxRoot);

}  // namespace corral::agent

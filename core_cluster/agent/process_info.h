// What /proc says about a process: its group, session and start time. A pid
// alone does not name a process (the kernel reuses pids); a pid with its start
// time does, so records of processes to stop later keep both.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace corral::agent {

struct ProcessStat {
  pid_t pid = 0;
  char state = '?';  // 'R', 'S', 'Z' (zombie: exited, not yet reaped), ...
  pid_t ppid = 0;
  pid_t pgid = 0;
  pid_t sid = 0;
  uint64_t startTime = 0;  // clock ticks after boot (field 22 of /proc/<pid>/stat)
};

// Parses the text of /proc/<pid>/stat (socket-free, for tests); nullopt if malformed.
std::optional<ProcessStat> parseProcessStat(const std::string& text);
// nullopt when the process does not exist (or /proc cannot be read).
std::optional<ProcessStat> readProcessStat(pid_t pid);
// True when `pid` still runs (not a zombie) and started at `startTime`:
// a process that reused the pid does not match.
bool isSameProcess(pid_t pid, uint64_t startTime);

}  // namespace corral::agent

#include "core_cluster/agent/process_info.h"

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace corral::agent {

std::optional<ProcessStat> parseProcessStat(const std::string& text) {
  // "pid (comm) state ppid pgrp session ... starttime ...": comm may hold
  // spaces and parentheses, so the fields start after the last ')'.
  size_t open = text.find(" (");
  size_t close = text.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close < open) return std::nullopt;
  std::istringstream rest(text.substr(close + 1));
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  std::string f;
  while (fields.size() < 20 && rest >> f) fields.push_back(f);
  if (fields.size() < 20 || fields[0].size() != 1) return std::nullopt;
  auto num = [](const std::string& s, long long* out) {
    char* end = nullptr;
    *out = std::strtoll(s.c_str(), &end, 10);
    return !s.empty() && end != nullptr && *end == '\0';
  };
  long long pid, ppid, pgid, sid, start;
  if (!num(text.substr(0, open), &pid) || !num(fields[1], &ppid) || !num(fields[2], &pgid) ||
      !num(fields[3], &sid) || !num(fields[19], &start) || pid <= 0 || start < 0) {
    return std::nullopt;
  }
  ProcessStat st;
  st.pid = static_cast<pid_t>(pid);
  st.state = fields[0][0];
  st.ppid = static_cast<pid_t>(ppid);
  st.pgid = static_cast<pid_t>(pgid);
  st.sid = static_cast<pid_t>(sid);
  st.startTime = static_cast<uint64_t>(start);
  return st;
}

std::optional<ProcessStat> readProcessStat(pid_t pid) {
  if (pid <= 0) return std::nullopt;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!in || !std::getline(in, text)) return std::nullopt;
  return parseProcessStat(text);
}

bool isSameProcess(pid_t pid, uint64_t startTime) {
  auto st = readProcessStat(pid);
  return st && st->state != 'Z' && st->startTime == startTime;
}

}  // namespace corral::agent

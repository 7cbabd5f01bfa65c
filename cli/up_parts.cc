#include "cli/up_parts.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "base/log.h"
#include "core_cluster/agent/process_info.h"

namespace corral::cli {

namespace fs = std::filesystem;
using agent::isSameProcess;

uint64_t nextRestartDelay(uint64_t previousMs, uint64_t ranMs) {
  if (previousMs == 0 || ranMs >= kStableRunMs) return kRestartFirstMs;
  return std::min(previousMs * 2, kRestartMaxMs);
}

uint64_t steadyNowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

Status startPart(Part& part) {
  std::error_code ec;
  auto size = fs::file_size(part.logFile, ec);
  part.logOffset = ec ? 0 : size;
  std::vector<char*> args;
  for (const auto& a : part.argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0)
    return makeError(ErrorKind::kUnavailable,
                     "cannot start " + part.name + ": fork: " + std::strerror(errno));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);  // `up` died before the line above took effect
    setpgid(0, 0);
    int fd = open(part.logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
      close(fd);
    }
    execv(args[0], args.data());
    _exit(127);
  }
  part.pid = pid;
  auto st = agent::readProcessStat(pid);
  part.startTime = st ? st->startTime : 0;
  part.startedAtMs = steadyNowMs();
  part.restartAtMs = 0;
  return Status::Ok();
}

std::string lastLogLine(const Part& part) {
  std::ifstream in(part.logFile, std::ios::binary);
  if (!in) return "";
  in.seekg(0, std::ios::end);
  auto end = static_cast<uint64_t>(in.tellg());
  constexpr uint64_t kTail = 64 * 1024;
  uint64_t from = std::max(part.logOffset, end > kTail ? end - kTail : 0);
  if (from > end) from = 0;  // the log was truncated or replaced
  in.seekg(static_cast<std::streamoff>(from));
  std::string line, last, lastError;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    last = line;
    // Log lines are "<time> <level> <message>".
    if (line.find(" error ") != std::string::npos || line.find(" critical ") != std::string::npos) {
      lastError = line;
    }
  }
  std::string out = lastError.empty() ? last : lastError;
  if (out.size() > 300) out = out.substr(0, 300) + "...";
  return out;
}

Status lockWorkDir(const std::string& workDir) {
  std::string path = workDir + "/up.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return makeError(ErrorKind::kUnavailable, "cannot open " + path + ": " + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    pid.erase(std::remove(pid.begin(), pid.end(), '\n'), pid.end());
    if (err != EWOULDBLOCK)
      return makeError(ErrorKind::kUnavailable, "cannot lock " + path + ": " + std::strerror(err));
    return makeError(ErrorKind::kConflict,
                     "another corral up" + (pid.empty() ? "" : " (pid " + pid + ")") +
                         " is running on the work dir " + workDir + ": stop it first" +
                         (pid.empty() ? "" : " (kill " + pid + ")") +
                         ", or pass another --work-dir");
  }
  std::string self = std::to_string(getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, self.data(), self.size(), 0) < 0) {
    log::warn("cannot write {}: {}", path, std::strerror(errno));
  }
  return Status::Ok();  // fd stays open: the lock lasts as long as this process
}

void recordParts(const std::string& workDir, const std::vector<Part>& parts) {
  std::string path = workDir + "/up.pids";
  {
    std::ofstream out(path + ".tmp", std::ios::trunc);
    for (const auto& p : parts) {
      if (p.pid > 0) out << p.name << ' ' << p.pid << ' ' << p.startTime << '\n';
    }
    if (!out) {
      log::warn("cannot write {}.tmp: a later corral up could not stop these parts", path);
      return;
    }
  }
  std::error_code ec;
  fs::rename(path + ".tmp", path, ec);
  if (ec) log::warn("cannot rename {}.tmp to {}: {}", path, path, ec.message());
}

Status stopLeftovers(const std::string& workDir, uint64_t graceMs) {
  struct Leftover {
    std::string name;
    pid_t pid;
    uint64_t start;
  };
  std::vector<Leftover> left;
  std::ifstream in(workDir + "/up.pids");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream f(line);
    Leftover l;
    long long pid = 0;
    if (!(f >> l.name >> pid >> l.start) || pid <= 1) continue;
    l.pid = static_cast<pid_t>(pid);
    if (isSameProcess(l.pid, l.start)) left.push_back(l);
  }
  if (left.empty()) return Status::Ok();
  for (const auto& l : left) {
    log::warn("{} (pid {}) of an earlier corral up on {} is still running: stopping it", l.name,
              l.pid, workDir);
    if (::kill(l.pid, SIGTERM) != 0 && errno != ESRCH) {
      return makeError(ErrorKind::kConflict,
                       "cannot stop " + l.name + " (pid " + std::to_string(l.pid) +
                           ") of an earlier corral up on " + workDir + ": " + std::strerror(errno) +
                           "; stop it yourself (kill " + std::to_string(l.pid) +
                           ") and run corral up again");
    }
    ::kill(l.pid, SIGCONT);  // a stopped process acts on SIGTERM only once continued
  }
  auto anyLeft = [&] {
    return std::any_of(left.begin(), left.end(),
                       [](const Leftover& l) { return isSameProcess(l.pid, l.start); });
  };
  uint64_t deadline = steadyNowMs() + graceMs;
  while (anyLeft() && steadyNowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& l : left) {
    if (!isSameProcess(l.pid, l.start)) continue;
    log::warn("{} (pid {}) did not stop within {} s: SIGKILL", l.name, l.pid, graceMs / 1000);
    ::kill(l.pid, SIGKILL);
  }
  deadline = steadyNowMs() + 5000;
  while (anyLeft() && steadyNowMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  for (const auto& l : left) {
    if (isSameProcess(l.pid, l.start)) {
      return makeError(ErrorKind::kConflict,
                       l.name + " (pid " + std::to_string(l.pid) + ") of an earlier corral up on " +
                           workDir + " survived SIGKILL; stop it yourself and run corral up again");
    }
  }
  std::error_code ec;
  fs::remove(workDir + "/up.pids", ec);
  return Status::Ok();
}

Status checkAddressFree(const std::string& ip, int port, bool udp, const std::string& what,
                        const std::string& hint) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, ip.c_str(), &addr.sin_addr) != 1) {
    return makeError(ErrorKind::kInvalid, what + ": '" + ip + "' is not an IPv4 address");
  }
  int fd = ::socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return makeError(ErrorKind::kUnavailable, std::string("socket: ") + std::strerror(errno));
  int one = 1;
  // As the servers bind: a closed connection in TIME_WAIT does not count as in use.
  if (!udp) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int err = errno;
  ::close(fd);
  if (rc == 0) return Status::Ok();
  std::string where = ip + ":" + std::to_string(port) + (udp ? "/udp" : "");
  return makeError(ErrorKind::kConflict, what + " address " + where + " is in use (" +
                                             std::strerror(err) +
                                             "): is another corral up running? " + hint);
}

}  // namespace corral::cli

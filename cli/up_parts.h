// The parts `corral up` runs (master, agents, DNS) as child processes: how one
// is started so that it never outlives `up`, how `up` records them in its work
// dir so that a later `up` can stop what a killed one left behind, and how a
// part that keeps failing is restarted (with backoff, showing its last error).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace corral::cli {

struct Part {
  std::string name;
  std::vector<std::string> argv;
  std::string logFile;
  pid_t pid = -1;            // -1: not running (stopped, or waiting to be restarted)
  uint64_t startTime = 0;    // from /proc/<pid>/stat, to tell the process from a pid reuse
  uint64_t startedAtMs = 0;  // steady clock, for the backoff
  uint64_t logOffset = 0;    // size of the log when this run started
  uint64_t restartDelayMs = 0;
  uint64_t restartAtMs = 0;  // when pid is -1 and a restart is due
};

// Restart delays: doubled after each run shorter than kStableRunMs, up to kRestartMaxMs.
constexpr uint64_t kRestartFirstMs = 500;
constexpr uint64_t kRestartMaxMs = 30000;
constexpr uint64_t kStableRunMs = 10000;
// The delay before restarting a part that exited after running `ranMs`, its
// previous delay being `previousMs` (0 the first time).
uint64_t nextRestartDelay(uint64_t previousMs, uint64_t ranMs);

uint64_t steadyNowMs();

// Forks and execs the part with its stdout and stderr appended to its log. The
// child gets SIGTERM when `up` dies, however it dies (PR_SET_PDEATHSIG), and
// runs in its own process group (Ctrl-C goes to `up`, which stops the parts in
// order).
Status startPart(Part& part);

// The last error line the part wrote to its log in its current run (else its
// last line), for "exited (status 1): <line>".
std::string lastLogLine(const Part& part);

// <work-dir>/up.lock, held while a `corral up` runs on the work dir. Refuses
// with what to do when another live `corral up` holds it. The descriptor stays
// open (and the lock held) until the process exits.
Status lockWorkDir(const std::string& workDir);

// <work-dir>/up.pids: "name pid start-time" of each running part.
void recordParts(const std::string& workDir, const std::vector<Part>& parts);
// Stops (SIGTERM, SIGKILL after `graceMs`) the parts an earlier `corral up`
// on this work dir left running: only processes whose pid AND start time match
// the record, so a reused pid is never signalled. An error says what to do.
Status stopLeftovers(const std::string& workDir, uint64_t graceMs);

// Fails with "<what> <ip>:<port> is in use ..." when the address cannot be bound.
Status checkAddressFree(const std::string& ip, int port, bool udp, const std::string& what,
                        const std::string& hint);

}  // namespace corral::cli

// StateStore on local disk: an append-only log of committed batches plus a
// periodic snapshot, in one work directory owned by one process.
//
//   <dir>/LOCK          flock'ed while open; holds the owner's pid
//   <dir>/snapshot      full state, covering every log with seq <= coveredLogSeq
//   <dir>/log.000007    records committed after that, in order (see log_format.h)
//
// Each commit is one record followed by fdatasync. When the current log grows
// past maxLogBytes or maxLogRecords, the full state is written to
// snapshot.tmp (fsync), log.<seq+1> is created, snapshot.tmp is renamed over
// snapshot, the directory is fsynced and writing continues in the new log; old
// logs are then deleted. Every crash point leaves either the old snapshot with
// all logs it needs, or the new snapshot (plus possibly an empty new log).
//
// recover() replays snapshot + logs. A damaged tail of the newest log (a
// record cut short or with a bad checksum, with nothing valid after it) is the
// normal result of a crash mid-commit: it is truncated with one warning. Any
// other damage refuses to start, naming the file and offset.
//
// Methods are serialised by an internal mutex, so commits may run on a thread
// other than the event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "core_cluster/state/file_io.h"
#include "core_cluster/state/state_store.h"

namespace corral::state {

struct LogStateStoreOptions {
  // Snapshot and start a new log once the current one reaches either limit.
  uint64_t maxLogBytes = 8u << 20;
  uint64_t maxLogRecords = 100'000;
  // Largest record payload accepted, on commit and on recovery
  // (at most kMaxRecordBytesLimit, 256 MiB).
  uint32_t maxRecordBytes = 64u << 20;
};

class LogStateStore : public StateStore {
 public:
  using Options = LogStateStoreOptions;

  // Creates dir if needed and locks it. Fails if another process (or another
  // open store in this one) holds the lock. Call recover() before commit().
  static Result<std::unique_ptr<LogStateStore>> open(const std::string& dir, Options options = {});
  ~LogStateStore() override;

  Result<StateMap> recover() override;
  Status commit(const std::vector<Mutation>& batch) override;
  // All batches go into one record with one fdatasync: atomic as a group.
  Status commitMany(const std::vector<std::vector<Mutation>>& batches) override;

  // Writes a snapshot now and starts a new log.
  Status compact();

  struct Stats {
    uint64_t logSeq = 0;      // sequence of the log being appended to
    uint64_t logBytes = 0;    // its size
    uint64_t logRecords = 0;  // its record count
    uint64_t commits = 0;     // records written since open
    uint64_t snapshots = 0;   // snapshots written since open
    uint64_t tornBytesTruncated = 0;
  };
  Stats stats() const;
  const std::string& dir() const { return dir_; }

  static std::string logFileName(uint64_t seq);
  static constexpr const char* kSnapshotFile = "snapshot";
  static constexpr const char* kSnapshotTmpFile = "snapshot.tmp";
  static constexpr const char* kLockFile = "LOCK";

 private:
  LogStateStore(std::string dir, Options options, UniqueFd lock);

  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  Status usable() const;
  Result<StateMap> recoverLocked();
  Status replayLog(uint64_t seq, bool newest, bool& dirChanged);
  Status commitLocked(const std::vector<std::vector<Mutation>>& batches);
  Status compactLocked();
  void maybeCompactLocked();

  const std::string dir_;
  const Options options_;
  UniqueFd lock_;

  mutable std::mutex mu_;
  bool recovered_ = false;
  // Set after an fsync failure or an unknown on-disk state: every later commit
  // fails, because the page cache may no longer match the disk.
  std::optional<Error> failed_;
  StateMap state_;
  UniqueFd log_;
  Stats stats_;
  uint64_t compactRetryAtRecords_ = 0;
};

}  // namespace corral::state

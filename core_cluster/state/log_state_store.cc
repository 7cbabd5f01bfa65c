#include "core_cluster/state/log_state_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <vector>

#include <fmt/core.h>

#include "base/log.h"
#include "core_cluster/state/log_format.h"

namespace corral::state {
namespace {

constexpr const char* kLogPrefix = "log.";
// After a failed compaction, wait this many more records before retrying.
constexpr uint64_t kCompactRetryRecords = 64;

std::optional<uint64_t> parseLogSeq(std::string_view name) {
  std::string_view prefix = kLogPrefix;
  if (name.size() <= prefix.size() || name.substr(0, prefix.size()) != prefix) return std::nullopt;
  uint64_t seq = 0;
  for (char c : name.substr(prefix.size())) {
    if (c < '0' || c > '9' || seq > (UINT64_MAX - 9) / 10) return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

Result<std::vector<uint64_t>> listLogs(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return ioError("cannot list", dir, errno);
  std::vector<uint64_t> seqs;
  errno = 0;
  while (dirent* e = ::readdir(d)) {
    if (auto seq = parseLogSeq(e->d_name)) seqs.push_back(*seq);
  }
  int err = errno;
  ::closedir(d);
  if (err != 0) return ioError("cannot list", dir, err);
  std::sort(seqs.begin(), seqs.end());
  return seqs;
}

Status removeFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ioError("cannot remove", path, errno);
  return Status::Ok();
}

Error corruption(std::string message) {
  return makeError(ErrorKind::kInternal, std::move(message));
}

}  // namespace

std::string LogStateStore::logFileName(uint64_t seq) {
  return fmt::format("{}{:06}", kLogPrefix, seq);
}

LogStateStore::LogStateStore(std::string dir, Options options, UniqueFd lock)
    : dir_(std::move(dir)), options_(options), lock_(std::move(lock)) {}

LogStateStore::~LogStateStore() = default;

Result<std::unique_ptr<LogStateStore>> LogStateStore::open(const std::string& dir,
                                                           Options options) {
  if (dir.empty()) return makeError(ErrorKind::kInvalid, "state dir must not be empty");
  if (options.maxLogBytes == 0 || options.maxLogRecords == 0 ||
      options.maxRecordBytes < kMinPayloadBytes || options.maxRecordBytes > kMaxRecordBytesLimit) {
    return makeError(ErrorKind::kInvalid,
                     fmt::format("state store options: limits must be positive and "
                                 "maxRecordBytes at most {}",
                                 kMaxRecordBytesLimit));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return makeError(ErrorKind::kInternal,
                     fmt::format("cannot create state dir {}: {}", dir, ec.message()), dir);
  }
  std::string lockPath = dir + "/" + kLockFile;
  auto lock = openFile(lockPath, O_RDWR | O_CREAT);
  if (!lock.ok()) return lock.error();
  if (::flock(lock->get(), LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK) return ioError("cannot lock", lockPath, err);
    std::string holder;
    if (auto text = readWholeFile(lockPath); text.ok() && !text->empty()) {
      holder = fmt::format(" (held by pid {})", *text);
    }
    return makeError(ErrorKind::kConflict,
                     fmt::format("state dir {} is locked by another master{}; only one master "
                                 "may use a work dir",
                                 dir, holder),
                     dir);
  }
  // Best effort: record who holds the lock, for the message above.
  std::string pid = std::to_string(::getpid());
  if (::ftruncate(lock->get(), 0) == 0) (void)writeAllAt(lock->get(), pid, 0, lockPath);
  return std::unique_ptr<LogStateStore>(new LogStateStore(dir, options, std::move(*lock)));
}

LogStateStore::Stats LogStateStore::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Status LogStateStore::usable() const {
  if (failed_) {
    return makeError(ErrorKind::kInternal,
                     fmt::format("state store {} is unusable after an earlier I/O error ({}); "
                                 "restart to recover",
                                 dir_, failed_->message),
                     dir_);
  }
  if (!recovered_)
    return makeError(ErrorKind::kInternal, "state store: recover() must be called before commit");
  return Status::Ok();
}

Result<StateMap> LogStateStore::recover() {
  std::lock_guard<std::mutex> lock(mu_);
  if (recovered_) return state_;
  auto r = recoverLocked();
  if (r.ok()) recovered_ = true;
  return r;
}

Result<StateMap> LogStateStore::recoverLocked() {
  bool dirChanged = false;
  state_.clear();

  // A leftover snapshot.tmp is an unfinished compaction: the old snapshot and
  // logs are still complete.
  if (::access(path(kSnapshotTmpFile).c_str(), F_OK) == 0) {
    if (Status s = removeFile(path(kSnapshotTmpFile)); !s.ok()) return s.error();
    dirChanged = true;
  }

  uint64_t covered = 0;
  std::string snapshotPath = path(kSnapshotFile);
  if (::access(snapshotPath.c_str(), F_OK) == 0) {
    auto bytes = readWholeFile(snapshotPath);
    if (!bytes.ok()) return bytes.error();
    // The snapshot was fsynced before it got its name: any damage is real.
    auto rec = decodeRecord(*bytes, 0, UINT32_MAX);
    if (rec.status != RecordStatus::kOk || rec.next != bytes->size()) {
      return corruption(
          fmt::format("corrupt snapshot {} at offset 0: {}; refusing to start", snapshotPath,
                      rec.status == RecordStatus::kOk ? "trailing bytes" : describe(rec.status)));
    }
    auto snap = decodeSnapshotPayload(rec.payload);
    if (!snap.ok()) {
      return corruption(fmt::format("corrupt snapshot {}: {}; refusing to start", snapshotPath,
                                    snap.error().message));
    }
    covered = snap->coveredLogSeq;
    state_ = std::move(snap->state);
  } else if (errno != ENOENT) {
    return ioError("cannot access", snapshotPath, errno);
  }

  auto logs = listLogs(dir_);
  if (!logs.ok()) return logs.error();
  std::vector<uint64_t> live;
  for (uint64_t seq : *logs) {
    if (seq <= covered) {
      // Folded into the snapshot; left behind by a crash after compaction.
      if (Status s = removeFile(path(logFileName(seq))); !s.ok()) return s.error();
      dirChanged = true;
    } else {
      live.push_back(seq);
    }
  }
  for (size_t i = 0; i < live.size(); ++i) {
    if (live[i] != covered + 1 + i) {
      return corruption(fmt::format(
          "state dir {}: {} is missing (snapshot covers logs up to {}, found {}); refusing to "
          "start",
          dir_, logFileName(covered + 1 + i), covered, logFileName(live[i])));
    }
  }

  stats_ = Stats{};
  for (size_t i = 0; i < live.size(); ++i) {
    if (Status s = replayLog(live[i], i + 1 == live.size(), dirChanged); !s.ok()) {
      log_.reset();
      state_.clear();
      return s.error();
    }
  }
  if (live.empty()) {
    uint64_t seq = covered + 1;
    auto fd = openFile(path(logFileName(seq)), O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.error();
    log_ = std::move(*fd);
    stats_.logSeq = seq;
    dirChanged = true;
  }
  if (dirChanged) {
    if (Status s = syncDir(dir_); !s.ok()) return s.error();
  }
  log::info("state: recovered {} keys from {} (log {}, {} records)", state_.size(), dir_,
            logFileName(stats_.logSeq), stats_.logRecords);
  return state_;
}

Status LogStateStore::replayLog(uint64_t seq, bool newest, bool& dirChanged) {
  std::string file = path(logFileName(seq));
  auto bytes = readWholeFile(file);
  if (!bytes.ok()) return bytes.error();
  std::string_view data = *bytes;
  size_t offset = 0;
  uint64_t records = 0;
  for (;;) {
    auto rec = decodeRecord(data, offset, options_.maxRecordBytes);
    if (rec.status == RecordStatus::kEnd) break;
    if (rec.status != RecordStatus::kOk) {
      auto later = findValidRecord(data, offset + 1, options_.maxRecordBytes);
      if (!newest || later) {
        return corruption(fmt::format(
            "corrupt state log {} at offset {}: {}, {}; refusing to start (restore the work dir "
            "or remove the damaged file by hand)",
            file, offset, describe(rec.status),
            later ? fmt::format("valid records follow at offset {}", *later)
                  : std::string("and it is not the newest log")));
      }
      // A crash during the last commit: that commit was never acknowledged.
      size_t dropped = data.size() - offset;
      log::warn("state: truncating torn tail of {} at offset {} ({}, {} bytes dropped)", file,
                offset, describe(rec.status), dropped);
      auto fd = openFile(file, O_WRONLY);
      if (!fd.ok()) return fd.error();
      if (::ftruncate(fd->get(), static_cast<off_t>(offset)) != 0) {
        return ioError("cannot truncate", file, errno);
      }
      if (Status s = syncData(fd->get(), file); !s.ok()) return s;
      stats_.tornBytesTruncated += dropped;
      dirChanged = true;
      break;
    }
    auto batch = decodeBatchPayload(rec.payload);
    if (!batch.ok()) {
      return corruption(fmt::format("corrupt state log {} at offset {}: {}; refusing to start",
                                    file, offset, batch.error().message));
    }
    applyBatch(state_, *batch);
    offset = rec.next;
    ++records;
  }
  if (newest) {
    auto fd = openFile(file, O_WRONLY);
    if (!fd.ok()) return fd.error();
    log_ = std::move(*fd);
    stats_.logSeq = seq;
    stats_.logBytes = offset;
    stats_.logRecords = records;
  }
  return Status::Ok();
}

Status LogStateStore::commit(const std::vector<Mutation>& batch) {
  std::lock_guard<std::mutex> lock(mu_);
  return commitLocked({batch});
}

Status LogStateStore::commitMany(const std::vector<std::vector<Mutation>>& batches) {
  std::lock_guard<std::mutex> lock(mu_);
  return commitLocked(batches);
}

Status LogStateStore::commitLocked(const std::vector<std::vector<Mutation>>& batches) {
  if (Status s = usable(); !s.ok()) return s;
  size_t ops = 0;
  for (const auto& batch : batches) {
    if (Status s = validateBatch(batch); !s.ok()) return s;
    ops += batch.size();
  }
  if (ops == 0) return Status::Ok();

  std::string payload = encodeBatchPayload(batches);
  if (payload.size() > options_.maxRecordBytes) {
    return makeError(ErrorKind::kInvalid,
                     fmt::format("state commit of {} bytes exceeds the {} byte limit",
                                 payload.size(), options_.maxRecordBytes));
  }
  std::string record;
  record.reserve(kRecordHeaderBytes + payload.size());
  appendRecord(record, payload);

  std::string file = path(logFileName(stats_.logSeq));
  off_t at = static_cast<off_t>(stats_.logBytes);
  if (Status s = writeAllAt(log_.get(), record, at, file); !s.ok()) {
    // E.g. ENOSPC: take back any partial write so the next record starts clean.
    if (::ftruncate(log_.get(), at) != 0) failed_ = s.error();
    return s;
  }
  if (Status s = syncData(log_.get(), file); !s.ok()) {
    log::error("state: {}", s.error().message);
    failed_ = s.error();
    return s;
  }
  stats_.logBytes += record.size();
  ++stats_.logRecords;
  ++stats_.commits;
  for (const auto& batch : batches) applyBatch(state_, batch);
  maybeCompactLocked();
  return Status::Ok();
}

void LogStateStore::maybeCompactLocked() {
  if (stats_.logBytes < options_.maxLogBytes && stats_.logRecords < options_.maxLogRecords) return;
  if (stats_.logRecords < compactRetryAtRecords_) return;
  // The commit that got us here is already durable; a failed compaction only
  // delays the next attempt.
  if (Status s = compactLocked(); !s.ok()) {
    log::warn("state: compaction failed, will retry: {}", s.error().message);
    compactRetryAtRecords_ = stats_.logRecords + kCompactRetryRecords;
  }
}

Status LogStateStore::compact() {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status s = usable(); !s.ok()) return s;
  return compactLocked();
}

Status LogStateStore::compactLocked() {
  const uint64_t seq = stats_.logSeq;
  const uint64_t nextSeq = seq + 1;
  std::string tmpPath = path(kSnapshotTmpFile);
  std::string record;
  appendRecord(record, encodeSnapshotPayload(seq, state_));
  {
    auto fd = openFile(tmpPath, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.error();
    Status s = writeAllAt(fd->get(), record, 0, tmpPath);
    if (s.ok()) s = syncFile(fd->get(), tmpPath);
    if (!s.ok()) {
      (void)removeFile(tmpPath);
      return s;
    }
  }
  // Nothing is ever written to the new log before the rename below is durable,
  // so a leftover empty log.<nextSeq> from a failed attempt is harmless.
  std::string nextPath = path(logFileName(nextSeq));
  auto next = openFile(nextPath, O_WRONLY | O_CREAT | O_TRUNC);
  if (!next.ok()) {
    (void)removeFile(tmpPath);
    return next.error();
  }
  if (::rename(tmpPath.c_str(), path(kSnapshotFile).c_str()) != 0) {
    Error e = ioError("cannot rename snapshot in", dir_, errno);
    (void)removeFile(tmpPath);
    // We keep appending to the old log, so it must stay the newest one.
    (void)removeFile(nextPath);
    return e;
  }
  // From here the snapshot may be on disk, so the old log is closed for good.
  log_ = std::move(*next);
  stats_.logSeq = nextSeq;
  stats_.logBytes = 0;
  stats_.logRecords = 0;
  compactRetryAtRecords_ = 0;
  if (Status s = syncDir(dir_); !s.ok()) {
    log::error("state: {}", s.error().message);
    failed_ = s.error();
    return s;
  }
  ++stats_.snapshots;
  for (uint64_t old = seq; old > 0; --old) {
    std::string oldPath = path(logFileName(old));
    if (::access(oldPath.c_str(), F_OK) != 0) break;
    if (Status s = removeFile(oldPath); !s.ok()) {
      log::warn("state: {}", s.error().message);  // removed again on the next recovery
      break;
    }
  }
  log::debug("state: snapshot of {} keys ({} bytes) covers {}", state_.size(), record.size(),
             logFileName(seq));
  return Status::Ok();
}

}  // namespace corral::state

// Small POSIX file helpers for the state store: an owning fd, full writes,
// whole-file reads and syncs. Errors name the path and the errno text.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/result.h"

namespace corral::state {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// An error (kind internal) "<what> <path>: <strerror(err)>".
Error ioError(std::string_view what, const std::string& path, int err);

Result<UniqueFd> openFile(const std::string& path, int flags, mode_t mode = 0644);
// Writes all of data at offset, retrying short writes and EINTR.
Status writeAllAt(int fd, std::string_view data, off_t offset, const std::string& path);
Result<std::string> readWholeFile(const std::string& path);
Status syncData(int fd, const std::string& path);  // fdatasync
Status syncFile(int fd, const std::string& path);  // fsync
// fsyncs a directory so that creations, renames and deletions in it are durable.
Status syncDir(const std::string& dir);
// Replaces the file at `path` with `data` so that a crash or power loss
// leaves the old content or the new, never a mix: writes <path>.tmp, fsyncs
// it, renames it over `path`, fsyncs the directory. On error the temporary
// file is removed and the error names the step and the path.
Status replaceFileDurably(const std::string& path, std::string_view data);

}  // namespace corral::state

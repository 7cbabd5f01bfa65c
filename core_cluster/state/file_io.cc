#include "core_cluster/state/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/core.h>

namespace corral::state {

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Error ioError(std::string_view what, const std::string& path, int err) {
  return makeError(ErrorKind::kInternal, fmt::format("{} {}: {}", what, path, std::strerror(err)),
                   path);
}

Result<UniqueFd> openFile(const std::string& path, int flags, mode_t mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ioError("cannot open", path, errno);
  return UniqueFd(fd);
}

Status writeAllAt(int fd, std::string_view data, off_t offset, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::pwrite(fd, data.data(), data.size(), offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot write", path, errno);
    }
    data.remove_prefix(static_cast<size_t>(n));
    offset += n;
  }
  return Status::Ok();
}

Result<std::string> readWholeFile(const std::string& path) {
  auto fd = openFile(path, O_RDONLY);
  if (!fd.ok()) return fd.error();
  std::string out;
  char buf[64 * 1024];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ioError("cannot read", path, errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status syncData(int fd, const std::string& path) {
  if (::fdatasync(fd) != 0) return ioError("fdatasync failed on", path, errno);
  return Status::Ok();
}

Status syncFile(int fd, const std::string& path) {
  if (::fsync(fd) != 0) return ioError("fsync failed on", path, errno);
  return Status::Ok();
}

Status syncDir(const std::string& dir) {
  auto fd = openFile(dir, O_RDONLY | O_DIRECTORY);
  if (!fd.ok()) return fd.error();
  return syncFile(fd->get(), dir);
}

Status replaceFileDurably(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp";
  Status written = [&]() -> Status {
    auto fd = openFile(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    if (!fd.ok()) return fd.error();
    if (Status st = writeAllAt(fd->get(), data, 0, tmp); !st.ok()) return st;
    return syncFile(fd->get(), tmp);
  }();
  if (written.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) {
    written = ioError("cannot rename " + tmp + " to", path, errno);
  }
  if (!written.ok()) {
    ::unlink(tmp.c_str());
    return written;
  }
  std::string dir = std::filesystem::path(path).parent_path().string();
  return syncDir(dir.empty() ? "." : dir);
}

}  // namespace corral::state

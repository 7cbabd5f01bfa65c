#include "core_cluster/agent/sandbox.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <fmt/core.h>

#include "core_cluster/agent/fetcher.h"

namespace corral::agent {

Result<SandboxChunk> readSandboxFile(const std::string& sandboxDir, const std::string& relativePath,
                                     std::optional<uint64_t> offset, size_t length) {
  if (!isSafeRelativePath(relativePath)) {
    return makeError(
        ErrorKind::kInvalid,
        fmt::format("bad sandbox path '{}': must be relative, without '..'", relativePath), "");
  }
  char rootBuf[PATH_MAX];
  char fileBuf[PATH_MAX];
  if (realpath(sandboxDir.c_str(), rootBuf) == nullptr) {
    return makeError(ErrorKind::kNotFound, fmt::format("sandbox {} is gone", sandboxDir), "");
  }
  std::string full = sandboxDir + "/" + relativePath;
  if (realpath(full.c_str(), fileBuf) == nullptr) {
    return makeError(ErrorKind::kNotFound, fmt::format("no file '{}' in the sandbox", relativePath),
                     "");
  }
  std::string root(rootBuf);
  std::string file(fileBuf);
  if (file.size() <= root.size() || file.compare(0, root.size(), root) != 0 ||
      file[root.size()] != '/') {
    return makeError(ErrorKind::kInvalid,
                     fmt::format("'{}' points outside the sandbox", relativePath), "");
  }
  int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return makeError(ErrorKind::kNotFound,
                     fmt::format("cannot open '{}': {}", relativePath, std::strerror(errno)), "");
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return makeError(ErrorKind::kInvalid, fmt::format("'{}' is not a regular file", relativePath),
                     "");
  }
  SandboxChunk chunk;
  chunk.size = static_cast<uint64_t>(st.st_size);
  length = std::min(length, kMaxSandboxRead);
  uint64_t start =
      offset ? std::min(*offset, chunk.size) : (chunk.size > length ? chunk.size - length : 0);
  chunk.offset = start;
  size_t want = static_cast<size_t>(std::min<uint64_t>(length, chunk.size - start));
  chunk.data.resize(want);
  size_t got = 0;
  while (got < want) {
    ssize_t n = pread(fd, chunk.data.data() + got, want - got, static_cast<off_t>(start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  chunk.data.resize(got);
  return chunk;
}

}  // namespace corral::agent

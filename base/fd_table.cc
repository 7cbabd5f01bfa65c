#include "base/fd_table.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace corral {

namespace {

int tableSize() {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return 0;
  char line[256];
  int size = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::strncmp(line, "FDSize:", 7) == 0) {
      size = std::atoi(line + 7);
      break;
    }
  }
  std::fclose(f);
  return size;
}

}  // namespace

int reserveDescriptorTable(int descriptors) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
    descriptors = static_cast<int>(std::min<rlim_t>(limit.rlim_cur, descriptors));
  }
  if (descriptors > tableSize()) {
    // A descriptor at the top slot makes the kernel size the table for it;
    // the table stays that size when the descriptor is closed.
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      int top = ::fcntl(fd, F_DUPFD_CLOEXEC, descriptors - 1);
      if (top >= 0) ::close(top);
      ::close(fd);
    }
  }
  return tableSize();
}

}  // namespace corral

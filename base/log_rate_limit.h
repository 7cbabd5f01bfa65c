// Bounds how many log lines a source can cause, so that a flood of bad
// requests cannot fill the disk: at most `perSourcePerSecond` lines a second
// for one source (a client address) and `totalPerSecond` for all of them
// together; what is held back is counted and said on the source's next line
// ("suppressed K"). Socket-free and clock-free (the caller passes the time).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace corral {

class LogRateLimiter {
 public:
  struct Limits {
    uint32_t perSourcePerSecond = 5;
    uint32_t totalPerSecond = 50;
    size_t maxSources = 4096;  // sources remembered; older windows are forgotten first
  };

  struct Verdict {
    bool emit = false;        // write this line
    uint64_t suppressed = 0;  // lines of this source held back since its last line
  };

  LogRateLimiter() : LogRateLimiter(Limits{}) {}
  explicit LogRateLimiter(Limits limits) : limits_(limits) {}

  Verdict admit(std::string_view source, uint64_t nowMs);
  size_t sourcesTracked() const { return sources_.size(); }

 private:
  struct Window {
    uint64_t second = 0;  // nowMs / 1000 of the window
    uint32_t lines = 0;   // lines emitted in it
    uint64_t suppressed = 0;
  };
  Window* windowOf(std::string_view source, uint64_t second);

  Limits limits_;
  std::unordered_map<std::string, Window> sources_;
  Window total_;
  Window overflow_;  // every source not remembered while the table is full
};

}  // namespace corral

#include "base/log_rate_limit.h"

namespace corral {

LogRateLimiter::Window* LogRateLimiter::windowOf(std::string_view source, uint64_t second) {
  if (auto it = sources_.find(std::string(source)); it != sources_.end()) return &it->second;
  if (sources_.size() >= limits_.maxSources) {
    // Forget the sources that have nothing held back and no line this second.
    std::erase_if(sources_, [second](const auto& kv) {
      return kv.second.second != second && kv.second.suppressed == 0;
    });
  }
  if (sources_.size() >= limits_.maxSources) return &overflow_;
  return &sources_.emplace(std::string(source), Window{second, 0, 0}).first->second;
}

LogRateLimiter::Verdict LogRateLimiter::admit(std::string_view source, uint64_t nowMs) {
  uint64_t second = nowMs / 1000;
  Window* w = windowOf(source, second);
  if (w->second != second) {
    w->second = second;
    w->lines = 0;
  }
  if (total_.second != second) {
    total_.second = second;
    total_.lines = 0;
  }
  if (w->lines >= limits_.perSourcePerSecond || total_.lines >= limits_.totalPerSecond) {
    ++w->suppressed;
    return {};
  }
  ++w->lines;
  ++total_.lines;
  Verdict v{true, w->suppressed};
  w->suppressed = 0;
  return v;
}

}  // namespace corral

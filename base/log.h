// One line per event. A thin facade so that only log.cc includes spdlog.
#pragma once

#include <fmt/core.h>

#include <string_view>

namespace corral::log {

enum class Level { kDebug, kInfo, kWarn, kError };

void write(Level level, std::string_view line);
void setLevel(Level level);
bool enabled(Level level);
// Prefix every line with a component name, e.g. "master" or "agent 127.0.0.2".
void setComponent(std::string_view name);

template <typename... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kDebug)) write(Level::kDebug, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kInfo)) write(Level::kInfo, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void warn(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kWarn)) write(Level::kWarn, fmt::format(f, std::forward<Args>(args)...));
}
template <typename... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  if (enabled(Level::kError)) write(Level::kError, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace corral::log

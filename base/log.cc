#include "base/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <string>

namespace corral::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> l = [] {
    auto lg = spdlog::stderr_color_mt("corral");
    lg->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
    lg->set_level(spdlog::level::debug);
    lg->flush_on(spdlog::level::debug);
    if (const char* env = std::getenv("CORRAL_LOG")) {
      std::string v = env;
      if (v == "debug") g_level = static_cast<int>(Level::kDebug);
      if (v == "warn") g_level = static_cast<int>(Level::kWarn);
      if (v == "error") g_level = static_cast<int>(Level::kError);
    }
    return lg;
  }();
  return l;
}

std::mutex g_component_mu;
std::string g_component = "corral";

}  // namespace

void setLevel(Level level) { g_level = static_cast<int>(level); }
bool enabled(Level level) {
  (void)logger();
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}
void setComponent(std::string_view name) {
  std::lock_guard<std::mutex> lock(g_component_mu);
  g_component = name;
}

void write(Level level, std::string_view line) {
  std::string component;
  {
    std::lock_guard<std::mutex> lock(g_component_mu);
    component = g_component;
  }
  auto& l = logger();
  switch (level) {
    case Level::kDebug:
      l->debug("[{}] {}", component, line);
      break;
    case Level::kInfo:
      l->info("[{}] {}", component, line);
      break;
    case Level::kWarn:
      l->warn("[{}] {}", component, line);
      break;
    case Level::kError:
      l->error("[{}] {}", component, line);
      break;
  }
}

}  // namespace corral::log

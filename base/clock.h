// Wall-clock helpers: Marathon-style ISO-8601 timestamps.
#pragma once

#include <cstdint>
#include <string>

namespace corral {

// Milliseconds since the Unix epoch.
int64_t wallMs();
// "2026-11-25T22:59:00.123Z"
std::string isoTime(int64_t ms);
inline std::string isoNow() { return isoTime(wallMs()); }
// Parses isoTime() output (and without millis); -1 when malformed.
int64_t parseIsoTime(const std::string& text);

}  // namespace corral

// The lines of a credentials file that say something, shared by every
// credentials format (Mesos' `principal secret`, `user:password`, roles).
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace corral::auth {

// Without surrounding blanks (spaces, tabs, and the CR of a CRLF file).
inline std::string_view trimBlanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

struct ConfigLine {
  std::string_view text;  // trimmed
  size_t number;          // 1-based, for messages
};

// Every line of `text` but blank ones and `#` comments, in order.
inline std::vector<ConfigLine> configLines(std::string_view text) {
  std::vector<ConfigLine> out;
  size_t number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = trimBlanks(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    ++number;
    if (!line.empty() && line.front() != '#') out.push_back({line, number});
  }
  return out;
}

}  // namespace corral::auth

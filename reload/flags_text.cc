#include "reload/flags_text.h"

#include <sstream>

namespace corral::reload {
namespace {

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

}  // namespace

Result<std::vector<FlagsLine>> parseFlagsText(const std::string& text, const std::string& path) {
  std::vector<FlagsLine> out;
  std::istringstream in(text);
  std::string raw;
  int n = 0;
  while (std::getline(in, raw)) {
    ++n;
    std::string line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    std::string where = path + ":" + std::to_string(n) + ": ";
    if (line.rfind("--", 0) != 0 || line.size() == 2) {
      return makeError(ErrorKind::kInvalid,
                       where + "'" + line + "': expected a flag (--name=value or --name value)");
    }
    FlagsLine fl;
    fl.line = n;
    size_t space = line.find_first_of(" \t");
    size_t eq = line.find('=');
    if (space == std::string::npos || (eq != std::string::npos && eq < space)) {
      fl.tokens.push_back(line);
    } else {
      fl.tokens.push_back(line.substr(0, space));
      std::string value = trim(line.substr(space + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      fl.tokens.push_back(value);
    }
    out.push_back(std::move(fl));
  }
  return out;
}

}  // namespace corral::reload

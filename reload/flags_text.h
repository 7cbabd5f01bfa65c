// The text of a --flags-file (cli/flags_file.h): one flag per line,
// "--name=value" or "--name value"; blank lines and '#' comments skipped.
// Socket- and file-free: text in, lines of tokens or the first bad line out.
#pragma once

#include <string>
#include <vector>

#include "base/result.h"

namespace corral::reload {

struct FlagsLine {
  int line = 0;                     // 1-based
  std::vector<std::string> tokens;  // {"--name=value"} or {"--name", "value"}
};

// `path` only names the file in errors ("<path>:<line>: ...").
Result<std::vector<FlagsLine>> parseFlagsText(const std::string& text, const std::string& path);

}  // namespace corral::reload

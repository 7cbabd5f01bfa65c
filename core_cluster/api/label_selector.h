// Marathon's label selectors for GET /v2/apps?label=...: comma-separated
// requirements that all must hold, each one of
//   key                     the app has the label
//   key == value, key != value
//   key in (v1, v2), key notin (v1, v2)
// Every requirement, != and notin included, needs the label on the app: an
// app without it never matches (Marathon's semantics, unlike Kubernetes').
// Keys and values are runs of A-Za-z0-9 . _ -; any other character is written
// escaped with a backslash. Whitespace between tokens is ignored.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace corral::api {

struct LabelRequirement {
  enum class Op { kExists, kEquals, kNotEquals, kIn, kNotIn };
  std::string key;
  Op op = Op::kExists;
  std::vector<std::string> values;  // one for == and !=, the set for in/notin
};

struct LabelSelector {
  std::vector<LabelRequirement> requirements;
  bool matches(const std::map<std::string, std::string>& labels) const;
};

// Bytes in, selector or an error naming where the text stopped making sense.
Result<LabelSelector> parseLabelSelector(std::string_view text);

}  // namespace corral::api

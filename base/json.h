// JSON helpers over nlohmann::json. Parsing never throws past this boundary.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "base/result.h"

namespace corral {

using Json = nlohmann::json;

// Parses text; on failure the error names the byte offset and the reason.
Result<Json> parseJson(std::string_view text);

// "malformed JSON: <reason>" from the what() of a parser exception, without
// nlohmann's "[json.exception.parse_error.101] " tag.
std::string malformedJsonMessage(std::string_view what);

// Compact serialisation; invalid UTF-8 is replaced rather than throwing.
std::string dumpJson(const Json& value);

}  // namespace corral

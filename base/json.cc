#include "base/json.h"

#include <nlohmann/json.hpp>

namespace corral {

Result<Json> parseJson(std::string_view text) {
  Json out = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (out.is_discarded()) {
    // Re-parse with exceptions only to recover a precise position message.
    try {
      Json ignored = Json::parse(text);
      (void)ignored;
    } catch (const Json::parse_error& e) {
      std::string what = e.what();
      auto pos = what.find("] ");
      return makeError(
          "malformed JSON: " + (pos == std::string::npos ? what : what.substr(pos + 2)), "", 400);
    }
    return makeError("malformed JSON", "", 400);
  }
  return out;
}

std::string dumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace corral

#include "base/json.h"

#include <nlohmann/json.hpp>

namespace corral {

Result<Json> parseJson(std::string_view text) {
  // nlohmann reports most errors through exceptions (even some with
  // allow_exceptions=false, e.g. a number like 1e99999 is out_of_range), so
  // they are caught here, at the boundary, and become values.
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return makeError(ErrorKind::kInvalid, malformedJsonMessage(e.what()), "");
  } catch (const std::exception& e) {
    return makeError(ErrorKind::kInvalid, std::string("malformed JSON: ") + e.what(), "");
  }
}

std::string malformedJsonMessage(std::string_view what) {
  auto pos = what.find("] ");
  return "malformed JSON: " +
         std::string(pos == std::string_view::npos ? what : what.substr(pos + 2));
}

std::string dumpJson(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace corral

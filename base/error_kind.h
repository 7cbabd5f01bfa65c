// What kind of failure an Error is. Layers say what went wrong in these
// terms; only an edge turns a kind into its own vocabulary (the HTTP API into
// status codes), so no layer below it speaks HTTP.
#pragma once

#include <string_view>

namespace corral {

enum class ErrorKind {
  kInvalid,      // the input is wrong; retrying the same request fails again
  kNotFound,     // what the request names does not exist
  kConflict,     // it exists, or is locked by something in progress
  kUnavailable,  // not now (e.g. the change could not be made durable); retry later
  kInternal,     // a bug or an unexpected failure of ours
};

inline std::string_view toString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kInvalid:
      return "invalid";
    case ErrorKind::kNotFound:
      return "not found";
    case ErrorKind::kConflict:
      return "conflict";
    case ErrorKind::kUnavailable:
      return "unavailable";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "internal";
}

}  // namespace corral

// Errors are values: Result<T> holds either a T or an Error with a message a
// user can act on. No exceptions cross library boundaries on the data plane.
#pragma once

#include <string>
#include <utility>
#include <variant>

#include "base/error_kind.h"

namespace corral {

struct Error {
  std::string message;
  // Optional machine-readable location of the problem (e.g. "/healthChecks(0)/path").
  std::string path;
  // What kind of failure this is; only an edge (an HTTP endpoint, a command's
  // exit) turns it into its own vocabulary, so no layer below speaks HTTP.
  ErrorKind kind = ErrorKind::kInternal;
};

// Every error says what kind it is: there is deliberately no overload without one.
inline Error makeError(ErrorKind kind, std::string message, std::string path = {}) {
  return Error{std::move(message), std::move(path), kind};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return std::get<0>(v_); }
  const T& operator*() const& { return std::get<0>(v_); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), ok_(false) {}
  static Status Ok() { return Status(); }
  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace corral

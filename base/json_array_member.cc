#include "base/json_array_member.h"

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "base/json.h"

namespace corral {
namespace {

// nlohmann's SAX interface. Depth counts the open containers: 1 inside the
// root object, 2 inside the wanted array, 3 and more inside one element,
// which is built as a DOM (the stack holds its open containers).
class ArrayMemberReader {
 public:
  ArrayMemberReader(std::string_view key, const std::function<void(const Json&, size_t)>& onElement)
      : key_(key), onElement_(onElement) {}

  bool null() { return value(Json(nullptr)); }
  bool boolean(bool v) { return value(Json(v)); }
  bool number_integer(Json::number_integer_t v) { return value(Json(v)); }
  bool number_unsigned(Json::number_unsigned_t v) { return value(Json(v)); }
  bool number_float(Json::number_float_t v, const Json::string_t&) { return value(Json(v)); }
  bool string(Json::string_t& v) { return value(Json(std::move(v))); }
  bool binary(Json::binary_t& v) { return value(Json(Json::binary_t(std::move(v)))); }

  bool start_object(size_t) { return open(Json::value_t::object); }
  bool start_array(size_t) { return open(Json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }

  bool key(Json::string_t& k) {
    if (depth_ == 1) {
      wanted_ = !found_ && k == key_;
    } else if (inArray_) {
      pendingKey_ = std::move(k);
    }
    return true;
  }

  bool parse_error(size_t, const std::string&, const nlohmann::detail::exception& e) {
    error_ = malformedJsonMessage(e.what());
    return false;
  }

  // After a parse that returned true: the error of a well-formed text, if any.
  std::string finish() const {
    if (!error_.empty()) return error_;
    if (!found_) return quotedKey("expected an ", " array");
    return {};
  }
  const std::string& error() const { return error_; }

 private:
  bool fail(std::string message) {
    error_ = std::move(message);
    return false;
  }
  // Appended piece by piece: GCC 12 at -O3 warns (-Wrestrict, a false
  // positive) on "literal" + std::string temporaries here.
  std::string quotedKey(std::string_view before, std::string_view after) const {
    std::string out(before);
    out.append(1, '"').append(key_).append(1, '"').append(after);
    return out;
  }
  std::string notAnArray() const { return quotedKey("", ": expected an array"); }

  bool value(Json v) {
    if (depth_ == 0) return fail("expected a JSON object");
    if (!inArray_) {
      if (depth_ == 1 && wanted_) return fail(notAnArray());
      return true;  // a member we skip, or inside one
    }
    if (stack_.empty()) {
      onElement_(v, index_++);
    } else {
      add(std::move(v));
    }
    return true;
  }

  bool open(Json::value_t type) {
    if (depth_ == 0) {
      if (type != Json::value_t::object) return fail("expected a JSON object");
    } else if (depth_ == 1 && wanted_) {
      if (type != Json::value_t::array) return fail(notAnArray());
      inArray_ = true;
      found_ = true;
    } else if (inArray_) {
      if (stack_.empty()) {
        element_ = Json(type);
        stack_.push_back(&element_);
      } else {
        stack_.push_back(add(Json(type)));
      }
    }
    ++depth_;
    return true;
  }

  bool close() {
    --depth_;
    if (!inArray_) return true;
    if (depth_ == 1) {  // the wanted array ended
      inArray_ = false;
      wanted_ = false;
      return true;
    }
    stack_.pop_back();
    if (stack_.empty()) {
      onElement_(element_, index_++);
      element_ = Json();  // freed now: the next element reuses its memory
    }
    return true;
  }

  // Adds v to the innermost open container of the element; where it now lives.
  Json* add(Json v) {
    Json* parent = stack_.back();
    if (parent->is_array()) return &parent->emplace_back(std::move(v));
    Json& slot = (*parent)[pendingKey_];
    slot = std::move(v);
    return &slot;
  }

  std::string_view key_;
  const std::function<void(const Json&, size_t)>& onElement_;
  size_t depth_ = 0;
  bool wanted_ = false;   // the depth-1 member being read is the wanted one
  bool found_ = false;    // the wanted array was seen
  bool inArray_ = false;  // inside the wanted array
  size_t index_ = 0;
  Json element_;
  std::vector<Json*> stack_;
  std::string pendingKey_;
  std::string error_;
};

}  // namespace

Status forEachArrayElement(
    std::string_view text, std::string_view key,
    const std::function<void(const Json& element, size_t index)>& onElement) {
  ArrayMemberReader reader(key, onElement);
  try {
    bool ok = Json::sax_parse(text.begin(), text.end(), &reader);
    std::string error = ok ? reader.finish() : reader.error();
    if (error.empty() && !ok) error = "malformed JSON";
    if (!error.empty()) return makeError(ErrorKind::kInvalid, error);
  } catch (const Json::exception& e) {
    // Like parseJson: nlohmann throws a few errors even to a SAX reader.
    // (Anything else, the caller's own or bad_alloc, is not about the text.)
    return makeError(ErrorKind::kInvalid, malformedJsonMessage(e.what()));
  }
  return Status::Ok();
}

}  // namespace corral
